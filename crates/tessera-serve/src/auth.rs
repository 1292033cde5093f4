//! Who is calling: API tokens (random, shown once, stored as SHA-256 hashes) bound to a
//! principal and, optionally, to the purposes it may be used for.
//!
//! Every protocol authenticates the same way: the HTTP API reads `Authorization: Bearer`,
//! the PostgreSQL wire protocol the password, Flight SQL its handshake (basic auth, the
//! password is the token) or a bearer header. A request without credentials is refused
//! unless mesh.yaml names an anonymous principal (`server.anonymous`).

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tessera_catalog::{CatalogStore, NewToken, TokenRecord};

/// Every token starts with this, so that secret scanners and people can tell one.
pub const TOKEN_PREFIX: &str = "tsr_";

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: String,
    /// The purposes the credentials allow; empty: any the principal may use.
    pub purposes: Vec<String>,
    /// The token used (its id, never the token), or `None` for the anonymous principal.
    pub token_id: Option<String>,
}

/// Why credentials were refused. Messages say what is wrong without echoing a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no credentials: send a token (HTTP: `Authorization: Bearer <token>`; PostgreSQL: the token as password; Flight SQL: basic auth with the token as password, or a bearer header) — create one with `tessera token create --principal <name>`"
    )]
    Missing,
    #[error("the token is not valid (unknown to this mesh, or malformed)")]
    Invalid,
    #[error("token {id} expired at {at}; create a new one with `tessera token create`")]
    Expired { id: String, at: String },
    #[error("token {id} was revoked at {at}")]
    Revoked { id: String, at: String },
    #[error(
        "token {id} may be used for the purposes {allowed}, not for `{purpose}`; use a token made for it (`tessera token create --purposes {purpose}`)"
    )]
    PurposeNotAllowed {
        id: String,
        purpose: String,
        allowed: String,
    },
    #[error("the metadata store could not be read to check the token: {0}")]
    Store(String),
}

/// A new token: the secret (shown once) and what is stored.
pub struct IssuedToken {
    pub token: String,
    pub record: TokenRecord,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<secret>")
            .field("record", &self.record)
            .finish()
    }
}

/// The hex SHA-256 of a token: what the store keeps and looks up. A token is 32 random
/// bytes, so an unkeyed hash is enough: it cannot be guessed from the hash.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes and records a token for `principal`.
pub async fn issue(
    store: &dyn CatalogStore,
    principal: &str,
    purposes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    created_by: &str,
    note: Option<String>,
) -> Result<IssuedToken, tessera_catalog::CatalogError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let mut id = [0u8; 6];
    rand::rng().fill_bytes(&mut id);
    let new = NewToken {
        id: format!("tok_{}", hex::encode(id)),
        hash: token_hash(&token),
        principal: principal.to_string(),
        purposes,
        created_at: Utc::now(),
        created_by: created_by.to_string(),
        expires_at,
        note,
    };
    store.create_token(&new).await?;
    Ok(IssuedToken {
        token,
        record: TokenRecord {
            id: new.id,
            principal: new.principal,
            purposes: new.purposes,
            created_at: new.created_at,
            created_by: new.created_by,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
            note: new.note,
        },
    })
}

/// How long a token read from the store is trusted before it is read again: a token
/// revoked by another process (`tessera token revoke`) stops working within this time.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// How often a token's `last_used_at` is written (a write per request would serialise
/// every request on SQLite's write lock).
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Checks credentials against the store.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn CatalogStore>,
    anonymous: Option<String>,
    /// Token hash → the record and when it was read.
    recent:
        Arc<std::sync::Mutex<std::collections::HashMap<String, (TokenRecord, std::time::Instant)>>>,
}

impl Authenticator {
    pub fn new(store: Arc<dyn CatalogStore>, anonymous: Option<String>) -> Authenticator {
        Authenticator {
            store,
            anonymous,
            recent: Default::default(),
        }
    }

    /// Forgets what was read, so that the next request reads the store (after a revoke
    /// through this server).
    pub fn forget(&self) {
        self.recent
            .lock()
            .expect("token cache lock is never poisoned")
            .clear();
    }

