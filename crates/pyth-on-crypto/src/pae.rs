//! PASETO's pre-authentication encoding (PAE), used to build unambiguous associated data.
//!
//! `LE64(n)` is the 8-byte little-endian length with the top bit cleared, and
//! `PAE(pieces) = LE64(count) || for each piece: LE64(len) || piece`. Because every piece is
//! length-prefixed, no two different lists of pieces encode to the same bytes.

/// Encodes `n` as 8 little-endian bytes with the most significant bit cleared.
fn le64(n: usize) -> [u8; 8] {
    // usize -> u64 is lossless on every platform Rust supports (at most 64-bit pointers).
    let n = n as u64 & !(1u64 << 63);
    n.to_le_bytes()
}

/// Pre-authentication encoding of `pieces`, exactly as `docs/ZKCODE.md` defines it.
pub fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let len = 8 + pieces.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&le64(pieces.len()));
    for piece in pieces {
        out.extend_from_slice(&le64(piece.len()));
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pae;

    #[test]
    fn an_empty_list_encodes_to_a_zero_count() {
        assert_eq!(pae(&[]), vec![0; 8]);
    }

    #[test]
    fn each_piece_is_prefixed_by_its_length() {
        let got = pae(&[b"ab", b""]);
        let mut want = vec![2, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(b"ab");
        want.extend_from_slice(&[0; 8]);
        assert_eq!(got, want);
    }

    #[test]
    fn moving_bytes_between_pieces_changes_the_encoding() {
        assert_ne!(pae(&[b"ab", b"c"]), pae(&[b"a", b"bc"]));
    }
}
