//! Privacy operations through the binary, on the demo mesh (real Delta tables on disk):
//!
//! ```text
//!  tessera demo --scale 0.01 ─▶ erase --dry-run (plan) ─▶ erase (report) ─▶ every principal's
//!  queries: no row of the subject ─▶ publish --force (rebuild from the original sources):
//!  still none ─▶ vacuum --older-than 0s ─▶ pyarrow ($TESSERA_TEST_PYTHON) reads every Parquet
//!  file under the storage root (data, checkpoints, quarantine) and every Delta log entry:
//!  the key is in none
//!
//!  TESSERA_FAILPOINT aborts `tessera erase` (as kill -9 would) after a port was recorded,
//!  or after a port's Delta commit but before it was recorded ─▶ the next `tessera erase`
//!  rolls it forward: every port erased once, the report says what the crash left
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCALE: &str = "0.01";
const DPO: &str = "dpo@example.com";

fn tessera_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .current_dir(dir)
        .env("USER", "tester")
        .env_remove("TESSERA_MESH")
        .env_remove("TESSERA_PRINCIPAL")
        .env_remove("TESSERA_PURPOSE")
        .env_remove("TESSERA_MESH_SECRET")
        .env_remove("TESSERA_FAILPOINT")
        .env_remove("COLUMNS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tessera")
}

fn tessera(dir: &Path, args: &[&str]) -> Output {
    tessera_env(dir, args, &[])
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn demo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("demo");
    ok(tessera(
        tmp.path(),
        &[
            "demo",
            "--scale",
            SCALE,
            "--quiet",
            "--dir",
            root.to_str().unwrap(),
        ],
    ));
    (tmp, root)
}

/// The ports whose contracts mark customer_id as a customer key.
const SUBJECT_PORTS: [&str; 6] = [
    "consent.consents",
    "crm.customers",
    "orders.orders",
    "web.events",
    "marketing.customer_360",
    "marketing.segments",
];

/// Rows of `customer_id = key` in each subject port, as the DPO sees them (all markets,
/// compliance: nothing masked or filtered away).
fn dpo_counts(root: &Path, key: &str) -> Vec<i64> {
    let sql = SUBJECT_PORTS
        .iter()
        .map(|t| format!("SELECT '{t}' AS t, count(*) AS n FROM {t} WHERE customer_id = {key}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let out = ok(tessera(
        root,
        &[
            "sql",
            "--as",
            DPO,
            "--purpose",
            "compliance",
            "--format",
            "csv",
            &format!("SELECT n FROM ({sql}) ORDER BY t"),
        ],
    ));
    out.lines().skip(1).map(|l| l.parse().unwrap()).collect()
}

