//! `MasterPassword`: the zkcode master password in a zeroizing, redacting holder.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A master password as received in a request body. Wiped on drop, never printed, and
/// deliberately not `Serialize` or `Clone`.
///
/// `serde_json` may keep a transient, unwiped copy while unescaping a string that contains
/// escapes; the value held here is wiped.
pub struct MasterPassword(Zeroizing<String>);

impl MasterPassword {
    /// Wraps `password`.
    pub fn new(password: String) -> Self {
        MasterPassword(Zeroizing::new(password))
    }

    /// The password, for [`super::decrypt`] or the sandbox pipe.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for MasterPassword {
    fn from(password: String) -> Self {
        MasterPassword::new(password)
    }
}

impl fmt::Debug for MasterPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterPassword([redacted])")
    }
}

impl<'de> Deserialize<'de> for MasterPassword {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(MasterPassword::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        master_password: MasterPassword,
    }

    #[test]
    fn a_master_password_deserializes_from_json_and_debug_hides_it() {
        let body: Body = serde_json::from_str(r#"{"master_password":"tr0ub4dor"}"#).unwrap();
        assert_eq!(body.master_password.expose(), "tr0ub4dor");
        assert!(!format!("{body:?}").contains("tr0ub4dor"));
    }
}
