//! YASMF-BLAKE3 hashes: `00 20 <32-byte BLAKE3 digest>`, 68 hex characters.

use std::fmt;
use std::str::FromStr;

/// Size of a YASMF hash in bytes (type byte, length byte, digest).
pub const HASH_SIZE: usize = 34;
const DIGEST_SIZE: usize = 32;
/// YASMF type byte for BLAKE3, the only type there is.
const TYPE_BLAKE3: u8 = 0x00;
/// YASMF length byte for a 32-byte digest.
const LEN_32: u8 = 0x20;

/// A YASMF-BLAKE3 hash. Operation ids, document ids and entry links are hashes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; HASH_SIZE]);

/// Why bytes or a string are not a YASMF-BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("invalid hex encoding in hash string")]
    InvalidHex,
    #[error("invalid hash length {0} bytes, expected {HASH_SIZE} bytes")]
    InvalidLength(usize),
    #[error("can not decode YASMF BLAKE3 hash: unknown hash type {0}")]
    UnknownType(u8),
    #[error("can not decode YASMF BLAKE3 hash: digest length byte {0:#04x}, expected 0x20")]
    InvalidDigestLength(u8),
}

impl Hash {
    /// Hashes `data` with BLAKE3.
    pub fn of(data: &[u8]) -> Self {
        Self::from_digest(*blake3::hash(data).as_bytes())
    }

    /// Wraps a raw 32-byte BLAKE3 digest.
    pub fn from_digest(digest: [u8; DIGEST_SIZE]) -> Self {
        let mut bytes = [0u8; HASH_SIZE];
        bytes[0] = TYPE_BLAKE3;
        bytes[1] = LEN_32;
        bytes[2..].copy_from_slice(&digest);
        Self(bytes)
    }

    /// Parses the 34-byte YASMF form. Upstream ignores the length byte; we
    /// reject anything but `0x20` so that one hash has exactly one encoding
    /// (see docs/compatibility.md).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HashError> {
        let arr: [u8; HASH_SIZE] = bytes
            .try_into()
            .map_err(|_| HashError::InvalidLength(bytes.len()))?;
        Self::check(arr)
    }

    fn check(arr: [u8; HASH_SIZE]) -> Result<Self, HashError> {
        if arr[0] != TYPE_BLAKE3 {
            return Err(HashError::UnknownType(arr[0]));
        }
        if arr[1] != LEN_32 {
            return Err(HashError::InvalidDigestLength(arr[1]));
        }
        Ok(Self(arr))
    }

    /// The 34-byte YASMF form.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// The 32-byte BLAKE3 digest.
    pub fn digest(&self) -> &[u8] {
        &self.0[2..]
    }

    /// Lower-case hex of the 34 bytes (68 characters).
    pub fn to_hex(&self) -> String {
        // SIMD, as parsing: ids are written for every row stored and
        // every relation read.
        const_hex::encode(self.0)
    }
}

impl FromStr for Hash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != HASH_SIZE * 2 {
            if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(HashError::InvalidLength(s.len() / 2));
            }
            return Err(HashError::InvalidHex);
        }
        let mut arr = [0u8; HASH_SIZE];
        // SIMD: ids are parsed for every row a query reads.
        const_hex::decode_to_slice(s, &mut arr).map_err(|_| HashError::InvalidHex)?;
        Self::check(arr)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; HASH_SIZE * 2];
        // invariant: the buffer is exactly twice the input length.
        #[allow(clippy::unwrap_used)]
        const_hex::encode_to_slice(self.0, &mut buf).unwrap();
        // hex output is always ASCII.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hash() {
        assert_eq!(
            Hash::of(&[1, 2, 3]).to_string(),
            "0020b177ec1bf26dfb3b7010d473e6d44713b29b765b99c6e60ecbfae742de496543"
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!("zz".parse::<Hash>(), Err(HashError::InvalidHex));
        assert_eq!("0020".parse::<Hash>(), Err(HashError::InvalidLength(2)));
        let h = Hash::of(b"x").to_string();
        let wrong_type = format!("01{}", &h[2..]);
        assert_eq!(wrong_type.parse::<Hash>(), Err(HashError::UnknownType(1)));
        let wrong_len = format!("0021{}", &h[4..]);
        assert_eq!(
            wrong_len.parse::<Hash>(),
            Err(HashError::InvalidDigestLength(0x21))
        );
        assert_eq!(h.parse::<Hash>().map(|h| h.to_string()), Ok(h));
    }
}