fn erase_json(root: &Path, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["erase", "--as", DPO, "--format", "json"];
    all.extend_from_slice(args);
    let out = ok(tessera_env(root, &all, env));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Reads every Parquet file under the storage root (data files, Delta checkpoints,
/// quarantined rows) with pyarrow, flattening structs, and every Delta log entry as JSON;
/// prints the places where a `customer_id` column or statistic holds `key`.
const FIND_KEY: &str = r#"
import json, os, re, sys
import pyarrow as pa, pyarrow.parquet as pq

root, key = sys.argv[1], int(sys.argv[2])
found, files, logs = [], 0, 0
def walk_json(value, path, where):
    if isinstance(value, dict):
        for k, v in value.items():
            walk_json(v, path + [k], where)
    elif isinstance(value, list):
        for v in value:
            walk_json(v, path, where)
    elif path and path[-1] == "customer_id" and str(value) == str(key):
        found.append(f"{where}: {'.'.join(path)}")
for dirpath, _, names in os.walk(root):
    for name in names:
        path = os.path.join(dirpath, name)
        if name.endswith(".parquet"):
            files += 1
            table = pq.read_table(path)
            while any(pa.types.is_struct(f.type) for f in table.schema):
                table = table.flatten()
            for column, field in zip(table.columns, table.schema):
                last = field.name.split(".")[-1]
                values = column.to_pylist()
                if last == "customer_id" and any(str(v) == str(key) for v in values if v is not None):
                    found.append(f"{path}: {field.name}")
                if pa.types.is_string(field.type):
                    for v in values:
                        if v and v.startswith("{"):
                            try:
                                walk_json(json.loads(v), [], f"{path}: {field.name}")
                            except ValueError:
                                pass
        elif name.endswith(".json") and "_delta_log" in dirpath:
            logs += 1
            for line in open(path):
                action = json.loads(line)
                stats = action.get("add", {}).get("stats")
                if stats:
                    walk_json(json.loads(stats), [], path)
print(json.dumps({"found": found, "parquet_files": files, "log_entries": logs}))
"#;

fn find_key(root: &Path, key: &str) -> serde_json::Value {
    let Some(python) = std::env::var_os("TESSERA_TEST_PYTHON") else {
        panic!(
            "TESSERA_TEST_PYTHON is not set: the vacuum check reads every Parquet file with pyarrow.\n  \
             Run the tests with scripts/test (it creates the venv from scripts/test-requirements.txt \
             and exports TESSERA_TEST_PYTHON)."
        );
    };
    let storage = root.join(".tessera/data");
    let out = Command::new(python)
        .args(["-c", FIND_KEY, storage.to_str().unwrap(), key])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_erased_customer_is_gone_from_every_query_every_rebuild_and_after_vacuum_every_file() {
    let (_tmp, root) = demo();
    let key = "42";
    let before = dpo_counts(&root, key);
    assert!(
        before.iter().all(|n| *n > 0),
        "the subject is in every port: {before:?}"
    );

    // The plan names every port holding customers, with the rows to delete; nothing changes.
    let plan = erase_json(&root, &["--subject", "customer_id=42", "--dry-run"], &[]);
    let tables: Vec<&str> = plan["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables.len(), SUBJECT_PORTS.len(), "{plan}");
    // Lineage order: crm.customers before the marketing products built from it.
    let pos = |t: &str| tables.iter().position(|x| *x == t).unwrap();
    assert!(
        pos("crm.customers") < pos("marketing.customer_360"),
        "{tables:?}"
    );
    assert!(pos("web.events") < pos("marketing.segments"), "{tables:?}");
    let planned: i64 = plan["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rows"].as_i64().unwrap())
        .sum();
    assert_eq!(planned, before.iter().sum::<i64>());
    assert_eq!(dpo_counts(&root, key), before, "a dry run changed data");

    // Someone without the erase action is refused, and nothing changes.
    let refused = tessera(
        &root,
        &[
            "erase",
            "--subject",
            "customer_id=42",
            "--as",
            "ben.carter@example.com",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("may not erase from"),
        "{}",
        text(&refused)
    );
    assert_eq!(dpo_counts(&root, key), before);

    // The erasure: one new version per port, the rows counted.
    let reports = erase_json(
        &root,
        &[
            "--subject",
            "customer_id=42",
            "--reason",
            "Art. 17 request #123",
        ],
        &[],
    );
    let report = &reports[0];
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["resumed"], false);
    assert_eq!(report["rows_deleted"].as_i64().unwrap(), planned);
    assert!(!report.to_string().contains("customer_id=42"));
    for p in report["ports"].as_array().unwrap() {
        assert_eq!(p["outcome"], "deleted", "{p}");
        assert_eq!(
            p["version_after"].as_i64().unwrap(),
            p["version_before"].as_i64().unwrap() + 1
        );
    }
    assert_eq!(dpo_counts(&root, key), vec![0; SUBJECT_PORTS.len()]);

    // Not even time travel to the versions from before the erasure (until vacuum removes
    // their files): old versions are read through the erasure register.
    let old = ok(tessera(
        &root,
        &[
            "sql",
            "--as",
            DPO,
            "--purpose",
            "compliance",
            "--format",
            "csv",
            "SELECT (SELECT count(*) FROM crm.customers VERSION AS OF 0 WHERE customer_id = 42) AS a, \
                    (SELECT count(*) FROM web.events VERSION AS OF 0 WHERE customer_id = 42) AS b, \
                    (SELECT count(*) FROM crm.customers VERSION AS OF 0 WHERE customer_id = 43) AS c",
        ],
    ));
    assert_eq!(old.lines().nth(1), Some("0,0,1"), "{old}");

    // No principal's query returns the subject, for any purpose it may use.
    for (who, why) in [
        ("ana.ruiz@example.com", "analytics"),
        ("ben.carter@example.com", "analytics"),
        ("priya.shah@example.com", "modelling"),
        ("felix.braun@example.com", "finance_reporting"),
        ("mailer", "email_marketing"),
        (DPO, "compliance"),
    ] {
        for t in SUBJECT_PORTS {
            let out = tessera(
                &root,
                &[
                    "sql",
                    "--as",
                    who,
                    "--purpose",
                    why,
                    "--format",
                    "csv",
                    &format!(
                        "SELECT count(*) FROM {t} WHERE CAST(customer_id AS VARCHAR) = '{key}'"
                    ),
                ],
            );
            if !out.status.success() {
                // Not permitted to read the port at all: nothing returned either.
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("not permitted"),
                    "{who} {t}: {}",
                    text(&out)
                );
                continue;
            }
            let stdout = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                stdout.lines().nth(1),
                Some("0"),
                "{who} for {why} on {t}: {stdout}"
            );
        }
    }

    // The report is kept and printable; the audit log has it.
    let listed = ok(tessera(&root, &["erase", "report"]));
    assert!(
        listed.contains("completed") && listed.contains("Art. 17 request #123"),
        "{listed}"
    );
    let id = report["erasure_id"].as_str().unwrap();
    let one = ok(tessera(&root, &["erase", "report", id]));
    assert!(
        one.contains("crm.customers") && one.contains("deleted"),
        "{one}"
    );
    let audit = ok(tessera(
        &root,
        &[
            "audit",
            "--as",
            DPO,
            "--purpose",
            "compliance",
            "--format",
            "json",
            "--limit",
            "200",
        ],
    ));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let erase = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "erase" && r["outcome"] == "ok")
        .expect("an erase record");
    assert!(erase["resources"].to_string().contains(id), "{erase}");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "erase" && r["outcome"] == "denied"),
        "the refusal is audited"
    );

    // Rebuilding every product from the original source files does not bring it back.
    ok(tessera(&root, &["publish", "--force", "--quiet"]));
    assert_eq!(dpo_counts(&root, key), vec![0; SUBJECT_PORTS.len()]);

    // Old versions still hold it until vacuum; afterwards no file does.
    let found = find_key(&root, key);
    assert!(
        !found["found"].as_array().unwrap().is_empty(),
        "old versions hold the key before vacuum: {found}"
    );
    ok(tessera(&root, &["vacuum", "--older-than", "0s", "--quiet"]));
    let found = find_key(&root, key);
    assert!(
        found["parquet_files"].as_i64().unwrap() >= SUBJECT_PORTS.len() as i64,
        "{found}"
    );
    assert_eq!(found["found"], serde_json::json!([]), "{found}");
    // Other customers are still there, and every port still answers.
    let others = dpo_counts(&root, "43");
    assert!(others.iter().all(|n| *n > 0), "{others:?}");
}

