//! Access requests: a request reads back as made, moves out of `requested` once (under
//! concurrency too), a second decision is a conflict naming the first, one principal has
//! one open request per port and purpose, and grants are the approved, unexpired ones.

use std::sync::Arc;

use tessera_catalog::{
    AccessDecision, AccessQuery, AccessStatus, CatalogError, CatalogStore, NewAccessRequest,
};

use crate::support::{Fixture, at, conflict};

backend_tests!(
    a_request_reads_back_as_made,
    a_request_is_decided_once,
    one_open_request_per_principal_port_and_purpose,
    grants_are_approved_and_unexpired,
    filters_match_and_read_newest_first,
    racing_deciders_only_one_wins,
    bad_arguments_are_refused_and_write_nothing,
);

fn request(id: &str, principal: &str, port: &str, created: i64) -> NewAccessRequest {
    NewAccessRequest {
        id: id.into(),
        principal: principal.into(),
        port: port.into(),
        purpose: "analytics".into(),
        justification: format!("{principal} needs {port} for the Q3 churn model"),
        created_at: at(created),
    }
}

fn decision(status: AccessStatus, by: &str, when: i64) -> AccessDecision {
    AccessDecision {
        status,
        by: by.into(),
        at: at(when),
        reason: None,
        expires_at: None,
    }
}