    async fn record(&self, hash: &str) -> Result<Option<TokenRecord>, AuthError> {
        if let Some((record, at)) = self
            .recent
            .lock()
            .expect("token cache lock is never poisoned")
            .get(hash)
            && at.elapsed() < RECHECK
        {
            return Ok(Some(record.clone()));
        }
        let record = self
            .store
            .token_by_hash(hash)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        let mut recent = self
            .recent
            .lock()
            .expect("token cache lock is never poisoned");
        if recent.len() > 10_000 {
            recent.clear();
        }
        match &record {
            Some(r) => recent.insert(hash.to_string(), (r.clone(), std::time::Instant::now())),
            None => recent.remove(hash),
        };
        Ok(record)
    }

    /// The caller a token (or, with `None`, no credentials) stands for.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Caller, AuthError> {
        let token = match token.map(str::trim) {
            None | Some("") => {
                return match &self.anonymous {
                    Some(principal) => Ok(Caller {
                        principal: principal.clone(),
                        purposes: Vec::new(),
                        token_id: None,
                    }),
                    None => Err(AuthError::Missing),
                };
            }
            Some(t) => t,
        };
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 256 {
            return Err(AuthError::Invalid);
        }
        let hash = token_hash(token);
        let record = self.record(&hash).await?.ok_or(AuthError::Invalid)?;
        let now = Utc::now();
        if let Some(at) = record.revoked_at {
            return Err(AuthError::Revoked {
                id: record.id,
                at: at.to_rfc3339(),
            });
        }
        if let Some(at) = record.expires_at
            && at <= now
        {
            return Err(AuthError::Expired {
                id: record.id,
                at: at.to_rfc3339(),
            });
        }
        if record.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY) {
            // Best effort: a failed note of use does not refuse the caller.
            if let Err(e) = self.store.touch_token(&record.id, now).await {
                tracing::warn!(token = %record.id, "could not note the token's use: {e}");
            }
            if let Some((r, _)) = self
                .recent
                .lock()
                .expect("token cache lock is never poisoned")
                .get_mut(&hash)
            {
                r.last_used_at = Some(now);
            }
        }
        Ok(Caller {
            principal: record.principal,
            purposes: record.purposes,
            token_id: Some(record.id),
        })
    }
}

impl Caller {
    /// The purpose a session runs for: the one asked for, when the credentials allow
    /// it; else the credentials' only purpose; else none (governance then asks for one).
    pub fn purpose(&self, asked: Option<&str>) -> Result<Option<String>, AuthError> {
        match asked.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) if self.purposes.is_empty() || self.purposes.iter().any(|a| a == p) => {
                Ok(Some(p.to_string()))
            }
            Some(p) => Err(AuthError::PurposeNotAllowed {
                id: self
                    .token_id
                    .clone()
                    .unwrap_or_else(|| "(anonymous)".into()),
                purpose: p.to_string(),
                allowed: self.purposes.join(", "),
            }),
            None if self.purposes.len() == 1 => Ok(Some(self.purposes[0].clone())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(purposes: &[&str]) -> Caller {
        Caller {
            principal: "ben".into(),
            purposes: purposes.iter().map(|p| p.to_string()).collect(),
            token_id: Some("tok_1".into()),
        }
    }

    #[test]
    fn a_token_bound_to_purposes_allows_only_those() {
        let c = caller(&["analytics", "modelling"]);
        assert_eq!(
            c.purpose(Some("modelling")).unwrap().as_deref(),
            Some("modelling")
        );
        let e = c.purpose(Some("email_marketing")).unwrap_err();
        assert!(matches!(e, AuthError::PurposeNotAllowed { .. }));
        assert!(e.to_string().contains("analytics, modelling"), "{e}");
        assert_eq!(c.purpose(None).unwrap(), None);
    }

    #[test]
    fn a_token_with_one_purpose_defaults_to_it_and_an_open_token_to_none() {
        assert_eq!(
            caller(&["analytics"]).purpose(None).unwrap().as_deref(),
            Some("analytics")
        );
        assert_eq!(caller(&[]).purpose(None).unwrap(), None);
        assert_eq!(
            caller(&[]).purpose(Some(" x ")).unwrap().as_deref(),
            Some("x")
        );
    }

    #[test]
    fn the_hash_is_hex_sha256_and_no_debug_shows_the_secret() {
        let h = token_hash("tsr_abc");
        assert_eq!(h.len(), 64);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let issued = IssuedToken {
            token: "tsr_secret-value".into(),
            record: TokenRecord {
                id: "tok_1".into(),
                principal: "ben".into(),
                purposes: vec![],
                created_at: Utc::now(),
                created_by: "admin".into(),
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
                note: None,
            },
        };
        assert!(!format!("{issued:?}").contains("secret-value"));
    }
}
