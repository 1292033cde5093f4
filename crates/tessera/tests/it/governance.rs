//! Governance through the binary, on the demo mesh (`examples/marketing/`, its
//! `policies/`): what a principal sees for a purpose, checked against the data itself.
//!
//! ```text
//!  tessera demo --scale 0.01 (seed 42) ─▶ data/ (sources) + .tessera/data (published ports)
//!      ├─▶ tessera sql --as mailer --purpose email_marketing ─▶ customer ids ─────────┐
//!      └─▶ data/consent/raw_consents.ndjson, data/crm/raw_customers.csv               ├─▶ equal sets
//!            ─▶ DuckDB ($TESSERA_TEST_PYTHON): latest decision per customer for       │
//!               `marketing`, granted ──────────────────────────────────────────────────┘
//! ```
//!
//! The consent check is independent of Tessera: DuckDB reads the consent platform's raw
//! decision log, not `consent.consents` (which Tessera builds and which its governed views
//! read), so a mistake in the product's SQL or in the consent semi-join shows up as a
//! difference. The e-mail service is in `all_markets`, so no row filter applies to it
//! (the test checks that with `tessera policy check`) and the sets must be equal.
//!
//! Like the differential test, the consent check fails rather than skips without
//! `TESSERA_TEST_PYTHON` (`scripts/test` sets it), so CI cannot pass without running it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCALE: &str = "0.01";
const MAILER: &str = "mailer";
const ANALYST: &str = "ben.carter@example.com";
const CRM_OWNER: &str = "ana.ruiz@example.com";
/// The markets of the analyst (principals.yaml `regions`), which the row filter
/// `market-regions` binds.
const ANALYST_REGIONS: [&str; 3] = ["DE", "AT", "CH"];

