//! varu64: the variable-length unsigned integer of Bamboo (not LEB128).
//!
//! Values below 248 are one byte; larger values are a length byte `247 + k`
//! followed by `k` big-endian bytes, with `k` minimal. Non-minimal encodings
//! are rejected so that every number has exactly one encoding.

/// Why a varu64 could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Varu64Error {
    #[error("unexpected end of input")]
    UnexpectedEof,
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Largest encoded size of a varu64.
pub const MAX_LEN: usize = 9;

/// Number of bytes `n` takes encoded.
pub fn encoded_len(n: u64) -> usize {
    if n < 248 {
        1
    } else {
        1 + (8 - (n.leading_zeros() as usize / 8))
    }
}

/// Appends the encoding of `n` to `out`.
pub fn encode(n: u64, out: &mut Vec<u8>) {
    if n < 248 {
        out.push(n as u8);
    } else {
        let k = encoded_len(n) - 1;
        out.push(247 + k as u8);
        out.extend_from_slice(&n.to_be_bytes()[8 - k..]);
    }
}

/// Decodes one varu64 from the start of `input`, returning it and the bytes read.
pub fn decode(input: &[u8]) -> Result<(u64, usize), Varu64Error> {
    let first = *input.first().ok_or(Varu64Error::UnexpectedEof)?;
    if first < 248 {
        return Ok((u64::from(first), 1));
    }
    let k = usize::from(first - 247);
    let bytes = input.get(1..1 + k).ok_or(Varu64Error::UnexpectedEof)?;
    let mut n: u64 = 0;
    for b in bytes {
        n = (n << 8) | u64::from(*b);
    }
    // Minimal: the first byte must be non-zero and a shorter form must not exist.
    if bytes[0] == 0 || encoded_len(n) != k + 1 {
        return Err(Varu64Error::NonCanonical);
    }
    Ok((n, k + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        for (n, hex) in [
            (0u64, "00"),
            (247, "f7"),
            (248, "f8f8"),
            (255, "f8ff"),
            (256, "f90100"),
            (65536, "fa010000"),
            (u64::MAX, "ffffffffffffffffff"),
        ] {
            let mut out = Vec::new();
            encode(n, &mut out);
            assert_eq!(hex::encode(&out), hex);
            assert_eq!(decode(&out), Ok((n, out.len())));
        }
        assert_eq!(decode(&[0xf8, 0x05]), Err(Varu64Error::NonCanonical));
        assert_eq!(decode(&[0xf9, 0x00, 0xff]), Err(Varu64Error::NonCanonical));
        assert_eq!(decode(&[0xf9, 0x01]), Err(Varu64Error::UnexpectedEof));
        assert_eq!(decode(&[]), Err(Varu64Error::UnexpectedEof));
    }
}
