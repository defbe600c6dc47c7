//! The application's Ed25519 public key and the signature encodings Discord uses, shared by
//! the Activity proxy check ([`embedded::ProxyVerifier`](crate::embedded::ProxyVerifier)) and
//! the webhook event receiver ([`events::EventVerifier`](crate::events::EventVerifier)).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Why a public key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// The text is not hexadecimal (it should be the 64 hex digits the Developer Portal shows
    /// as "Public Key" on the application's General Information page).
    #[error("the public key is not hexadecimal: copy the 64 hex digits of \"Public Key\" from the Developer Portal")]
    NotHex,
    /// The key is hexadecimal but not 32 bytes (64 hex digits) long.
    #[error("the public key is {0} bytes long; an Ed25519 public key is 32 bytes (64 hex digits)")]
    WrongLength(usize),
    /// 32 bytes that are not a point of the Ed25519 curve.
    #[error("the public key is not a valid Ed25519 key")]
    Invalid,
}

/// An application's Ed25519 public key, as the Developer Portal shows it (64 hex digits on
/// the General Information page). Discord signs the requests its Activity proxy forwards and
/// the webhook events it sends with the matching private key.
///
/// `Debug` shows the key's hex digits: it is public.
///
/// ```
/// use discord_oauth_core::{ApplicationPublicKey, PublicKeyError};
/// let key = ApplicationPublicKey::from_hex(
///     "c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8",
/// )?;
/// assert_eq!(key.to_hex(), "c8cde6a3c8c6e49d86af3191287b3ce255872be1fff6dc285bdb420c06a2c3c8");
/// assert_eq!(ApplicationPublicKey::from_hex("xyz"), Err(PublicKeyError::NotHex));
/// assert_eq!(ApplicationPublicKey::from_hex("abcd"), Err(PublicKeyError::WrongLength(2)));
/// # Ok::<(), PublicKeyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApplicationPublicKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for ApplicationPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApplicationPublicKey").field(&self.to_hex()).finish()
    }
}

impl ApplicationPublicKey {
    /// Parses the 64 hex digits (either case; surrounding whitespace ignored).
    pub fn from_hex(hex: &str) -> Result<Self, PublicKeyError> {
        let bytes = decode_hex(hex.trim()).ok_or(PublicKeyError::NotHex)?;
        let len = bytes.len();
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| PublicKeyError::WrongLength(len))?;
        Self::from_bytes(&bytes)
    }

    /// From the raw 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, PublicKeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| PublicKeyError::Invalid)
    }

    /// The public half of the Ed25519 key made from the 32-byte `seed`: for tests and local
    /// tools that sign like Discord ([`events::sign_event`](crate::events::sign_event),
    /// [`embedded::sign_proxy_payload`](crate::embedded::sign_proxy_payload)). Discord's own
    /// key comes from the Developer Portal.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed).verifying_key())
    }

    /// The key as 64 lowercase hex digits, as the Developer Portal shows it.
    pub fn to_hex(&self) -> String {
        hex(self.0.as_bytes())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Whether `signature` is this key's Ed25519 signature of `message` (strict verification:
    /// no malleable or small-order signatures).
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0
            .verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .is_ok()
    }
}

/// Signs `message` with the Ed25519 key made from `seed`, as lowercase hex (what Discord puts
/// in `X-Signature-Ed25519`).
pub(crate) fn sign_hex(seed: &[u8; 32], message: &[u8]) -> String {
    use ed25519_dalek::Signer as _;
    hex(&ed25519_dalek::SigningKey::from_bytes(seed).sign(message).to_bytes())
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        use fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Hex (either case) to bytes; `None` for an odd length or a non-hex digit.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Any of the four base64 alphabets/paddings.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
}

/// A 64-byte signature written as 128 hex digits or as base64 (surrounding whitespace
/// ignored).
pub(crate) fn decode_signature(s: &str) -> Option<[u8; 64]> {
    let s = s.trim();
    let bytes = if s.len() == 128 {
        decode_hex(s)?
    } else {
        decode_base64(s)?
    };
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let key = ApplicationPublicKey::from_seed(&[9; 32]);
        let hex = key.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(ApplicationPublicKey::from_hex(&hex), Ok(key));
        assert_eq!(
            ApplicationPublicKey::from_hex(&format!("  {}\n", hex.to_uppercase())),
            Ok(key)
        );
        assert_eq!(ApplicationPublicKey::from_hex(&hex[..63]), Err(PublicKeyError::NotHex));
        assert_eq!(ApplicationPublicKey::from_hex("zz"), Err(PublicKeyError::NotHex));
        assert_eq!(
            ApplicationPublicKey::from_hex(&format!("{hex}00")),
            Err(PublicKeyError::WrongLength(33))
        );
        assert_eq!(ApplicationPublicKey::from_hex(""), Err(PublicKeyError::WrongLength(0)));
        assert!(format!("{key:?}").contains(&hex));
        assert!(PublicKeyError::NotHex.to_string().contains("Developer Portal"));
    }

    #[test]
    fn signatures_verify_under_the_seed_key_only() {
        let key = ApplicationPublicKey::from_seed(&[1; 32]);
        let sig = decode_signature(&sign_hex(&[1; 32], b"message")).unwrap();
        assert!(key.verifies(b"message", &sig));
        assert!(!key.verifies(b"messagf", &sig));
        assert!(!ApplicationPublicKey::from_seed(&[2; 32]).verifies(b"message", &sig));
        // base64 of the same signature decodes to the same bytes
        assert_eq!(decode_signature(&STANDARD.encode(sig)), Some(sig));
        assert_eq!(decode_signature("00"), None);
    }
}
