//! `KeyPair` and `verifySignature`.

use hoffnung_core::keys::SIGNATURE_SIZE;
use hoffnung_core::PublicKey;
use wasm_bindgen::prelude::*;

use crate::convert::{bytes_of_hex, error};

/// An Ed25519 key pair to sign entries with.
#[wasm_bindgen]
pub struct KeyPair(pub(crate) hoffnung_core::KeyPair);

#[wasm_bindgen]
impl KeyPair {
    /// A new key pair from the system's secure random numbers, or the one
    /// of `privateKey` (64 hex characters) if given.
    #[wasm_bindgen(constructor)]
    pub fn new(private_key: Option<String>) -> Result<KeyPair, JsError> {
        match private_key {
            Some(key) => Self::from_private_key(&key),
            None => Ok(Self(hoffnung_core::KeyPair::generate())),
        }
    }

    /// The key pair of a private key (64 hex characters).
    #[wasm_bindgen(js_name = fromPrivateKey)]
    pub fn from_private_key(private_key: &str) -> Result<KeyPair, JsError> {
        hoffnung_core::KeyPair::from_private_key_hex(private_key)
            .map(Self)
            .map_err(|e| error("privateKey", e))
    }

    /// The public key, hex-encoded.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.0.public_key().to_hex()
    }

    /// The private key, hex-encoded.
    #[wasm_bindgen(js_name = privateKey)]
    pub fn private_key(&self) -> String {
        self.0.private_key_hex()
    }

    /// The signature of a hex string, hex-encoded. As in p2panda-js, what
    /// is signed is the string's own (UTF-8) bytes, once it is checked to
    /// be hex: signatures made with either verify with the other.
    pub fn sign(&self, bytes: &str) -> Result<String, JsError> {
        bytes_of_hex("bytes", bytes)?;
        Ok(hex::encode(self.0.sign(bytes.as_bytes())))
    }
}

/// Whether `signature` (hex) is the signature of the hex string `bytes`
/// (its UTF-8 bytes, as [`KeyPair::sign`] signs) by `publicKey` (hex).
/// Malformed arguments throw.
#[wasm_bindgen(js_name = verifySignature)]
pub fn verify_signature(public_key: &str, bytes: &str, signature: &str) -> Result<bool, JsError> {
    let key: PublicKey = public_key.parse().map_err(|e| error("publicKey", e))?;
    bytes_of_hex("bytes", bytes)?;
    let message = bytes.as_bytes();
    let signature: [u8; SIGNATURE_SIZE] = bytes_of_hex("signature", signature)?
        .try_into()
        .map_err(|_| error("signature", format!("expected {SIGNATURE_SIZE} bytes")))?;
    Ok(key.verify(message, &signature))
}
