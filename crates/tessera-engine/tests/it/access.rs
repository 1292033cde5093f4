//! Access requests over the governed fixture mesh: a grant is honoured on the next
//! statement of a session opened before it, ends with its expiry or revocation, gives
//! what the mesh's `approved-access-*` policies say (masks still apply, forbids still
//! win), and every step is audited. The refusals say what is wrong.

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, Utc};
use tessera_catalog::{AccessStatus, AuditOutcome, AuditQuery};
use tessera_engine::Engine;
use tessera_engine::access::{AccessError, AccessErrorKind, AccessFilter};
use tessera_engine::query::QueryErrorKind;

use crate::fixture::copy;
use crate::sql::{open, publish_all};

async fn governed() -> (tempfile::TempDir, Arc<Engine>) {
    let dir = tempfile::tempdir().unwrap();
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/governance/mesh"),
        dir.path(),
    );
    let mut engine = open(dir.path()).await;
    publish_all(&engine).await;
    let diags = engine.enable_governance().unwrap();
    assert!(!diags.has_errors(), "{diags:?}");
    (dir, Arc::new(engine))
}

#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, AccessError>, kind: AccessErrorKind) -> String {
    match r {
        Err(e) if e.kind() == kind => e.to_string(),
        other => panic!("expected {kind:?}, got {other:?}"),
    }
}

