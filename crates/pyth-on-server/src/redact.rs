//! Secret values kept out of what a run answers: [`redact`] replaces every exact occurrence
//! of a value (4 bytes or more) with `***` in a finished text, and a [`Redactor`] does the
//! same to a stream that arrives in chunks.
//!
//! Across chunks, a value may be split between two writes of the program. A stream keeps back
//! its last `longest value - 1` bytes (and any unfinished UTF-8 sequence) until more comes or
//! the stream ends, and never hands on a prefix that ends inside an occurrence of a value, so
//! every occurrence is replaced whole.

use zeroize::Zeroizing;

/// The owner's secrets as `(name, value)` pairs; values wiped on drop.
pub type OpenSecrets = Vec<(String, Zeroizing<String>)>;

/// Shortest value that is redacted: shorter ones would mangle ordinary output.
pub const MIN_REDACTED_LEN: usize = 4;

/// Replaces every exact occurrence of a secret value (of 4 bytes or more) with `***`.
/// Longer values go first so a value containing another is replaced whole.
pub fn redact(text: &str, secrets: &OpenSecrets) -> String {
    let mut values: Vec<&str> = secrets
        .iter()
        .map(|(_, v)| v.as_str())
        .filter(|v| v.len() >= MIN_REDACTED_LEN)
        .collect();
    if values.is_empty() {
        return text.to_string();
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for value in values {
        if out.contains(value) {
            out = out.replace(value, "***");
        }
    }
    out
}

/// One stream's redaction across chunk boundaries (see the module docs).
pub struct Redactor<'a> {
    secrets: &'a OpenSecrets,
    /// The values that are redacted (at least `MIN_REDACTED_LEN` bytes), as bytes.
    values: Vec<Zeroizing<Vec<u8>>>,
    /// Bytes kept back: they may start a value that continues in the next chunk.
    pending: Vec<u8>,
    /// How many bytes are kept back at most (the longest value's length - 1).
    hold: usize,
}

impl std::fmt::Debug for Redactor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.values.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<'a> Redactor<'a> {
    /// A redactor of `secrets`' values.
    pub fn new(secrets: &'a OpenSecrets) -> Self {
        let values: Vec<Zeroizing<Vec<u8>>> = secrets
            .iter()
            .map(|(_, v)| v.as_bytes())
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .map(|v| Zeroizing::new(v.to_vec()))
            .collect();
        let hold = values.iter().map(|v| v.len() - 1).max().unwrap_or(0);
        Self {
            secrets,
            values,
            pending: Vec::new(),
            hold,
        }
    }

    /// Takes a chunk; returns the text that can be handed on now.
    pub fn push(&mut self, data: &[u8]) -> String {
        self.pending.extend_from_slice(data);
        let cut = self.safe_cut();
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        redact(&String::from_utf8_lossy(&ready), self.secrets)
    }

    /// The stream ended: everything left.
    pub fn finish(&mut self) -> String {
        let ready = std::mem::take(&mut self.pending);
        redact(&String::from_utf8_lossy(&ready), self.secrets)
    }

    /// Where the pending bytes can be cut: before the held-back tail and any unfinished
    /// character, and never inside an occurrence of a value.
    fn safe_cut(&self) -> usize {
        let len = self.pending.len();
        let mut cut = char_boundary(&self.pending, len.saturating_sub(self.hold));
        // An occurrence straddling the cut lies wholly in `pending` (it starts less than the
        // longest value before the tail): move the cut past it, until none straddles.
        loop {
            let past = self
                .values
                .iter()
                .filter_map(|v| self.straddling_end(v, cut))
                .max();
            match past {
                Some(end) if end > cut => cut = end,
                _ => return cut,
            }
        }
    }

    /// The end of an occurrence of `value` that starts before `cut` and ends after it.
    fn straddling_end(&self, value: &[u8], cut: usize) -> Option<usize> {
        let first = (cut + 1).saturating_sub(value.len());
        (first..cut)
            .filter(|s| s + value.len() <= self.pending.len())
            .find(|s| &self.pending[*s..*s + value.len()] == value)
            .map(|s| s + value.len())
    }
}

/// `at`, moved back to the start of a UTF-8 sequence that does not end after `at`.
fn char_boundary(bytes: &[u8], at: usize) -> usize {
    let lead = (at.saturating_sub(3)..at)
        .rev()
        .find(|i| bytes[*i] & 0xC0 != 0x80);
    let Some(i) = lead else {
        return at;
    };
    let width = match bytes[i] {
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        b if b >= 0xC0 => 2,
        _ => 1,
    };
    if i + width > at {
        i
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> OpenSecrets {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("S{i}"), Zeroizing::new((*v).to_string())))
            .collect()
    }

    #[test]
    fn every_occurrence_of_a_secret_value_is_replaced() {
        let out = redact("key=hunter22 and again hunter22.", &secrets(&["hunter22"]));
        assert_eq!(out, "key=*** and again ***.");
    }

    #[test]
    fn values_shorter_than_four_bytes_are_left_alone() {
        assert_eq!(redact("abc abc", &secrets(&["abc"])), "abc abc");
    }

    #[test]
    fn a_longer_value_containing_a_shorter_one_is_replaced_whole() {
        let out = redact(
            "tokenXYZ-extended",
            &secrets(&["tokenXYZ", "tokenXYZ-extended"]),
        );
        assert_eq!(out, "***");
    }

    /// Feeds `text` cut at every position in two, and returns what came out each time.
    fn split_everywhere(text: &str, secrets: &OpenSecrets) -> Vec<String> {
        (0..=text.len())
            .map(|at| {
                let mut r = Redactor::new(secrets);
                let mut out = r.push(&text.as_bytes()[..at]);
                out += &r.push(&text.as_bytes()[at..]);
                out + &r.finish()
            })
            .collect()
    }

    #[test]
    fn a_secret_split_between_two_chunks_is_still_masked() {
        let s = secrets(&["hunter2-token"]);
        for out in split_everywhere("before hunter2-token after", &s) {
            assert_eq!(out, "before *** after");
        }
    }

    #[test]
    fn a_character_split_between_two_chunks_comes_out_whole() {
        let s = secrets(&[]);
        for out in split_everywhere("naïve 日本 🎉", &s) {
            assert_eq!(out, "naïve 日本 🎉");
        }
        let mut r = Redactor::new(&s);
        assert_eq!(r.push(&"日".as_bytes()[..2]), "", "half a character waits");
        assert_eq!(r.push(&"日".as_bytes()[2..]), "日");
    }

    #[test]
    fn without_secrets_output_is_handed_on_at_once() {
        let s = secrets(&["abc"]); // shorter than the redaction minimum
        let mut r = Redactor::new(&s);
        assert_eq!(r.push(b"abc and more"), "abc and more");
    }

    #[test]
    fn only_the_possible_start_of_a_secret_is_held_back() {
        let s = secrets(&["0123456789"]);
        let mut r = Redactor::new(&s);
        assert_eq!(r.push(b"hello world, 01234"), "hello wor");
        assert_eq!(r.push(b"56789!"), "ld, ***");
        assert_eq!(r.finish(), "!");
    }

    #[test]
    fn overlapping_secrets_are_masked_whole() {
        let s = secrets(&["abcdefgh", "efghijkl"]);
        for out in split_everywhere("xx abcdefghijkl yy", &s) {
            assert!(!out.contains("efgh") && !out.contains("abcd"), "{out}");
        }
    }
}
