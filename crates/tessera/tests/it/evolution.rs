//! `tessera diff` on the demo mesh: a contract changed after publishing, the breaking
//! changes, the version rule, and the consumers each change would break — principals
//! from the audit log, products from lineage.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::governance::{demo, tessera, text};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The line after the one that starts (trimmed) with `change`.
fn consumers_of<'a>(out: &'a str, change: &str) -> &'a str {
    let mut lines = out.lines();
    lines
        .by_ref()
        .find(|l| l.trim_start().starts_with(change))
        .unwrap_or_else(|| panic!("no `{change}` in:\n{out}"));
    lines.next().unwrap_or_default()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}

#[test]
fn a_changed_contract_is_diffed_against_its_published_version_with_the_consumers_it_breaks() {
    let (_tmp, root) = demo();
    let contract = root.join("domains/crm/customers/customers.odcs.yaml");
    git(&root, &["init", "-q"]);
    git(&root, &["add", "domains"]);
    git(&root, &["commit", "-qm", "published"]);

    // Unchanged: compatible, exit 0.
    let same = tessera(&root, &["diff", "crm.customers"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(stdout(&same).contains("no changes"), "{}", text(&same));

    // Readers: the DACH analyst reads emails (masked) and countries; the CRM owner reads
    // ids only.
    for (who, sql) in [
        (
            "ben.carter@example.com",
            "SELECT email, country FROM crm.customers LIMIT 3",
        ),
        (
            "ana.ruiz@example.com",
            "SELECT count(DISTINCT customer_id) FROM crm.customers",
        ),
    ] {
        let q = tessera(&root, &["sql", "--as", who, "--purpose", "analytics", sql]);
        assert!(q.status.success(), "{who}: {}", text(&q));
    }

    // Two breaking changes, one compatible one, and the same version.
    let original = fs::read_to_string(&contract).unwrap();
    let changed = original
        .replacen("          maxLength: 254", "          maxLength: 320", 1)
        .replacen(
            "        description: Given name.\n        required: true",
            "        description: Given name.\n        required: false",
            1,
        )
        .replacen(
            "        description: Family name.",
            "        description: Family name, as the customer wrote it.",
            1,
        );
    assert_ne!(changed, original);
    fs::write(&contract, &changed).unwrap();

    let out = tessera(&root, &["diff", "crm.customers"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let o = stdout(&out);
    assert!(
        o.starts_with(
            "crm.customers published version 0 → crm.customers (domains/crm/customers/customers.odcs.yaml): contract version 1.0.0 → 1.0.0"
        ),
        "{o}"
    );
    let email = consumers_of(
        &o,
        "breaking  customers.email.logicalTypeOptions.maxLength: maxLength 254 → 320",
    );
    assert!(
        email.contains("breaks 2 consumers (last 30d): ben.carter@example.com (1 query, last ")
            && email.contains("marketing/customer_360 (product)"),
        "{o}"
    );
    assert!(!email.contains("ana.ruiz"), "ana read no email: {o}");
    let first_name = consumers_of(
        &o,
        "breaking  customers.first_name.required: required true → false",
    );
    assert!(
        first_name.contains("breaks 1 consumer (last 30d): marketing/customer_360 (product)"),
        "only the product reads first names: {o}"
    );
    assert!(
        o.contains("      ok  customers.last_name: the description changed"),
        "{o}"
    );
    assert!(
        o.contains("refused: 2 breaking changes need a new major version (the contract goes from 1.0.0 to 1.0.0; make it 2.0.0 or later, or keep the old promise):"),
        "{o}"
    );

    // The same from git's last commit to the file, as JSON.
    let out = tessera(
        &root,
        &[
            "diff",
            "HEAD:domains/crm/customers/customers.odcs.yaml",
            "domains/crm/customers/customers.odcs.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["diffs"][0];
    assert_eq!(d["breaking"], true);
    assert_eq!(d["allowed"], false);
    assert_eq!(d["new"]["port"], "crm.customers");
    let kinds: Vec<&str> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "type_options_loosened",
            "required_dropped",
            "description_changed"
        ]
    );
    let readers: Vec<&str> = d["consumers"]["changes"][0]["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        readers,
        ["ben.carter@example.com", "marketing/customer_360"]
    );

    // Publishing it is refused before anything is built, with the consumers it breaks.
    let publish = |root: &Path| {
        tessera(
            root,
            &[
                "publish",
                "--as",
                "ana.ruiz@example.com",
                "crm/customers",
                "--quiet",
            ],
        )
    };
    let out = publish(&root);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("crm.customers (published version 0 under contract 1.0.0): 2 breaking changes need a new major version")
            && all.contains("this breaks 2 consumers of the last 30 days: ben.carter@example.com, marketing/customer_360"),
        "{all}"
    );
    let versions = tessera(&root, &["versions", "crm/customers", "--format", "json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&versions.stdout)
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing was published: {}",
        text(&versions)
    );

    // A new major version makes the same changes allowed.
    fs::write(
        &contract,
        changed.replacen("version: 1.0.0", "version: 2.0.0", 1),
    )
    .unwrap();
    let out = tessera(&root, &["diff", "published:crm.customers", "crm.customers"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out)
            .contains("allowed: the breaking changes come with a new major version (2.0.0)"),
        "{}",
        text(&out)
    );
    // …unless --strict.
    let out = tessera(&root, &["diff", "crm.customers", "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // And published: the next diff is against the new version's contract.
    let out = publish(&root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = tessera(&root, &["diff", "crm.customers"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).starts_with("crm.customers published version 1 → ")
            && stdout(&out).contains("no changes"),
        "{}",
        text(&out)
    );

    // Bad sides say what they are not.
    let out = tessera(&root, &["diff", "crm.customerz"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no port crm.customerz in the mesh (ports: "),
        "{}",
        text(&out)
    );
    let out = tessera(
        &root,
        &["diff", "published:crm.customers@99", "crm.customers"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("crm.customers has no published version 99 (its versions: 0, 1)"),
        "{}",
        text(&out)
    );
}

/// `tessera status` on the demo mesh, and a port's life from active to deprecated (with a
/// sunset date and a replacement, refused without one) to retired: the notice its readers
/// get, who still used it, the audited status changes, and a retired port not served.
#[test]
fn status_measures_slas_and_a_port_is_deprecated_then_retired() {
    let (_tmp, root) = demo();

    // Every SLA measured: the demo's data is from 2025, so latency is red; each publish
    // was just now, so frequency is green; retention of crm.customers (3 y) is red.
    let status = tessera(&root, &["status", "--format", "json"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    let customers = json["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["table"] == "crm.customers")
        .unwrap_or_else(|| panic!("{json:#}"));
    let state_of = |property: &str| {
        customers["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["property"] == property)
            .map(|c| {
                (
                    c["state"].as_str().unwrap().to_string(),
                    c["basis"].as_str().unwrap().to_string(),
                )
            })
            .unwrap_or_else(|| panic!("no {property}: {customers:#}"))
    };
    assert_eq!(state_of("latency"), ("red".into(), "data".into()));
    assert_eq!(state_of("frequency"), ("green".into(), "publish".into()));
    assert_eq!(state_of("retention"), ("red".into(), "rows".into()));
    assert_eq!(state_of("availability"), ("green".into(), "probes".into()));
    assert_eq!(state_of("quality"), ("green".into(), "checks".into()));
    assert_eq!(customers["state"], "red");
    let check = tessera(&root, &["status", "--check", "crm.customers"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        stdout(&check).contains("the newest signup_date is 2025-"),
        "{}",
        text(&check)
    );
    let none = tessera(&root, &["status", "--deliveries"]);
    assert!(
        stdout(&none).contains("no webhook deliveries yet"),
        "{}",
        text(&none)
    );
    let unknown = tessera(&root, &["status", "crm.custmers"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));

    // Deprecated without a sunset date: refused by validation, so by publish too.
    let contract = root.join("domains/crm/customers/customers.odcs.yaml");
    let original = fs::read_to_string(&contract).unwrap();
    let deprecated = original.replacen("status: active", "status: deprecated", 1);
    assert_ne!(deprecated, original);
    fs::write(&contract, &deprecated).unwrap();
    let refused = tessera(&root, &["validate"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("error[deprecated-without-sunset]"),
        "{}",
        text(&refused)
    );
    // A replacement that is not a port is refused too.
    fs::write(
        &contract,
        format!(
            "{deprecated}customProperties:\n  - {{property: tesseraSunset, value: \"2027-03-31\"}}\n  - {{property: tesseraReplacement, value: crm.nowhere}}\n"
        ),
    )
    .unwrap();
    let refused = tessera(&root, &["validate"]);
    assert!(
        text(&refused).contains("`crm.nowhere` is not an output port of this mesh"),
        "{}",
        text(&refused)
    );
    fs::write(
        &contract,
        format!(
            "{deprecated}customProperties:\n  - {{property: tesseraSunset, value: \"2027-03-31\"}}\n  - {{property: tesseraReplacement, value: marketing.customer_360}}\n"
        ),
    )
    .unwrap();
    let published = tessera(&root, &["publish", "crm/customers", "--quiet"]);
    assert!(published.status.success(), "{}", text(&published));

    // Its readers are told, and it still answers.
    let read = tessera(
        &root,
        &[
            "sql",
            "--as",
            "ben.carter@example.com",
            "--purpose",
            "analytics",
            "SELECT count(*) FROM crm.customers",
        ],
    );
    assert!(read.status.success(), "{}", text(&read));
    assert!(
        String::from_utf8_lossy(&read.stderr).contains(
            "crm.customers is deprecated (crm/customers): it will be retired on 2027-03-31; use marketing.customer_360 instead"
        ),
        "{}",
        text(&read)
    );
    // Who still uses it: ben, and the products built from it.
    let shown = tessera(&root, &["status", "crm.customers"]);
    let shown = stdout(&shown);
    assert!(
        shown.contains(
            "deprecated (crm/customers): retired on 2027-03-31; replaced by marketing.customer_360"
        ),
        "{shown}"
    );
    let users = shown
        .lines()
        .find(|l| l.contains("still used by:"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        users.contains("ben.carter@example.com (1 queries)"),
        "{users}"
    );
    assert!(
        users.contains("marketing/customer_360 (product)"),
        "{users}"
    );

    // Retired: not served, the data kept.
    fs::write(
        &contract,
        format!(
            "{}customProperties:\n  - {{property: tesseraSunset, value: \"2027-03-31\"}}\n",
            original.replacen("status: active", "status: retired", 1)
        ),
    )
    .unwrap();
    let published = tessera(&root, &["publish", "crm/customers", "--quiet"]);
    assert!(published.status.success(), "{}", text(&published));
    let refused = tessera(
        &root,
        &[
            "sql",
            "--as",
            "ben.carter@example.com",
            "--purpose",
            "analytics",
            "SELECT count(*) FROM crm.customers",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("crm/customers is retired"),
        "{}",
        text(&refused)
    );

    // Both changes are in the audit log, with the run that made them.
    let audit = tessera(
        &root,
        &[
            "audit",
            "--as",
            "dpo@example.com",
            "--purpose",
            "compliance",
            "--table",
            "crm.customers",
            "--format",
            "json",
        ],
    );
    assert!(audit.status.success(), "{}", text(&audit));
    let records: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let changes: Vec<(String, String)> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "lifecycle")
        .map(|r| {
            let c = &r["resources"][0];
            (
                c["from"].as_str().unwrap().to_string(),
                c["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("deprecated".to_string(), "retired".to_string()),
            ("active".to_string(), "deprecated".to_string())
        ],
        "{records:#}"
    );
}