const ORDERS: &str = "SELECT order_id, amount, status FROM shop.orders ORDER BY order_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_grant_works_on_the_next_statement_and_ends_when_revoked() {
    let (_dir, engine) = governed().await;
    // A session opened before anything was asked, kept open throughout (as a
    // PostgreSQL connection or a server's cached session is).
    let nobody = engine
        .session(Some("nobody"), Some("analytics"), "pg")
        .unwrap();
    let before = nobody.collect(ORDERS).await.unwrap_err();
    assert_eq!(before.kind(), QueryErrorKind::NotPermitted, "{before}");

    let asked = engine
        .request_access(
            "cli",
            "nobody",
            "shop.orders",
            "analytics",
            "  churn report for Q3 ",
        )
        .await
        .unwrap();
    assert_eq!(asked.state, "requested");
    assert!(asked.mine && !asked.can_decide);
    assert_eq!(asked.request.justification, "churn report for Q3");
    let id = asked.request.id.clone();
    // Asking is not having.
    assert!(nobody.collect(ORDERS).await.is_err());

    // sam owns shop: he sees it and may decide it; wendy (web) neither.
    let sams = engine
        .access_requests("sam", &AccessFilter::default())
        .await
        .unwrap();
    assert_eq!(sams.len(), 1);
    assert!(sams[0].can_decide && !sams[0].mine);
    let wendys = engine
        .access_requests("wendy", &AccessFilter::default())
        .await
        .unwrap();
    assert!(wendys.is_empty(), "{wendys:?}");
    let not_hers = refused(
        engine
            .approve_access("http", "wendy", &id, None, None)
            .await,
        AccessErrorKind::NotFound,
    );
    assert!(
        not_hers.contains("no access request you can see"),
        "{not_hers}"
    );

    let approved = engine
        .approve_access("cli", "sam", &id, None, Some("ok for Q3"))
        .await
        .unwrap();
    assert_eq!(approved.state, "approved");
    assert_eq!(approved.request.decided_by.as_deref(), Some("sam"));

    // The same session's next statement holds the grant: the port, with its
    // confidential column masked (approved-access-masked), nothing more.
    let rows = nobody.collect(ORDERS).await.unwrap();
    assert!(rows.rows > 0);
    let amounts = nobody
        .collect("SELECT DISTINCT CAST(amount AS VARCHAR) AS a FROM shop.orders")
        .await
        .unwrap();
    let raw = engine
        .session(Some("sam"), Some("analytics"), "cli")
        .unwrap()
        .collect("SELECT DISTINCT CAST(amount AS VARCHAR) AS a FROM shop.orders")
        .await
        .unwrap();
    assert_ne!(
        format!("{:?}", amounts.batches),
        format!("{:?}", raw.batches),
        "amounts are masked for a grant"
    );
    // Only for the request's purpose, and only that port.
    let other_purpose = engine
        .session(Some("nobody"), Some("finance_reporting"), "cli")
        .unwrap();
    assert!(other_purpose.collect(ORDERS).await.is_err());
    assert!(nobody.collect("SELECT * FROM web.visits").await.is_err());

    // Asking again for what one holds says so.
    let again = refused(
        engine
            .request_access("cli", "nobody", "shop.orders", "analytics", "again")
            .await,
        AccessErrorKind::Conflict,
    );
    assert!(
        again.contains(&format!(
            "nobody already holds access to shop.orders for analytics: request {id} approved by sam"
        )),
        "{again}"
    );

    // Revoked: the next statement is refused again.
    let revoked = engine
        .revoke_access("cli", "sam", &id, Some("project ended"))
        .await
        .unwrap();
    assert_eq!(revoked.state, "revoked");
    let after = nobody.collect(ORDERS).await.unwrap_err();
    assert_eq!(after.kind(), QueryErrorKind::NotPermitted, "{after}");

    // Every step is in the audit log, with the principal, port and purpose.
    let log = engine
        .catalog
        .audit(&AuditQuery {
            resource: Some("shop.orders".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let steps: Vec<(&str, &str, AuditOutcome)> = log
        .iter()
        .filter(|r| r.action.ends_with("_access"))
        .map(|r| (r.action.as_str(), r.principal.as_str(), r.outcome))
        .rev()
        .collect();
    assert_eq!(
        steps,
        [
            ("request_access", "nobody", AuditOutcome::Ok),
            ("approve_access", "sam", AuditOutcome::Ok),
            ("request_access", "nobody", AuditOutcome::Error),
            ("revoke_access", "sam", AuditOutcome::Ok),
        ]
    );
    let approve = log.iter().find(|r| r.action == "approve_access").unwrap();
    assert_eq!(approve.purpose.as_deref(), Some("analytics"));
    assert_eq!(approve.resources[0]["access_request"], id.as_str());
    assert_eq!(approve.resources[0]["requester"], "nobody");
    assert_eq!(approve.resources[0]["reason"], "ok for Q3");
    // wendy's attempt is audited too, without naming the port she may not see.
    let wendy = engine
        .catalog
        .audit(&AuditQuery {
            principal: Some("wendy".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(wendy.len(), 1);
    assert_eq!(wendy[0].action, "approve_access");
    assert_eq!(wendy[0].outcome, AuditOutcome::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_grant_with_an_expiry_stops_working_when_it_passes() {
    let (_dir, engine) = governed().await;
    let session = engine
        .session(Some("nobody"), Some("analytics"), "http")
        .unwrap();
    let id = engine
        .request_access(
            "cli",
            "nobody",
            "web.visits",
            "analytics",
            "funnel analysis",
        )
        .await
        .unwrap()
        .request
        .id;
    let until = Utc::now() + Duration::seconds(2);
    let approved = engine
        .approve_access("cli", "wendy", &id, Some(until), None)
        .await
        .unwrap();
    assert_eq!(approved.request.expires_at, Some(until));
    session
        .collect("SELECT count(*) FROM web.visits")
        .await
        .unwrap();
    tokio::time::sleep(
        (until - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(100),
    )
    .await;
    let expired = session
        .collect("SELECT count(*) FROM web.visits")
        .await
        .unwrap_err();
    assert_eq!(expired.kind(), QueryErrorKind::NotPermitted, "{expired}");
    let view = engine.access_request("nobody", &id).await.unwrap();
    assert_eq!(view.state, "expired");
    assert_eq!(view.request.status, AccessStatus::Approved);
    // An expired grant may be asked for again.
    engine
        .request_access("cli", "nobody", "web.visits", "analytics", "one more week")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_refusals_say_what_is_wrong() {
    let (_dir, engine) = governed().await;
    let req = |who: &'static str, port: &'static str, purpose: &'static str, why: &'static str| {
        let engine = engine.clone();
        async move { engine.request_access("cli", who, port, purpose, why).await }
    };
    let e = refused(
        req("nobody", "shop.order", "analytics", "x").await,
        AccessErrorKind::Invalid,
    );
    assert!(
        e.contains("no port shop.order in this mesh (did you mean shop.orders?)"),
        "{e}"
    );
    let e = refused(
        req("nobody", "orders", "analytics", "x").await,
        AccessErrorKind::Invalid,
    );
    assert!(e.contains("`orders` is not a port name"), "{e}");
    let e = refused(
        req("nobody", "shop.orders", "fun", "x").await,
        AccessErrorKind::Invalid,
    );
    assert!(
        e.contains("unknown purpose `fun`: the mesh declares"),
        "{e}"
    );
    let e = refused(
        req("nobody", "shop.orders", "analytics", " ").await,
        AccessErrorKind::Invalid,
    );
    assert!(e.contains("the justification is empty"), "{e}");
    let e = refused(
        req("nobdy", "shop.orders", "analytics", "x").await,
        AccessErrorKind::NotPermitted,
    );
    assert!(
        e.contains("unknown principal `nobdy` (did you mean `nobody`?)"),
        "{e}"
    );
    // ana (staff) already queries shop.orders; a grant would add nothing.
    let e = refused(
        req("ana", "shop.orders", "analytics", "x").await,
        AccessErrorKind::Invalid,
    );
    assert!(
        e.contains("ana may already query shop.orders for analytics (permitted by"),
        "{e}"
    );
    // A forbid wins over any grant: mailer may only ever read shop.customers.
    let e = refused(
        req("mailer", "web.visits", "email_marketing", "x").await,
        AccessErrorKind::Invalid,
    );
    assert!(
        e.contains("an approved request would not let mailer query web.visits"),
        "{e}"
    );
    assert!(e.contains("activation-customers-only"), "{e}");

    let id = req("nobody", "shop.orders", "analytics", "churn")
        .await
        .unwrap()
        .request
        .id;
    let e = refused(
        req("nobody", "shop.orders", "analytics", "twice").await,
        AccessErrorKind::Conflict,
    );
    assert!(
        e.contains(&format!(
            "nobody already has an open request for shop.orders for purpose analytics: {id}"
        )),
        "{e}"
    );

    // Deciding: a reason to deny; only owners (not the requester) decide; once.
    let e = refused(
        engine.deny_access("cli", "sam", &id, " ").await,
        AccessErrorKind::Invalid,
    );
    assert!(e.contains("the reason is empty"), "{e}");
    let e = refused(
        engine.withdraw_access("cli", "sam", &id).await,
        AccessErrorKind::NotPermitted,
    );
    assert!(e.contains("only nobody may withdraw their request"), "{e}");
    let e = refused(
        engine
            .approve_access(
                "cli",
                "sam",
                &id,
                Some(Utc::now() - Duration::hours(1)),
                None,
            )
            .await,
        AccessErrorKind::Invalid,
    );
    assert!(e.contains("is not in the future"), "{e}");
    let denied = engine
        .deny_access(
            "cli",
            "sam",
            &id,
            "use analytics.revenue_by_country instead",
        )
        .await
        .unwrap();
    assert_eq!(denied.state, "denied");
    assert_eq!(
        denied.request.reason.as_deref(),
        Some("use analytics.revenue_by_country instead")
    );
    let e = refused(
        engine.approve_access("cli", "sam", &id, None, None).await,
        AccessErrorKind::Conflict,
    );
    assert!(
        e.contains(&format!(
            "cannot approve access request {id}: it is denied by sam"
        )),
        "{e}"
    );
    let e = refused(
        engine.access_request("nobody", "no-such-id").await,
        AccessErrorKind::NotFound,
    );
    assert!(
        e.contains("no access request you can see has the id no-such-id"),
        "{e}"
    );

    // Nobody decides their own request (refused approvals are audited as denied).
    let own = req("nobody", "web.visits", "analytics", "funnel")
        .await
        .unwrap()
        .request
        .id;
    let e = refused(
        engine
            .approve_access("cli", "nobody", &own, None, None)
            .await,
        AccessErrorKind::NotPermitted,
    );
    assert!(e.contains("nobody may not decide their own request"), "{e}");
    let w = engine.withdraw_access("cli", "nobody", &own).await.unwrap();
    assert_eq!(w.state, "withdrawn");

    // Lists: by status, own only, and what the caller may decide.
    let mine = engine
        .access_requests(
            "nobody",
            &AccessFilter {
                mine: Some(true),
                ..AccessFilter::default()
            },
        )
        .await
        .unwrap();
    let states: Vec<&str> = mine.iter().map(|v| v.state).collect();
    assert_eq!(states, ["withdrawn", "denied"]);
    let denied = engine
        .access_requests(
            "sam",
            &AccessFilter {
                status: Some(AccessStatus::Denied),
                ..AccessFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert!(
        !denied[0].can_decide,
        "a decided request cannot be decided again"
    );
    let log = engine
        .catalog
        .audit(&AuditQuery {
            principal: Some("nobody".into()),
            action: Some("approve_access".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, AuditOutcome::Denied);
    assert_eq!(log[0].resources[0]["table"], "web.visits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_needs_a_governed_mesh() {
    let dir = tempfile::tempdir().unwrap();
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt/mesh"),
        dir.path(),
    );
    let mut engine = open(dir.path()).await;
    engine.enable_governance().unwrap();
    let e = refused(
        engine
            .request_access("cli", "x", "shop.orders", "analytics", "y")
            .await,
        AccessErrorKind::Invalid,
    );
    assert!(e.contains("this mesh is not governed"), "{e}");
}
