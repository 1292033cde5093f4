//! Keyed hashes: the `hash` mask and the audit log's chain both use HMAC-SHA256 with a key
//! derived from the mesh secret, one key per use, so knowing one reveals nothing of the
//! other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A key for one use (`"mask"`, `"audit"`), derived from the mesh secret.
pub fn derive(secret: &[u8], purpose: &str) -> Vec<u8> {
    hmac(secret, format!("tessera/{purpose}").as_bytes()).to_vec()
}

/// The `hash` mask of a value's text: 32 hex digits (128 bits) of its HMAC.
pub fn mask_hash(key: &[u8], text: &[u8]) -> String {
    hex::encode(&hmac(key, text)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_the_key_and_the_value() {
        let k1 = derive(b"secret one", "mask");
        let k2 = derive(b"secret two", "mask");
        assert_eq!(mask_hash(&k1, b"4711"), mask_hash(&k1, b"4711"));
        assert_ne!(mask_hash(&k1, b"4711"), mask_hash(&k2, b"4711"));
        assert_ne!(mask_hash(&k1, b"4711"), mask_hash(&k1, b"4712"));
        assert_ne!(derive(b"s", "mask"), derive(b"s", "audit"));
        assert_eq!(mask_hash(&k1, b"x").len(), 32);
    }
}