#[test]
fn an_erasure_killed_in_the_middle_is_rolled_forward_by_the_next_run() {
    let (_tmp, root) = demo();
    let before = dpo_counts(&root, "42");

    // Killed after two ports were erased and recorded.
    let out = tessera_env(
        &root,
        &[
            "erase",
            "--subject",
            "customer_id=42",
            "--as",
            DPO,
            "--quiet",
        ],
        &[("TESSERA_FAILPOINT", "erase-after-ports:2")],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let counts = dpo_counts(&root, "42");
    assert_eq!(
        counts.iter().filter(|n| **n == 0).count(),
        2,
        "{counts:?} (before: {before:?})"
    );
    let listed = ok(tessera(&root, &["erase", "report"]));
    assert!(
        listed.contains("running") && listed.contains("not finished"),
        "{listed}"
    );

    // Rolling it forward needs the erase action too.
    let refused = tessera(
        &root,
        &["erase", "--resume", "--as", "ben.carter@example.com"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("may not erase from"),
        "{}",
        text(&refused)
    );

    // The next run finishes it: its report says what the crash left.
    let reports = erase_json(&root, &["--resume"], &[]);
    assert_eq!(reports.as_array().unwrap().len(), 1, "{reports}");
    let r = &reports[0];
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["resumed"], true);
    let interruption = r["interruption"].as_str().unwrap();
    assert!(
        interruption.contains("2 of 6 ports recorded done"),
        "{interruption}"
    );
    assert_eq!(
        r["rows_deleted"].as_i64().unwrap(),
        before.iter().sum::<i64>(),
        "{r}"
    );
    assert_eq!(dpo_counts(&root, "42"), vec![0; SUBJECT_PORTS.len()]);
    // Nothing left to resume.
    let again = ok(tessera(&root, &["erase", "--resume", "--as", DPO]));
    assert!(again.contains("no interrupted erasure"), "{again}");

    // Killed after a port's Delta commit, before the commit was recorded: the next erase of
    // the same subject finds the commit in the log instead of deleting twice.
    let before = dpo_counts(&root, "43");
    let out = tessera_env(
        &root,
        &[
            "erase",
            "--subject",
            "customer_id=43",
            "--as",
            DPO,
            "--quiet",
        ],
        &[("TESSERA_FAILPOINT", "erase-after-commit:1")],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let reports = erase_json(&root, &["--subject", "customer_id=43"], &[]);
    assert_eq!(
        reports.as_array().unwrap().len(),
        1,
        "one erasure, not two: {reports}"
    );
    let r = &reports[0];
    assert_eq!(r["resumed"], true, "{r}");
    let first = &r["ports"][0];
    assert_eq!(first["outcome"], "done before the interruption", "{r}");
    assert!(first["rows_deleted"].as_i64().unwrap() > 0, "{r}");
    assert_eq!(
        r["rows_deleted"].as_i64().unwrap(),
        before.iter().sum::<i64>(),
        "{r}"
    );
    assert_eq!(dpo_counts(&root, "43"), vec![0; SUBJECT_PORTS.len()]);
}

#[test]
fn erase_says_what_is_wrong_with_a_subject() {
    let (_tmp, root) = demo();
    for (subject, expected) in [
        ("customer_id", "expected <column>=<key>"),
        ("customer_id=", "the key after `=` is empty"),
        (
            "email=a@b",
            "neither a subject-key column nor a subject kind",
        ),
    ] {
        let out = tessera(&root, &["erase", "--subject", subject, "--as", DPO]);
        assert_eq!(out.status.code(), Some(1), "{subject}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{subject}: {stderr}");
    }
    // By kind works as well as by column.
    let plan = erase_json(&root, &["--subject", "customer=7", "--dry-run"], &[]);
    assert_eq!(plan["subject_kind"], "customer");
}

#[test]
fn a_subject_export_has_every_row_with_its_port_and_version_and_who_read_them() {
    let (tmp, root) = demo();
    // Someone reads a port holding customers.
    ok(tessera(
        &root,
        &[
            "sql",
            "--as",
            "ben.carter@example.com",
            "--purpose",
            "analytics",
            "SELECT count(*) FROM crm.customers",
        ],
    ));
    let out = ok(tessera(
        &root,
        &[
            "subject",
            "export",
            "--subject",
            "customer_id=42",
            "--as",
            DPO,
            "--purpose",
            "compliance",
        ],
    ));
    let x: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(x["subject_kind"], "customer");
    let ports = x["ports"].as_array().unwrap();
    assert_eq!(ports.len(), SUBJECT_PORTS.len(), "{x}");
    let counts = dpo_counts(&root, "42");
    let mut by_table: Vec<(String, i64)> = ports
        .iter()
        .map(|p| {
            (
                p["table"].as_str().unwrap().to_string(),
                p["rows"].as_array().unwrap().len() as i64,
            )
        })
        .collect();
    by_table.sort();
    assert_eq!(
        by_table.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        counts,
        "{by_table:?}"
    );
    for p in ports {
        assert_eq!(p["version"], 0, "{p}");
        assert!(p["product"].as_str().unwrap().contains('/'), "{p}");
        for row in p["rows"].as_array().unwrap() {
            assert_eq!(row["customer_id"], 42, "{row}");
        }
    }
    let reads = x["reads"].as_array().unwrap();
    assert!(
        reads
            .iter()
            .any(|r| r["principal"] == "ben.carter@example.com" && r["purpose"] == "analytics"),
        "{reads:?}"
    );
    // HTML, and an export as someone who sees less: masked, filtered, or not permitted.
    let html = tmp.path().join("report.html");
    ok(tessera(
        &root,
        &[
            "subject",
            "export",
            "--subject",
            "customer=42",
            "--as",
            DPO,
            "--purpose",
            "compliance",
            "-o",
            html.to_str().unwrap(),
        ],
    ));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Subject access export") && page.contains("crm.customers"),
        "{page}"
    );
    let bad = tessera(
        &root,
        &[
            "subject",
            "export",
            "--subject",
            "customer_id=42",
            "--as",
            DPO,
            "--purpose",
            "compliance",
            "-o",
            "x.csv",
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".json or .html"));
}

#[test]
fn retention_apply_deletes_the_rows_older_than_the_contract_keeps() {
    let (_tmp, root) = demo();
    let count = |cond: &str| -> i64 {
        let out = ok(tessera(
            &root,
            &[
                "sql",
                "--as",
                DPO,
                "--purpose",
                "compliance",
                "--format",
                "csv",
                &format!("SELECT CAST(count(*) AS BIGINT) FROM web.events WHERE {cond}"),
            ],
        ));
        out.lines().nth(1).unwrap().parse().unwrap()
    };
    // The demo's clickstream (a past year) is kept 13 months; keep it only as many days as
    // reach back to the middle of its year.
    let days = {
        let out = ok(tessera(
            &root,
            &[
                "sql",
                "--as",
                DPO,
                "--purpose",
                "compliance",
                "--format",
                "csv",
                "SELECT CAST((to_unixtime(now()) - (to_unixtime(min(ts)) + to_unixtime(max(ts))) / 2) / 86400 AS BIGINT) FROM web.events",
            ],
        ));
        out.lines().nth(1).unwrap().parse::<i64>().unwrap()
    };
    let contract = root.join("domains/web/events/events.odcs.yaml");
    let text = std::fs::read_to_string(&contract).unwrap();
    let shorter = text.replace(
        "value: 13\n    unit: month",
        &format!("value: {days}\n    unit: d"),
    );
    assert_ne!(text, shorter);
    std::fs::write(&contract, shorter).unwrap();
    let cutoff = format!("ts < now() - INTERVAL '{days} days'");
    let expired = count(&cutoff);
    let total = count("true");
    assert!(expired > 0 && expired < total, "{expired} of {total}");

    let shown = ok(tessera(&root, &["retention", "show"]));
    assert!(
        shown.contains("web.events") && shown.contains(&format!("{days} d")),
        "{shown}"
    );
    // customer_360's retention names no column: said, not silently skipped.
    assert!(shown.contains("cannot apply"), "{shown}");

    let out = ok(tessera(
        &root,
        &["retention", "apply", "--as", DPO, "--format", "json"],
    ));
    let applied: serde_json::Value = serde_json::from_str(&out).unwrap();
    let events = applied
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"]["table"] == "web.events")
        .unwrap();
    // Rows within a second of the cutoff may fall either way between the two clocks.
    let deleted = events["rows_deleted"].as_i64().unwrap();
    assert!(
        (deleted - expired).abs() <= 2,
        "{deleted} vs {expired}: {events}"
    );
    assert_eq!(events["version_after"], 1, "{events}");
    assert!(count(&cutoff) <= 2);
    assert_eq!(count("true"), total - deleted);
    // Recorded in the audit log.
    let audit = ok(tessera(
        &root,
        &[
            "audit",
            "--as",
            DPO,
            "--purpose",
            "compliance",
            "--table",
            "web.events",
            "--format",
            "json",
        ],
    ));
    assert!(audit.contains("\"retention\""), "{audit}");
}
