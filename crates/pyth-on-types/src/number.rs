//! Whole numbers as JSON Schema counts them: `8` and `8.0` are the same integer, so request
//! fields typed `integer` accept both (a fraction, a sign or a value out of range is still an
//! error). Use with `#[serde(deserialize_with = "...")]`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Error, Unexpected, Visitor};
use serde::Deserialize;

/// 2^64: the first float past `u64::MAX`.
const PAST_U64: f64 = 18_446_744_073_709_551_616.0;

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number in range")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))?;
        self.visit_u64(v)
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        if v.fract() == 0.0 && (0.0..PAST_U64).contains(&v) {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a whole number in 0..2^64, checked just above"
            )]
            let whole = v as u64;
            self.visit_u64(whole)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

/// A whole number, written with or without a zero fraction.
pub fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Whole(PhantomData))
}

struct Lenient<T>(T);

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        whole(d).map(Lenient)
    }
}

/// An optional whole number (`null` or absent is `None`).
pub fn optional_whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Lenient<T>>::deserialize(d)?.map(|l| l.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    #[derive(Debug, serde::Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "super::whole")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional_whole")]
        o: Option<u64>,
    }

    fn probe(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integral_floats_are_the_same_integers() {
        let p = probe(r#"{"n": 8.0, "o": 60000.0}"#).unwrap();
        assert_eq!((p.n, p.o), (8, Some(60_000)));
        let p = probe(r#"{"n": 8, "o": null}"#).unwrap();
        assert_eq!((p.n, p.o), (8, None));
        assert_eq!(probe(r#"{"n": 1}"#).unwrap().o, None);
    }

    #[test]
    fn fractions_negatives_strings_and_overflows_are_refused() {
        for bad in [
            r#"{"n": 8.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": -1.0}"#,
            r#"{"n": "8"}"#,
            r#"{"n": 4294967296}"#,
            r#"{"n": 1, "o": 1e30}"#,
        ] {
            assert!(probe(bad).is_err(), "{bad}");
        }
    }
}
