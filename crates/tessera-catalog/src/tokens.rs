//! API tokens: what the catalog keeps of them, and what it checks before recording one.
//!
//! ```text
//!   create:  secret (random, shown once, never stored)
//!              └─▶ hash = hex(SHA-256(secret)) ─▶ create_token(NewToken { id, hash, … })
//!   use:     presented secret ─▶ hash ─▶ token_by_hash ─▶ TokenRecord (never the hash)
//!              └─▶ the caller decides (revoked? expired? purpose allowed?) ─▶ touch_token
//!   revoke:  revoke_token(id)   (the row stays, with revoked_at)
//! ```
//!
//! The store keeps what it is given and decides nothing about access: a revoked or expired
//! token still reads back, so the caller can say *why* it refuses it. It checks only what
//! would make a record useless: a hash not in the one spelling lookups use (64 lowercase
//! hex digits; any other could never be found again) and a token that speaks for nobody
//! (an empty principal).
//!
//! **Invariant:** no error, `Debug` output or listed record carries a token's hash; errors
//! about the hash argument describe it without echoing it (a caller that passed the secret
//! itself by mistake must not find it in a log).

use crate::{CatalogError, NewToken, Result};

/// The length of a hex SHA-256.
const HASH_LEN: usize = 64;

/// Refuses a token the store could never find again or that speaks for nobody.
pub(crate) fn check_new_token(t: &NewToken) -> Result<()> {
    if let Some(why) = hash_problem(&t.hash) {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot record token {}: its hash {why}\n  \
             help: pass hex(SHA-256(secret)) in lowercase, 64 digits, never the secret itself",
            t.id
        )));
    }
    if t.principal.is_empty() {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot record token {}: its principal is empty\n  \
             help: name the principal the token acts as",
            t.id
        )));
    }
    Ok(())
}

/// What is wrong with `hash`, described without repeating it.
fn hash_problem(hash: &str) -> Option<String> {
    let len = hash.chars().count();
    if len != HASH_LEN {
        return Some(format!("has {len} characters, not {HASH_LEN}"));
    }
    if !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Some("has a character other than 0-9 and a-f".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_digits_are_a_hash() {
        assert_eq!(hash_problem(&"0123456789abcdef".repeat(4)), None);
        let cases = [
            (String::new(), "has 0 characters, not 64"),
            ("a".repeat(63), "has 63 characters, not 64"),
            ("a".repeat(65), "has 65 characters, not 64"),
            ("A".repeat(64), "has a character other than 0-9 and a-f"),
            (
                format!("{}g", "a".repeat(63)),
                "has a character other than 0-9 and a-f",
            ),
            (
                format!("{}é", "a".repeat(63)),
                "has a character other than 0-9 and a-f",
            ),
        ];
        for (hash, want) in cases {
            assert_eq!(hash_problem(&hash).as_deref(), Some(want), "{hash:?}");
        }
    }
}