pub(crate) fn tessera(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env("USER", "tester")
        .env_remove("TESSERA_MESH")
        .env_remove("TESSERA_PRINCIPAL")
        .env_remove("TESSERA_PURPOSE")
        .env_remove("TESSERA_MESH_SECRET")
        .env_remove("COLUMNS")
        .output()
        .expect("run tessera")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The demo mesh with its data, published, in a temp folder.
pub(crate) fn demo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("demo");
    let out = tessera(
        tmp.path(),
        &[
            "demo",
            "--scale",
            SCALE,
            "--quiet",
            "--dir",
            root.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "tessera demo failed:\n{}", text(&out));
    (tmp, root)
}

/// `tessera sql --as <who> --purpose <why> --format csv <sql>`: the header and the rows,
/// each split at commas (the queries here select no text with commas).
fn sql_csv(root: &Path, who: &str, why: &str, sql: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let out = tessera(
        root,
        &["sql", "--as", who, "--purpose", why, "--format", "csv", sql],
    );
    assert!(out.status.success(), "{sql}\n{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let split = |l: &str| l.split(',').map(str::to_string).collect::<Vec<_>>();
    let header = split(lines.next().expect("a CSV header"));
    (header, lines.map(split).collect())
}

/// The customers of the CRM source whose latest `marketing` decision in the consent
/// source grants it, and the customers whose grant was later withdrawn — by DuckDB,
/// straight from the source files.
const CONSENT_FROM_SOURCES: &str = r#"
import json, sys
import duckdb

consents, customers = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"""
    CREATE VIEW decisions AS
    SELECT * FROM read_json('{consents}', format = 'newline_delimited', columns = {{
        customer_id: 'BIGINT', purpose: 'VARCHAR', granted: 'BOOLEAN',
        ts: 'TIMESTAMPTZ', source: 'VARCHAR'}})
""")
con.execute(f"""
    CREATE VIEW crm AS
    SELECT customer_id FROM read_csv('{customers}', header = true, all_varchar = true)
    WHERE customer_id IS NOT NULL
""")
latest = """
    SELECT customer_id, granted FROM (
        SELECT customer_id, granted,
               row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC) AS n
        FROM decisions
        WHERE customer_id IS NOT NULL AND purpose = 'marketing')
    WHERE n = 1
"""
granted = con.sql(f"""
    SELECT customer_id FROM ({latest}) WHERE granted
      AND CAST(customer_id AS VARCHAR) IN (SELECT customer_id FROM crm)
    ORDER BY 1
""").fetchall()
withdrawn = con.sql(f"""
    SELECT customer_id FROM ({latest}) l WHERE NOT granted AND EXISTS (
        SELECT 1 FROM decisions d
        WHERE d.customer_id = l.customer_id AND d.purpose = 'marketing' AND d.granted)
    ORDER BY 1
""").fetchall()
ties = con.sql("""
    SELECT count(*) FROM (
        SELECT customer_id, ts FROM decisions
        WHERE customer_id IS NOT NULL AND purpose = 'marketing'
        GROUP BY ALL HAVING count(*) > 1)
""").fetchone()[0]
customers_total = con.sql("SELECT count(*) FROM crm").fetchone()[0]
print(json.dumps({
    "granted": [r[0] for r in granted],
    "withdrawn": [r[0] for r in withdrawn],
    "ties": ties,
    "customers": customers_total,
    "duckdb": duckdb.__version__,
}))
"#;

#[test]
fn email_marketing_sees_exactly_the_customers_whose_latest_marketing_decision_grants() {
    let Some(python) = std::env::var_os("TESSERA_TEST_PYTHON") else {
        panic!(
            "TESSERA_TEST_PYTHON is not set: the consent check needs a python with duckdb.\n  \
             Run the tests with scripts/test (it creates the venv from scripts/test-requirements.txt \
             and exports TESSERA_TEST_PYTHON), or point TESSERA_TEST_PYTHON at a python that has \
             the packages of scripts/test-requirements.txt."
        );
    };
    let (_tmp, root) = demo();

    // What the e-mail service gets, through the CLI as a user would run it.
    let (header, rows) = sql_csv(
        &root,
        MAILER,
        "email_marketing",
        "SELECT customer_id FROM crm.customers",
    );
    assert_eq!(header, ["customer_id"]);
    let seen: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    let shown: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(shown.len(), seen.len(), "a customer id is listed twice");

    // No row filter applies to the e-mail service on crm.customers (it is in all_markets),
    // so the consent filter is the only thing between it and the table.
    let check = tessera(
        &root,
        &[
            "policy",
            "check",
            "--as",
            MAILER,
            "--purpose",
            "email_marketing",
            "--format",
            "json",
            "crm.customers",
        ],
    );
    assert!(check.status.success(), "{}", text(&check));
    let check: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let port = &check["ports"][0];
    assert_eq!(port["table"], "crm.customers");
    assert_eq!(port["query"]["allowed"], true, "{port:#}");
    assert_eq!(port["row_filters"], serde_json::json!([]), "{port:#}");
    assert_eq!(port["consent"]["purpose"], "marketing", "{port:#}");
    assert_eq!(
        port["consent"]["columns"],
        serde_json::json!(["customer_id"])
    );

    // What the sources say, by DuckDB.
    let out = Command::new(&python)
        .arg("-c")
        .arg(CONSENT_FROM_SOURCES)
        .arg(root.join("data/consent/raw_consents.ndjson"))
        .arg(root.join("data/crm/raw_customers.csv"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run TESSERA_TEST_PYTHON ({}): {e}; run scripts/test, which sets up the venv",
                Path::new(&python).display()
            )
        });
    assert!(
        out.status.success(),
        "the DuckDB consent check failed:\n{}\n  (is duckdb installed in that python? \
         scripts/test installs scripts/test-requirements.txt)",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = |key: &str| -> BTreeSet<i64> {
        answer[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect()
    };
    let duckdb = ids("granted");
    let withdrawn = ids("withdrawn");
    let customers = answer["customers"].as_u64().unwrap() as usize;
    eprintln!(
        "consent check: {} of {customers} customers consented to marketing ({} withdrew a grant); \
         Tessera shows {} (DuckDB {})",
        duckdb.len(),
        withdrawn.len(),
        shown.len(),
        answer["duckdb"]
    );
    // Without ties in time, "the latest decision" is well defined on both sides.
    assert_eq!(
        answer["ties"], 0,
        "two marketing decisions of one customer share a timestamp"
    );
    // The data exercises what matters: some customers consent, some do not, some withdrew.
    assert!(!duckdb.is_empty() && duckdb.len() < customers, "{duckdb:?}");
    assert!(!withdrawn.is_empty(), "the demo data has no withdrawal");

    let only_tessera: Vec<_> = shown.difference(&duckdb).collect();
    let only_duckdb: Vec<_> = duckdb.difference(&shown).collect();
    assert!(
        only_tessera.is_empty() && only_duckdb.is_empty(),
        "email_marketing sees {} customers, the consent source grants {}:\n  \
         shown without consent: {only_tessera:?}\n  consented, not shown: {only_duckdb:?}",
        shown.len(),
        duckdb.len()
    );
    assert!(
        withdrawn.is_disjoint(&shown),
        "a withdrawn customer is shown"
    );
}

#[test]
fn the_analyst_sees_restricted_columns_masked_and_no_phone_numbers() {
    let (_tmp, root) = demo();

    // The owner of crm reads its customers in clear: the reference for what masked means.
    let (_, clear) = sql_csv(
        &root,
        CRM_OWNER,
        "analytics",
        "SELECT customer_id, email FROM crm.customers WHERE email IS NOT NULL ORDER BY customer_id",
    );
    let clear_emails: BTreeSet<&str> = clear.iter().map(|r| r[1].as_str()).collect();
    assert!(
        clear_emails.iter().all(|e| e.contains('@')),
        "{clear_emails:?}"
    );

    // The analyst: e-mail addresses as keyed hashes, customers of his markets only.
    let (header, rows) = sql_csv(
        &root,
        ANALYST,
        "analytics",
        "SELECT customer_id, email, country FROM crm.customers WHERE email IS NOT NULL ORDER BY customer_id",
    );
    assert_eq!(header, ["customer_id", "email", "country"]);
    assert!(!rows.is_empty());
    for row in &rows {
        let email = &row[1];
        assert!(
            email.len() == 32 && email.bytes().all(|b| b.is_ascii_hexdigit()),
            "customer {}: email {email:?} is not masked as a hash",
            row[0]
        );
        assert!(
            !clear_emails.contains(email.as_str()),
            "customer {}: a clear e-mail address",
            row[0]
        );
        assert!(
            ANALYST_REGIONS.contains(&row[2].as_str()),
            "customer {} of {} is outside the analyst's markets",
            row[0],
            row[2]
        );
    }
    assert!(
        rows.len() < clear.len(),
        "the row filter left every customer in"
    );

    // The phone column is absent for him: SELECT * leaves it out ...
    let (header, _) = sql_csv(
        &root,
        ANALYST,
        "analytics",
        "SELECT * FROM crm.customers LIMIT 1",
    );
    assert!(!header.iter().any(|c| c == "phone"), "{header:?}");
    assert!(header.iter().any(|c| c == "email"), "{header:?}");

    // ... and naming it is refused, with the policy that decided.
    let out = tessera(
        &root,
        &[
            "sql",
            "--as",
            ANALYST,
            "--purpose",
            "analytics",
            "SELECT customer_id, phone FROM crm.customers",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not permitted"), "{}", text(&out));
    assert!(stderr.contains("phones-stay-in-crm"), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[test]
fn the_demo_policies_validate_their_tests_pass_and_owners_publish_only_their_domain() {
    let (_tmp, root) = demo();
    let out = tessera(&root, &["validate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 errors, 0 warnings"),
        "{}",
        text(&out)
    );

    // policies/tests/*.slt, one file per principal, against the data the demo made.
    let out = tessera(&root, &["policy", "test"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("6 file(s), 6 passed, 0 failed"),
        "{}",
        text(&out)
    );

    // The owner of ads may publish ads, not crm; the crm owner may publish crm.
    let out = tessera(
        &root,
        &[
            "publish",
            "crm/customers",
            "--as",
            "marta.nowak@example.com",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "not permitted: marta.nowak@example.com may not publish crm/customers: no policy permits it"
        ),
        "{}",
        text(&out)
    );
    for (owner, product) in [
        ("marta.nowak@example.com", "ads/campaigns"),
        (CRM_OWNER, "crm/customers"),
    ] {
        let out = tessera(&root, &["publish", product, "--as", owner, "--quiet"]);
        assert!(out.status.success(), "{owner} {product}: {}", text(&out));
    }

    // The audit log is the DPO's to read, not the analyst's.
    let out = tessera(
        &root,
        &[
            "audit",
            "--as",
            "dpo@example.com",
            "--purpose",
            "compliance",
            "--principal",
            "marta.nowak@example.com",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("publish"),
        "{}",
        text(&out)
    );
    let out = tessera(&root, &["audit", "--as", ANALYST, "--purpose", "analytics"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not permitted"),
        "{}",
        text(&out)
    );
}
