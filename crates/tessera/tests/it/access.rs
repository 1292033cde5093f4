//! The access request flow through the binary, on the governed fixture mesh
//! (crates/tessera-engine/tests/governance/mesh, whose `approved-access-*` policies read
//! `context.granted`): refused → request → approve as the owner → the same principal's
//! next query works; an approval with an expiry stops working when it passes; the deny
//! path; every step in the audit log.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::cli::copy;
use crate::governance::{tessera, text};

fn governed_mesh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mesh");
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-engine/tests/governance/mesh"),
        &root,
    );
    let out = tessera(&root, &["publish", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (tmp, root)
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[track_caller]
fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

const ORDERS: &str = "SELECT order_id, status FROM shop.orders ORDER BY order_id";
const VISITS: &str = "SELECT count(*) AS n FROM web.visits";

fn sql(root: &Path, purpose: &str, query: &str) -> Output {
    tessera(
        root,
        &["sql", "--as", "nobody", "--purpose", purpose, query],
    )
}

#[test]
fn access_request_approve_query_expire_and_deny_from_the_cli() {
    let (_tmp, root) = governed_mesh();

    // Refused before.
    let e = refused(&sql(&root, "analytics", ORDERS));
    assert!(
        e.contains("nobody (user) for purpose analytics may not query it"),
        "{e}"
    );

    // Without --as: say who you are.
    let out = tessera(&root, &["access", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("say who you are: --as PRINCIPAL"),
        "{}",
        text(&out)
    );

    // Request.
    let made = json(&tessera(
        &root,
        &[
            "access",
            "request",
            "shop.orders",
            "--purpose",
            "analytics",
            "--as",
            "nobody",
            "--justification",
            "Churn model for Q3",
            "--format",
            "json",
        ],
    ));
    let id = made[0]["id"].as_str().unwrap().to_string();
    assert_eq!(made[0]["state"], "requested");
    assert_eq!(made[0]["principal"], "nobody");
    assert_eq!(made[0]["port"], "shop.orders");

    // The owner sees it, and may decide it; another domain's owner does not see it.
    let listed = ok(&tessera(
        &root,
        &["access", "list", "--as", "sam", "--status", "requested"],
    ));
    assert!(
        listed.contains(&format!(
            "{id}  requested  nobody → shop.orders for analytics  (you may decide)"
        )),
        "{listed}"
    );
    assert!(listed.contains("Churn model for Q3"), "{listed}");
    assert_eq!(
        ok(&tessera(&root, &["access", "list", "--as", "wendy"])),
        "no access requests\n"
    );
    let e = refused(&tessera(
        &root,
        &["access", "approve", &id, "--as", "wendy"],
    ));
    assert!(
        e.contains(&format!("no access request you can see has the id {id}")),
        "{e}"
    );
    let e = refused(&tessera(
        &root,
        &["access", "approve", &id, "--as", "sam", "--expires", "soon"],
    ));
    assert!(
        e.contains("--expires: expiry `soon` is neither a duration nor a time"),
        "{e}"
    );

    // Approved: the next query works, classified columns masked as for the staff.
    let approved = ok(&tessera(
        &root,
        &[
            "access",
            "approve",
            &id,
            "--as",
            "sam",
            "--reason",
            "ok for Q3",
        ],
    ));
    assert!(approved.contains(&format!("{id}  approved")), "{approved}");
    assert!(approved.contains("approved by sam"), "{approved}");
    let rows = ok(&sql(&root, "analytics", ORDERS));
    assert!(rows.contains("order_id"), "{rows}");
    // Only for its purpose.
    refused(&sql(&root, "finance_reporting", ORDERS));
    // Deciding twice is a conflict that names the first decision.
    let e = refused(&tessera(
        &root,
        &["access", "deny", &id, "--as", "sam", "--reason", "no"],
    ));
    assert!(
        e.contains(&format!(
            "cannot deny access request {id}: it is approved by sam"
        )),
        "{e}"
    );
    // Asking again for what one holds says so.
    let e = refused(&tessera(
        &root,
        &[
            "access",
            "request",
            "shop.orders",
            "--purpose",
            "analytics",
            "--as",
            "nobody",
            "--justification",
            "again",
        ],
    ));
    assert!(
        e.contains("nobody already holds access to shop.orders for analytics"),
        "{e}"
    );

    // An approval with an expiry stops working when it passes.
    let visits = json(&tessera(
        &root,
        &[
            "access",
            "request",
            "web.visits",
            "--purpose",
            "analytics",
            "--as",
            "nobody",
            "--justification",
            "Funnel analysis",
            "--format",
            "json",
        ],
    ));
    let visits_id = visits[0]["id"].as_str().unwrap().to_string();
    let until = chrono::Utc::now() + chrono::Duration::seconds(8);
    let until_text = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    ok(&tessera(
        &root,
        &[
            "access",
            "approve",
            &visits_id,
            "--as",
            "wendy",
            "--expires",
            &until_text,
        ],
    ));
    ok(&sql(&root, "analytics", VISITS));
    let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(left + Duration::from_millis(300));
    let e = refused(&sql(&root, "analytics", VISITS));
    assert!(e.contains("may not query it"), "{e}");
    let mine = json(&tessera(
        &root,
        &[
            "access", "list", "--as", "nobody", "--mine", "--format", "json",
        ],
    ));
    let states: Vec<(&str, &str)> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["port"].as_str().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("web.visits", "expired"), ("shop.orders", "approved")]
    );
    let expired = ok(&tessera(
        &root,
        &["access", "list", "--as", "wendy", "--status", "expired"],
    ));
    assert!(expired.contains(&visits_id), "{expired}");

    // Denied, with a reason the requester reads.
    let customers = json(&tessera(
        &root,
        &[
            "access",
            "request",
            "shop.customers",
            "--purpose",
            "analytics",
            "--as",
            "nobody",
            "--justification",
            "Customer segments",
            "--format",
            "json",
        ],
    ));
    let customers_id = customers[0]["id"].as_str().unwrap().to_string();
    let e = refused(&tessera(
        &root,
        &[
            "access",
            "deny",
            &customers_id,
            "--as",
            "sam",
            "--reason",
            " ",
        ],
    ));
    assert!(e.contains("the reason is empty"), "{e}");
    ok(&tessera(
        &root,
        &[
            "access",
            "deny",
            &customers_id,
            "--as",
            "sam",
            "--reason",
            "Use analytics.revenue_by_country",
        ],
    ));
    let mine = ok(&tessera(
        &root,
        &["access", "list", "--as", "nobody", "--status", "denied"],
    ));
    assert!(mine.contains("denied by sam"), "{mine}");
    assert!(mine.contains("Use analytics.revenue_by_country"), "{mine}");
    refused(&sql(
        &root,
        "analytics",
        "SELECT count(*) FROM shop.customers",
    ));

    // Every step is audited, refusals included.
    let log = json(&tessera(
        &root,
        &[
            "audit",
            "--as",
            "dora",
            "--purpose",
            "compliance",
            "--limit",
            "200",
            "--format",
            "json",
        ],
    ));
    let steps: Vec<(String, String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str().unwrap().ends_with("_access"))
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["principal"].as_str().unwrap().to_string(),
                r["resources"][0]["table"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .rev()
        .collect();
    let want: Vec<(String, String, String, String)> = [
        ("request_access", "nobody", "shop.orders", "ok"),
        ("approve_access", "wendy", "-", "error"),
        ("approve_access", "sam", "shop.orders", "ok"),
        ("deny_access", "sam", "shop.orders", "error"),
        ("request_access", "nobody", "shop.orders", "error"),
        ("request_access", "nobody", "web.visits", "ok"),
        ("approve_access", "wendy", "web.visits", "ok"),
        ("request_access", "nobody", "shop.customers", "ok"),
        ("deny_access", "sam", "shop.customers", "ok"),
    ]
    .iter()
    .map(|(a, p, t, o)| (a.to_string(), p.to_string(), t.to_string(), o.to_string()))
    .collect();
    assert_eq!(steps, want);
    let approve = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "approve_access" && r["principal"] == "sam")
        .unwrap();
    assert_eq!(approve["purpose"], "analytics");
    assert_eq!(approve["resources"][0]["access_request"], id.as_str());
    ok(&tessera(&root, &["audit", "verify"]));
}

/// The demo mesh's policies (examples/marketing/policies/access.cedar): an agency partner
/// with no standing access reads a port once its domain's owner approves, as the staff see
/// it (classified columns masked); a forbid still wins over a grant, so such a request is
/// refused at once.
#[test]
fn access_requests_on_the_demo_mesh() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("demo");
    let out = tessera(
        tmp.path(),
        &["demo", "--scale", "0.01", "--dir", root.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    const LENA: &str = "lena.vogel@agency.example";
    const OWNER: &str = "ana.ruiz@example.com";
    let query =
        "SELECT customer_id, email, country FROM crm.customers ORDER BY customer_id LIMIT 3";
    let e = refused(&tessera(
        &root,
        &["sql", "--as", LENA, "--purpose", "analytics", query],
    ));
    assert!(e.contains("no policy permits it (deny by default)"), "{e}");

    // A forbid wins over any grant: compliance is the DPO's purpose.
    let e = refused(&tessera(
        &root,
        &[
            "access",
            "request",
            "crm.customers",
            "--purpose",
            "compliance",
            "--as",
            LENA,
            "--justification",
            "audit",
        ],
    ));
    assert!(e.contains("an approved request would not let lena.vogel@agency.example query crm.customers for compliance"), "{e}");
    assert!(e.contains("compliance-is-for-the-dpo"), "{e}");
    // The staff already see what a grant would give.
    let e = refused(&tessera(
        &root,
        &[
            "access",
            "request",
            "crm.customers",
            "--purpose",
            "analytics",
            "--as",
            "ben.carter@example.com",
            "--justification",
            "x",
        ],
    ));
    assert!(e.contains("may already query crm.customers for analytics (permitted by permit policy `staff-query`"), "{e}");

    let made = json(&tessera(
        &root,
        &[
            "access",
            "request",
            "crm.customers",
            "--purpose",
            "analytics",
            "--as",
            LENA,
            "--justification",
            "DACH launch segments",
            "--format",
            "json",
        ],
    ));
    let id = made[0]["id"].as_str().unwrap().to_string();
    ok(&tessera(
        &root,
        &["access", "approve", &id, "--as", OWNER, "--expires", "30d"],
    ));
    let rows = ok(&tessera(
        &root,
        &[
            "sql",
            "--as",
            LENA,
            "--purpose",
            "analytics",
            "--format",
            "json",
            query,
        ],
    ));
    let rows: Value = serde_json::from_str(&rows).unwrap_or_else(|e| panic!("{e}: {rows}"));
    let rows = rows.as_array().unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in rows {
        // The row filter market-regions still applies (Lena's regions: DE, AT, CH), and
        // e-mails (restricted) are masked as for the staff.
        assert!(
            ["DE", "AT", "CH"].contains(&row["country"].as_str().unwrap()),
            "{row}"
        );
        assert!(
            !row["email"].as_str().unwrap().contains('@'),
            "masked: {row}"
        );
    }
}
