//! The byte format of one protected value (ours, versioned; docs/security.md has the table),
//! and recognition of Identity Manager's own format. Pure code: no keys, no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::RsaError;

/// The text every protected value of ours starts with.
pub const PREFIX: &str = "TAENC1:";

/// Version 1 of the binary layout.
pub const VERSION: u8 = 1;
/// Algorithm 1: RSA-OAEP with SHA-256 (and MGF1-SHA-256) wrapping an AES-256-GCM key.
pub const ALGORITHM_OAEP_SHA256_AES256_GCM: u8 = 1;

pub const THUMBPRINT_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// The first bytes of every value Identity Manager's protect tools print (base64 `kxABA…`).
const VENDOR_MAGIC: [u8; 4] = [0x93, 0x10, 0x01, 0x00];

/// A protected value taken apart. `header` is every byte before the nonce: it is the AEAD's
/// associated data, so no header byte can be changed without the value failing to open.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope {
    pub thumbprint: [u8; THUMBPRINT_LEN],
    pub wrapped_key: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// version ‖ algorithm ‖ thumbprint ‖ wrapped-key length (u16, big-endian) ‖ wrapped key.
    pub fn header(thumbprint: &[u8; THUMBPRINT_LEN], wrapped_key: &[u8]) -> Vec<u8> {
        let mut header = Vec::with_capacity(2 + THUMBPRINT_LEN + 2 + wrapped_key.len());
        header.push(VERSION);
        header.push(ALGORITHM_OAEP_SHA256_AES256_GCM);
        header.extend_from_slice(thumbprint);
        // The wrapped key is as long as the RSA modulus: at most 2048 bytes for 16384-bit keys.
        header.extend_from_slice(&(wrapped_key.len() as u16).to_be_bytes());
        header.extend_from_slice(wrapped_key);
        header
    }

    /// The whole protected value as text.
    pub fn encode(&self) -> String {
        let mut bytes = Envelope::header(&self.thumbprint, &self.wrapped_key);
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.ciphertext);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// Takes a protected value apart; checks the layout, not the cryptography.
    pub fn decode(text: &str) -> Result<Envelope, RsaError> {
        let text = text.trim();
        let Some(body) = text.strip_prefix(PREFIX) else {
            return Err(classify_unprotected(text));
        };
        let bytes =
            STANDARD.decode(body).map_err(|_| RsaError::Corrupt("not valid base64".into()))?;
        let short = || RsaError::Corrupt("too short".into());

        let (&version, rest) = bytes.split_first().ok_or_else(short)?;
        if version != VERSION {
            return Err(RsaError::UnsupportedVersion(version));
        }
        let (&algorithm, rest) = rest.split_first().ok_or_else(short)?;
        if algorithm != ALGORITHM_OAEP_SHA256_AES256_GCM {
            return Err(RsaError::Corrupt(format!("unknown algorithm {algorithm}")));
        }
        let (thumbprint, rest) = rest.split_at_checked(THUMBPRINT_LEN).ok_or_else(short)?;
        let (length, rest) = rest.split_at_checked(2).ok_or_else(short)?;
        let length = u16::from_be_bytes([length[0], length[1]]) as usize;
        let (wrapped_key, rest) = rest.split_at_checked(length).ok_or_else(short)?;
        let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN).ok_or_else(short)?;
        if ciphertext.len() < TAG_LEN {
            return Err(short());
        }

        Ok(Envelope {
            thumbprint: thumbprint.try_into().map_err(|_| short())?,
            wrapped_key: wrapped_key.to_vec(),
            nonce: nonce.try_into().map_err(|_| short())?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// Is this text a value protected by Identity Manager's own tools? Recognised conservatively:
/// standard base64 whose first four decoded bytes are `93 10 01 00`, and long enough to hold an
/// RSA block (at least 128 bytes after the marker).
pub fn is_vendor_value(text: &str) -> bool {
    let text = text.trim();
    if !text.starts_with("kxABA") {
        return false;
    }
    match STANDARD.decode(text) {
        Ok(bytes) => bytes.len() >= VENDOR_MAGIC.len() + 128 && bytes[..4] == VENDOR_MAGIC,
        Err(_) => false,
    }
}

/// Is this a PFX password in Identity Manager's protected form (`base64@base64@base64`)? Those
/// are opened with a key built into the vendor's product, so ticket-agent cannot read them.
pub fn is_vendor_protected_password(text: &str) -> bool {
    let parts: Vec<&str> = text.trim().split('@').collect();
    parts.len() == 3
        && parts.iter().all(|part| matches!(STANDARD.decode(part), Ok(bytes) if bytes.len() >= 16))
        && STANDARD.decode(parts[0]).is_ok_and(|bytes| bytes.len() >= 64)
}

/// Why a value without our prefix cannot be opened.
fn classify_unprotected(text: &str) -> RsaError {
    if is_vendor_value(text) { RsaError::VendorFormat } else { RsaError::NotProtected }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            thumbprint: [7; 32],
            wrapped_key: vec![1; 256],
            nonce: [9; 12],
            ciphertext: vec![5; 20],
        }
    }

    #[test]
    fn an_envelope_survives_encoding() {
        let text = sample().encode();

        assert!(text.starts_with(PREFIX));
        assert_eq!(Envelope::decode(&text).unwrap(), sample());
    }

    #[test]
    fn a_truncated_value_is_corrupt() {
        let text = sample().encode();
        let cut = &text[..text.len() - 40];

        assert!(matches!(Envelope::decode(cut), Err(RsaError::Corrupt(_))));
    }

    #[test]
    fn a_later_version_is_named() {
        let mut bytes = Envelope::header(&[0; 32], &[0; 8]);
        bytes[0] = 2;
        bytes.extend_from_slice(&[0; 40]);
        let text = format!("{PREFIX}{}", STANDARD.encode(bytes));

        assert!(matches!(Envelope::decode(&text), Err(RsaError::UnsupportedVersion(2))));
    }

    #[test]
    fn a_vendor_value_is_recognised_by_its_marker() {
        let mut bytes = VENDOR_MAGIC.to_vec();
        bytes.extend_from_slice(&[0xAB; 288]);
        let vendor = STANDARD.encode(&bytes);

        assert!(vendor.starts_with("kxABA"));
        assert!(is_vendor_value(&vendor));
        assert!(matches!(Envelope::decode(&vendor), Err(RsaError::VendorFormat)));
    }

    #[test]
    fn plain_text_is_neither_ours_nor_the_vendors() {
        assert!(!is_vendor_value("kxABAhunter2"));
        assert!(matches!(Envelope::decode("hunter2"), Err(RsaError::NotProtected)));
    }

    #[test]
    fn a_vendor_protected_password_is_recognised() {
        let part = |n: usize| STANDARD.encode(vec![3u8; n]);
        let protected = format!("{}@{}@{}", part(128), part(128), part(16));

        assert!(is_vendor_protected_password(&protected));
        assert!(!is_vendor_protected_password("pass@word@x"));
        assert!(!is_vendor_protected_password("plain-password"));
    }
}