fn ids(records: &[tessera_catalog::AccessRequestRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

async fn a_request_reads_back_as_made(fx: Fixture) {
    let store = fx.open().await;
    let r = request("a1", "ana", "crm.customers", 10);
    store.create_access_request(&r).await.unwrap();
    let other = fx.open().await;
    let got = other.access_request("a1").await.unwrap().unwrap();
    assert_eq!(got.principal, "ana");
    assert_eq!(got.port, "crm.customers");
    assert_eq!(got.purpose, "analytics");
    assert_eq!(got.justification, r.justification);
    assert_eq!(got.status, AccessStatus::Requested);
    assert_eq!(got.created_at, at(10));
    assert_eq!(
        (got.decided_by, got.decided_at, got.reason, got.expires_at),
        (None, None, None, None)
    );
    assert_eq!(other.access_request("nope").await.unwrap(), None);
    let again = conflict(store.create_access_request(&r).await);
    assert!(
        again.contains("access request a1 is already recorded"),
        "{again}"
    );
}

async fn a_request_is_decided_once(fx: Fixture) {
    let store = fx.open().await;
    store
        .create_access_request(&request("a1", "ana", "crm.customers", 1))
        .await
        .unwrap();
    let approve = AccessDecision {
        expires_at: Some(at(1000)),
        reason: Some("ok for Q3".into()),
        ..decision(AccessStatus::Approved, "sam", 5)
    };
    let got = store.decide_access_request("a1", &approve).await.unwrap();
    assert_eq!(got.status, AccessStatus::Approved);
    assert_eq!(got.decided_by.as_deref(), Some("sam"));
    assert_eq!(got.decided_at, Some(at(5)));
    assert_eq!(got.expires_at, Some(at(1000)));
    assert_eq!(got.reason.as_deref(), Some("ok for Q3"));
    assert_eq!(store.access_request("a1").await.unwrap().unwrap(), got);

    // Deciding again, either way, is a conflict naming the first decision.
    let deny = AccessDecision {
        reason: Some("no".into()),
        ..decision(AccessStatus::Denied, "wendy", 6)
    };
    let twice = conflict(store.decide_access_request("a1", &deny).await);
    assert!(
        twice.starts_with("cannot deny access request a1: it is approved by sam at 2025-05-01T09:30:05.123456789Z, not requested"),
        "{twice}"
    );
    let twice = conflict(store.decide_access_request("a1", &approve).await);
    assert!(
        twice.contains("cannot approve access request a1: it is approved"),
        "{twice}"
    );
    assert_eq!(store.access_request("a1").await.unwrap().unwrap(), got);

    // A denied request cannot be approved; an approved one can be revoked, once.
    store
        .create_access_request(&request("a2", "ana", "crm.orders", 2))
        .await
        .unwrap();
    store.decide_access_request("a2", &deny).await.unwrap();
    let late = conflict(store.decide_access_request("a2", &approve).await);
    assert!(late.contains("it is denied by wendy"), "{late}");
    let revoke = decision(AccessStatus::Revoked, "wendy", 7);
    let not_approved = conflict(store.decide_access_request("a2", &revoke).await);
    assert!(
        not_approved.contains("it is denied by wendy"),
        "{not_approved}"
    );
    assert!(not_approved.contains("not approved"), "{not_approved}");
    let revoked = store.decide_access_request("a1", &revoke).await.unwrap();
    assert_eq!(revoked.status, AccessStatus::Revoked);
    assert_eq!(revoked.revoked_by.as_deref(), Some("wendy"));
    assert_eq!(revoked.revoked_at, Some(at(7)));
    // The approval is kept.
    assert_eq!(revoked.decided_by.as_deref(), Some("sam"));
    assert_eq!(revoked.expires_at, Some(at(1000)));
    let again = conflict(store.decide_access_request("a1", &revoke).await);
    assert!(again.contains("it is revoked by wendy"), "{again}");

    // Withdrawn by the requester.
    store
        .create_access_request(&request("a3", "ana", "crm.customers", 3))
        .await
        .unwrap();
    let w = store
        .decide_access_request("a3", &decision(AccessStatus::Withdrawn, "ana", 8))
        .await
        .unwrap();
    assert_eq!(w.status, AccessStatus::Withdrawn);

    match store.decide_access_request("zzz", &approve).await {
        Err(CatalogError::NotFound(m)) => {
            assert!(m.contains("no access request has the id zzz"), "{m}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn one_open_request_per_principal_port_and_purpose(fx: Fixture) {
    let store = fx.open().await;
    store
        .create_access_request(&request("a1", "ana", "crm.customers", 1))
        .await
        .unwrap();
    let dup = conflict(
        store
            .create_access_request(&request("a2", "ana", "crm.customers", 2))
            .await,
    );
    assert!(
        dup.contains("ana already has an open request for crm.customers for purpose analytics: a1"),
        "{dup}"
    );
    // Another purpose, port or principal is another request.
    let mut other_purpose = request("a3", "ana", "crm.customers", 3);
    other_purpose.purpose = "marketing".into();
    store.create_access_request(&other_purpose).await.unwrap();
    store
        .create_access_request(&request("a4", "dan", "crm.customers", 4))
        .await
        .unwrap();
    // Once decided, the same request may be made again.
    store
        .decide_access_request(
            "a1",
            &AccessDecision {
                reason: Some("not now".into()),
                ..decision(AccessStatus::Denied, "sam", 5)
            },
        )
        .await
        .unwrap();
    store
        .create_access_request(&request("a5", "ana", "crm.customers", 6))
        .await
        .unwrap();
    let all = store
        .access_requests(&AccessQuery::default())
        .await
        .unwrap();
    assert_eq!(ids(&all), ["a5", "a4", "a3", "a1"]);
}

async fn grants_are_approved_and_unexpired(fx: Fixture) {
    let store = fx.open().await;
    for (id, port, created) in [
        ("g1", "crm.customers", 1),
        ("g2", "crm.orders", 2),
        ("g3", "web.events", 3),
        ("g4", "web.sessions", 4),
    ] {
        store
            .create_access_request(&request(id, "ana", port, created))
            .await
            .unwrap();
    }
    let approve = |until: Option<i64>| AccessDecision {
        expires_at: until.map(at),
        ..decision(AccessStatus::Approved, "sam", 10)
    };
    store
        .decide_access_request("g1", &approve(None))
        .await
        .unwrap();
    store
        .decide_access_request("g2", &approve(Some(100)))
        .await
        .unwrap();
    store
        .decide_access_request(
            "g3",
            &AccessDecision {
                reason: Some("no".into()),
                ..decision(AccessStatus::Denied, "sam", 10)
            },
        )
        .await
        .unwrap();
    // g4 stays requested.
    let grants = |t| {
        let store = store.clone();
        async move {
            ids(&store.access_grants("ana", at(t)).await.unwrap())
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(grants(50).await, ["g2", "g1"]);
    assert_eq!(grants(99).await, ["g2", "g1"]);
    // An expiry at exactly now has ended the grant.
    assert_eq!(grants(100).await, ["g1"]);
    assert_eq!(grants(5000).await, ["g1"]);
    assert!(store.access_grants("dan", at(50)).await.unwrap().is_empty());
    store
        .decide_access_request("g1", &decision(AccessStatus::Revoked, "sam", 60))
        .await
        .unwrap();
    assert_eq!(grants(61).await, ["g2"]);
}

async fn filters_match_and_read_newest_first(fx: Fixture) {
    let store = fx.open().await;
    for (id, principal, port, created) in [
        ("r1", "ana", "crm.customers", 1),
        ("r2", "dan", "crm.customers", 2),
        ("r3", "ana", "web.events", 3),
        ("r4", "dan", "crm.orders", 4),
    ] {
        store
            .create_access_request(&request(id, principal, port, created))
            .await
            .unwrap();
    }
    // Two at the same instant: ordered by id.
    let mut tie = request("r0", "finn", "crm.orders", 4);
    tie.purpose = "marketing".into();
    store.create_access_request(&tie).await.unwrap();
    store
        .decide_access_request("r2", &decision(AccessStatus::Approved, "sam", 5))
        .await
        .unwrap();
    let list = |q: AccessQuery| {
        let store = store.clone();
        async move {
            store
                .access_requests(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(AccessQuery::default()).await,
        ["r4", "r0", "r3", "r2", "r1"]
    );
    let by_ana = AccessQuery {
        principal: Some("ana".into()),
        ..Default::default()
    };
    assert_eq!(list(by_ana).await, ["r3", "r1"]);
    let crm = AccessQuery {
        ports: Some(vec!["crm.customers".into(), "crm.orders".into()]),
        ..Default::default()
    };
    assert_eq!(list(crm).await, ["r4", "r0", "r2", "r1"]);
    let none = AccessQuery {
        ports: Some(vec![]),
        ..Default::default()
    };
    assert!(list(none).await.is_empty());
    let open = AccessQuery {
        status: Some(AccessStatus::Requested),
        ..Default::default()
    };
    assert_eq!(list(open).await, ["r4", "r0", "r3", "r1"]);
    let marketing = AccessQuery {
        purpose: Some("marketing".into()),
        ..Default::default()
    };
    assert_eq!(list(marketing).await, ["r0"]);
    let both = AccessQuery {
        principal: Some("dan".into()),
        ports: Some(vec!["crm.customers".into()]),
        status: Some(AccessStatus::Approved),
        ..Default::default()
    };
    assert_eq!(list(both).await, ["r2"]);
    let two = AccessQuery {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(list(two).await, ["r4", "r0"]);
    // Values are bound, never spliced.
    let odd = AccessQuery {
        principal: Some("ana' OR '1'='1".into()),
        ..Default::default()
    };
    assert!(list(odd).await.is_empty());
}

async fn racing_deciders_only_one_wins(fx: Fixture) {
    let stores: Vec<Arc<dyn CatalogStore>> = vec![fx.open().await, fx.open().await];
    for round in 0..5 {
        let id = format!("race{round}");
        stores[0]
            .create_access_request(&request(&id, "ana", "crm.customers", round))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = stores[i % 2].clone();
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                let d = if i % 2 == 0 {
                    decision(AccessStatus::Approved, &format!("owner{i}"), 100)
                } else {
                    AccessDecision {
                        reason: Some("no".into()),
                        ..decision(AccessStatus::Denied, &format!("owner{i}"), 100)
                    }
                };
                store.decide_access_request(&id, &d).await
            }));
        }
        let mut won = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(r) => won.push(r),
                Err(CatalogError::Conflict(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        let stored = stores[1].access_request(&id).await.unwrap().unwrap();
        assert_eq!(stored, won[0]);
    }
}

async fn bad_arguments_are_refused_and_write_nothing(fx: Fixture) {
    let store = fx.open().await;
    let invalid = |r: Result<_, CatalogError>| match r {
        Err(CatalogError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    let mut r = request("b1", "ana", "crm.customers", 1);
    r.purpose = " ".into();
    let m = invalid(store.create_access_request(&r).await.map(|_| ()));
    assert!(m.contains("its purpose is empty"), "{m}");
    assert!(
        store
            .access_requests(&AccessQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    store
        .create_access_request(&request("b2", "ana", "crm.customers", 1))
        .await
        .unwrap();
    let reopen = decision(AccessStatus::Requested, "sam", 2);
    let m = invalid(store.decide_access_request("b2", &reopen).await.map(|_| ()));
    assert!(m.contains("as requested"), "{m}");
    let deny_until = AccessDecision {
        expires_at: Some(at(9)),
        ..decision(AccessStatus::Denied, "sam", 2)
    };
    let m = invalid(
        store
            .decide_access_request("b2", &deny_until)
            .await
            .map(|_| ()),
    );
    assert!(m.contains("only an approval has one"), "{m}");
    let nobody = decision(AccessStatus::Approved, "", 2);
    let m = invalid(store.decide_access_request("b2", &nobody).await.map(|_| ()));
    assert!(m.contains("the decider is empty"), "{m}");
    assert_eq!(
        store.access_request("b2").await.unwrap().unwrap().status,
        AccessStatus::Requested
    );
}
