//! API tokens: read back as written (never with the hash), conflicts and bad arguments
//! that write nothing, list order, revoking once, the latest use, and racing writers.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tessera_catalog::{CatalogError, CatalogStore, NewToken, TokenRecord};

use crate::support::{Fixture, at, conflict};

backend_tests!(
    a_created_token_reads_back_by_hash_with_every_field,
    a_duplicate_id_or_hash_is_a_conflict_and_writes_nothing,
    a_bad_hash_or_an_empty_principal_is_refused_and_writes_nothing,
    tokens_are_newest_first_and_filtered_by_principal,
    revoking_succeeds_once_and_keeps_the_first_time,
    revoking_an_unknown_token_is_not_found,
    touching_keeps_the_latest_use,
    touching_an_unknown_token_does_nothing,
    the_hash_is_never_in_debug_output,
    racing_creates_and_revokes_have_one_winner,
);

/// The hash the trait documents: hex SHA-256 of the secret, computed here without the
/// crate's code.
fn hash_of(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn token(id: &str, principal: &str, created: i64) -> NewToken {
    NewToken {
        id: id.into(),
        hash: hash_of(&format!("secret of {id}")),
        principal: principal.into(),
        purposes: vec![],
        created_at: at(created),
        created_by: "admin".into(),
        expires_at: None,
        note: None,
    }
}

/// What `create_token(t)` should read back as, before any revoke or use.
fn listed(t: &NewToken) -> TokenRecord {
    TokenRecord {
        id: t.id.clone(),
        principal: t.principal.clone(),
        purposes: t.purposes.clone(),
        created_at: t.created_at,
        created_by: t.created_by.clone(),
        expires_at: t.expires_at,
        revoked_at: None,
        last_used_at: None,
        note: t.note.clone(),
    }
}

fn ids(tokens: &[TokenRecord]) -> Vec<&str> {
    tokens.iter().map(|t| t.id.as_str()).collect()
}

#[track_caller]
fn invalid_argument<T: std::fmt::Debug>(result: Result<T, CatalogError>) -> String {
    match result {
        Err(CatalogError::InvalidArgument(message)) => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

async fn a_created_token_reads_back_by_hash_with_every_field(fx: Fixture) {
    let store = fx.open().await;
    let full = NewToken {
        purposes: vec!["marketing".into(), "analytics".into(), "billing".into()],
        expires_at: Some(at(3600)),
        note: Some("dashboard for the \"growth\" team ✓".into()),
        ..token("tok_0123456789ab", "svc-dashboard", 0)
    };
    let bare = token("tok_ba5eba11ca7e", "alice", 1);
    store.create_token(&full).await.unwrap();
    store.create_token(&bare).await.unwrap();

    // A second store, as another process: what was written is on disk.
    let other = fx.open().await;
    assert_eq!(
        other.token_by_hash(&full.hash).await.unwrap(),
        Some(listed(&full))
    );
    assert_eq!(
        other.token_by_hash(&bare.hash).await.unwrap(),
        Some(listed(&bare))
    );
    assert_eq!(
        other.token_by_hash(&hash_of("never issued")).await.unwrap(),
        None
    );
    // Lookups use one spelling only.
    assert_eq!(
        other
            .token_by_hash(&full.hash.to_uppercase())
            .await
            .unwrap(),
        None
    );
}

async fn a_duplicate_id_or_hash_is_a_conflict_and_writes_nothing(fx: Fixture) {
    let store = fx.open().await;
    let first = token("tok_000000000001", "alice", 0);
    store.create_token(&first).await.unwrap();
    let before = store.tokens(None).await.unwrap();

    let same_id = NewToken {
        hash: hash_of("another secret"),
        principal: "mallory".into(),
        ..first.clone()
    };
    let message = conflict(store.create_token(&same_id).await);
    assert!(
        message.contains("token tok_000000000001 is already recorded"),
        "{message}"
    );
    assert_eq!(store.token_by_hash(&same_id.hash).await.unwrap(), None);

    let same_hash = NewToken {
        id: "tok_000000000002".into(),
        principal: "mallory".into(),
        ..first.clone()
    };
    let message = conflict(store.create_token(&same_hash).await);
    assert!(
        message.contains(
            "cannot record token tok_000000000002: token tok_000000000001 has the same hash"
        ),
        "{message}"
    );
    assert!(!message.contains(&first.hash), "{message}");

    assert_eq!(store.tokens(None).await.unwrap(), before);
    assert_eq!(
        store.token_by_hash(&first.hash).await.unwrap(),
        Some(listed(&first))
    );
}

async fn a_bad_hash_or_an_empty_principal_is_refused_and_writes_nothing(fx: Fixture) {
    let store = fx.open().await;
    let good = token("tok_000000000001", "alice", 0);
    // The secret itself, passed by mistake, must not show up in the error.
    let secret = "tsk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    let bad_hashes = [
        (secret.to_string(), "has 41 characters, not 64"),
        (String::new(), "has 0 characters, not 64"),
        (good.hash[..63].to_string(), "has 63 characters, not 64"),
        (format!("{}0", good.hash), "has 65 characters, not 64"),
        (
            good.hash.to_uppercase(),
            "has a character other than 0-9 and a-f",
        ),
        (
            format!("{}z", &good.hash[..63]),
            "has a character other than 0-9 and a-f",
        ),
    ];
    for (hash, why) in bad_hashes {
        let t = NewToken {
            hash: hash.clone(),
            ..good.clone()
        };
        let message = invalid_argument(store.create_token(&t).await);
        assert!(
            message.contains(&format!(
                "cannot record token tok_000000000001: its hash {why}"
            )),
            "{message}"
        );
        if !hash.is_empty() {
            assert!(!message.contains(&hash), "{message}");
        }
    }

    let nobody = NewToken {
        principal: String::new(),
        ..good.clone()
    };
    let message = invalid_argument(store.create_token(&nobody).await);
    assert!(message.contains("its principal is empty"), "{message}");

    assert_eq!(store.tokens(None).await.unwrap(), vec![]);
    store.create_token(&good).await.unwrap();
}

async fn tokens_are_newest_first_and_filtered_by_principal(fx: Fixture) {
    let store = fx.open().await;
    // Created out of order, with a tie on created_at broken by id (descending).
    let made = [
        token("tok_00000000000b", "alice", 2),
        token("tok_00000000000a", "bob", 1),
        token("tok_00000000000d", "alice", 2),
        token("tok_00000000000c", "alice", 0),
        token("tok_00000000000e", "bob", 3),
    ];
    for t in &made {
        store.create_token(t).await.unwrap();
    }
    let all = store.tokens(None).await.unwrap();
    assert_eq!(
        ids(&all),
        [
            "tok_00000000000e",
            "tok_00000000000d",
            "tok_00000000000b",
            "tok_00000000000a",
            "tok_00000000000c",
        ]
    );
    assert_eq!(all[0], listed(&made[4]));
    assert_eq!(
        ids(&store.tokens(Some("alice")).await.unwrap()),
        ["tok_00000000000d", "tok_00000000000b", "tok_00000000000c"]
    );
    assert_eq!(
        ids(&store.tokens(Some("bob")).await.unwrap()),
        ["tok_00000000000e", "tok_00000000000a"]
    );
    assert_eq!(store.tokens(Some("carol")).await.unwrap(), vec![]);
    // An exact match: no pattern, no case folding.
    assert_eq!(store.tokens(Some("Alice")).await.unwrap(), vec![]);
    assert_eq!(store.tokens(Some("%")).await.unwrap(), vec![]);
}

async fn revoking_succeeds_once_and_keeps_the_first_time(fx: Fixture) {
    let store = fx.open().await;
    let t = token("tok_000000000001", "alice", 0);
    let other = token("tok_000000000002", "alice", 0);
    store.create_token(&t).await.unwrap();
    store.create_token(&other).await.unwrap();

    assert!(store.revoke_token(&t.id, at(10)).await.unwrap());
    let revoked = TokenRecord {
        revoked_at: Some(at(10)),
        ..listed(&t)
    };
    assert_eq!(
        store.token_by_hash(&t.hash).await.unwrap(),
        Some(revoked.clone())
    );

    assert!(!store.revoke_token(&t.id, at(20)).await.unwrap());
    assert!(!store.revoke_token(&t.id, at(5)).await.unwrap());
    assert_eq!(store.token_by_hash(&t.hash).await.unwrap(), Some(revoked));
    // The other token is untouched, and a revoked token is still listed.
    assert_eq!(
        store.token_by_hash(&other.hash).await.unwrap(),
        Some(listed(&other))
    );
    assert_eq!(store.tokens(Some("alice")).await.unwrap().len(), 2);

    // An expired token is still active until revoked.
    let expired = NewToken {
        expires_at: Some(at(1)),
        ..token("tok_000000000003", "bob", 0)
    };
    store.create_token(&expired).await.unwrap();
    assert!(store.revoke_token(&expired.id, at(30)).await.unwrap());
}

async fn revoking_an_unknown_token_is_not_found(fx: Fixture) {
    let store = fx.open().await;
    store
        .create_token(&token("tok_000000000001", "alice", 0))
        .await
        .unwrap();
    match store.revoke_token("tok_ffffffffffff", at(1)).await {
        Err(CatalogError::NotFound(message)) => assert!(
            message.contains("cannot revoke token tok_ffffffffffff: no token has this id"),
            "{message}"
        ),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        store.tokens(None).await.unwrap()[0].revoked_at,
        None,
        "another token was revoked"
    );
}

async fn touching_keeps_the_latest_use(fx: Fixture) {
    let store = fx.open().await;
    let t = token("tok_000000000001", "alice", 0);
    store.create_token(&t).await.unwrap();
    let last_used = |store: Arc<dyn CatalogStore>, hash: String| async move {
        store
            .token_by_hash(&hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
    };

    store.touch_token(&t.id, at(5)).await.unwrap();
    assert_eq!(last_used(store.clone(), t.hash.clone()).await, Some(at(5)));
    // An older report (late, or from a slower process) does not move it back.
    store.touch_token(&t.id, at(3)).await.unwrap();
    assert_eq!(last_used(store.clone(), t.hash.clone()).await, Some(at(5)));
    // One nanosecond later counts.
    let later = at(5) + chrono::Duration::nanoseconds(1);
    store.touch_token(&t.id, later).await.unwrap();
    assert_eq!(last_used(store.clone(), t.hash.clone()).await, Some(later));
    store.touch_token(&t.id, at(7)).await.unwrap();
    assert_eq!(
        store.token_by_hash(&t.hash).await.unwrap(),
        Some(TokenRecord {
            last_used_at: Some(at(7)),
            ..listed(&t)
        })
    );
}

async fn touching_an_unknown_token_does_nothing(fx: Fixture) {
    let store = fx.open().await;
    let t = token("tok_000000000001", "alice", 0);
    store.create_token(&t).await.unwrap();
    store.touch_token("tok_ffffffffffff", at(5)).await.unwrap();
    assert_eq!(store.tokens(None).await.unwrap(), vec![listed(&t)]);
}

async fn the_hash_is_never_in_debug_output(fx: Fixture) {
    let store = fx.open().await;
    let t = NewToken {
        purposes: vec!["analytics".into()],
        note: Some("ci".into()),
        ..token("tok_000000000001", "alice", 0)
    };
    let shown = format!("{t:?}\n{t:#?}");
    assert!(!shown.contains(&t.hash), "{shown}");
    assert!(shown.contains(r#"hash: "<redacted>""#), "{shown}");

    store.create_token(&t).await.unwrap();
    store.touch_token(&t.id, at(1)).await.unwrap();
    store.revoke_token(&t.id, at(2)).await.unwrap();
    let read = store.token_by_hash(&t.hash).await.unwrap().unwrap();
    let listed = store.tokens(None).await.unwrap();
    let shown = format!(
        "{read:?}\n{read:#?}\n{listed:?}\n{}",
        serde_json::to_string(&listed).unwrap()
    );
    assert!(!shown.contains(&t.hash), "{shown}");
    assert!(shown.contains("tok_000000000001"), "{shown}");
}

async fn racing_creates_and_revokes_have_one_winner(fx: Fixture) {
    const RACERS: usize = 8;
    let (a, b) = tokio::join!(fx.open(), fx.open());
    let stores = [a, b];

    // Several processes issue tokens with one secret: exactly one is recorded.
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = stores[i % 2].clone();
            let t = NewToken {
                hash: hash_of("one secret"),
                ..token(&format!("tok_00000000000{i}"), "alice", 0)
            };
            tokio::spawn(async move { store.create_token(&t).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("a creating task panicked") {
            Ok(()) => created += 1,
            Err(CatalogError::Conflict(message)) => {
                assert!(message.contains("has the same hash"), "{message}")
            }
            Err(e) => panic!("expected Ok or a Conflict, got {e:?}"),
        }
    }
    assert_eq!(created, 1);
    let all = stores[0].tokens(None).await.unwrap();
    assert_eq!(all.len(), 1);
    let id = all[0].id.clone();

    // Several processes revoke it: exactly one says it did.
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = stores[i % 2].clone();
            let id = id.clone();
            tokio::spawn(async move { store.revoke_token(&id, at(i as i64 + 1)).await })
        })
        .collect();
    let mut revoked = 0;
    for task in tasks {
        if task.await.expect("a revoking task panicked").unwrap() {
            revoked += 1;
        }
    }
    assert_eq!(revoked, 1);
    let after = stores[1].tokens(None).await.unwrap();
    assert!(after[0].revoked_at.is_some());
}
