//! Ed25519 key pairs and public keys of authors.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// Size of a public key in bytes.
pub const PUBLIC_KEY_SIZE: usize = 32;
/// Size of a private key (the Ed25519 seed) in bytes.
pub const PRIVATE_KEY_SIZE: usize = 32;
/// Size of a signature in bytes.
pub const SIGNATURE_SIZE: usize = 64;

/// Why a key could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("invalid hex encoding in key")]
    InvalidHex,
    #[error("invalid key length {0} bytes, expected 32 bytes")]
    InvalidLength(usize),
    #[error("public key is not a valid Ed25519 curve point")]
    InvalidPoint,
}

fn decode_32(s: &str) -> Result<[u8; 32], KeyError> {
    let bytes = hex::decode(s).map_err(|_| KeyError::InvalidHex)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::InvalidLength(bytes.len()))
}

/// An author's Ed25519 key pair.
#[derive(Clone)]
pub struct KeyPair(SigningKey);

impl KeyPair {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand_core::OsRng)
    }

    /// A fresh key pair from the given cryptographic RNG.
    pub fn generate_with<R: rand_core::CryptoRngCore + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// A key pair from its 32-byte private key (the Ed25519 seed).
    pub fn from_private_key(bytes: &[u8; PRIVATE_KEY_SIZE]) -> Self {
        Self(SigningKey::from_bytes(bytes))
    }

    /// A key pair from the 64-hex-character private key.
    pub fn from_private_key_hex(s: &str) -> Result<Self, KeyError> {
        Ok(Self::from_private_key(&decode_32(s.trim())?))
    }

    /// The private key as bytes. Keep it secret.
    pub fn private_key(&self) -> [u8; PRIVATE_KEY_SIZE] {
        self.0.to_bytes()
    }

    /// The private key as lower-case hex. Keep it secret.
    pub fn private_key_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key of this pair.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message` (pure Ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_SIZE] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        write!(f, "KeyPair({})", self.public_key())
    }
}

/// An author's public key: a valid compressed Edwards point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 32 bytes; they must decompress to a curve point.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_SIZE]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| KeyError::InvalidPoint)
    }

    /// The compressed point.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_SIZE] {
        self.0.as_bytes()
    }

    /// Lower-case hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        const_hex::encode(self.as_bytes())
    }

    /// Verifies an Ed25519 signature over `message` (RFC 8032, cofactorless,
    /// as ed25519-dalek's non-strict `verify`, which is what upstream uses).
    pub fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_SIZE]) -> bool {
        use ed25519_dalek::Verifier;
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify(message, &sig).is_ok()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&decode_32(s)?)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}
