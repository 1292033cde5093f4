//! build / test / publish through the binary, the demo, and publishes killed at random
//! moments.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn tessera(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env("USER", "tester")
        .env_remove("TESSERA_MESH")
        .output()
        .expect("run tessera")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn init_mesh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tessera(tmp.path(), &["init", "m", "--owner", "ada@example.com"]);
    assert!(out.status.success(), "{}", text(&out));
    let root = tmp.path().join("m");
    (tmp, root)
}

const SOURCE: &str = "data/crm/raw_customers.csv";

#[test]
fn demo_publishes_every_product_and_a_second_publish_skips_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.to_str().unwrap();
    let out = tessera(tmp.path(), &["demo", "--scale", "0.01", "--dir", d]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("9 succeeded, 0 unchanged, 0 failed"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("Try next"),
        "the demo ends with what to try next"
    );

    let again = tessera(&dir, &["publish", "--format", "json"]);
    assert!(again.status.success(), "{}", text(&again));
    let outcomes = json(&again);
    let statuses: Vec<&str> = outcomes
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["skipped"; 9]);

    // History: runs with checks, and versions per port.
    let runs = json(&tessera(
        &dir,
        &["runs", "--format", "json", "--limit", "50"],
    ));
    // Nine publishes, and nine that found nothing changed: recorded as skipped (the
    // `frequency` SLA counts them), newest first.
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [vec!["skipped"; 9], vec!["succeeded"; 9]].concat()
    );
    let id = runs[9]["id"].as_str().unwrap();
    let one = json(&tessera(&dir, &["runs", "--id", id, "--format", "json"]));
    assert!(!one["checks"].as_array().unwrap().is_empty());
    let versions = json(&tessera(
        &dir,
        &["versions", "marketing/customer_360", "--format", "json"],
    ));
    assert_eq!(versions[0]["versions"][0]["version"], 0);

    // The published version passes its contract when tested again.
    let test = tessera(&dir, &["test", "marketing/customer_360", "--published"]);
    assert!(test.status.success(), "{}", text(&test));
    assert!(String::from_utf8_lossy(&test.stdout).contains("passed"));
}

#[test]
fn an_unknown_product_is_a_usage_error_with_a_suggestion() {
    let (_tmp, root) = init_mesh();
    let out = tessera(&root, &["publish", "crm/customer"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean `crm/customers`?"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_failed_publish_exits_1_and_shows_the_failing_check_with_samples() {
    let (_tmp, root) = init_mesh();
    // The port's names grow past the contract's maxLength of 200.
    let sql = root.join("domains/crm/customers/customers.sql");
    let text_sql = fs::read_to_string(&sql).unwrap();
    fs::write(
        &sql,
        text_sql.replace("    name\n", "    name || repeat('!', 200) AS name\n"),
    )
    .unwrap();
    let out = tessera(&root, &["publish"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("nothing was published"), "{all}");
    assert!(all.contains("customers: name: maxLength 200"), "{all}");
    assert!(
        all.contains("e.g. {\"id\":"),
        "a sample row is shown: {all}"
    );
    assert!(all.contains("quarantined at"), "{all}");
    assert!(
        !root
            .join(".tessera/data/crm/customers/customers/_delta_log")
            .exists()
    );

    // A source row that breaks the source's contract stops the build before the SQL runs.
    fs::write(&sql, text_sql).unwrap();
    let src = root.join(SOURCE);
    let csv = fs::read_to_string(&src).unwrap();
    fs::write(&src, format!("{csv},No Id,noid@example.com,GB\n")).unwrap();
    let out = tessera(&root, &["publish"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("the source crm.raw_customers broke error-level checks"),
        "{all}"
    );
    assert!(all.contains("\"name\":\"No Id\""), "{all}");
}

/// Source rows for the kill test: enough that a publish takes a moment.
fn write_customers(path: &Path, n: usize) {
    let mut s = String::from("id,name,email,country\n");
    for i in 1..=n {
        s.push_str(&format!("{i},Name {i},user{i}@example.com,GB\n"));
    }
    fs::write(path, s).unwrap();
}

fn delta_versions(root: &Path) -> Vec<i64> {
    let log = root.join(".tessera/data/crm/customers/customers/_delta_log");
    let mut v: Vec<i64> = fs::read_dir(&log)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.strip_suffix(".json")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_publish_killed_at_random_moments_leaves_the_last_good_version_or_the_new_one() {
    let (_tmp, root) = init_mesh();
    let src = root.join(SOURCE);
    let mut rows = 60_000;
    write_customers(&src, rows);
    let first = tessera(&root, &["publish", "--quiet"]);
    assert!(first.status.success(), "{}", text(&first));

    // How long an undisturbed publish takes, to spread the kills over it.
    rows += 1;
    write_customers(&src, rows);
    let started = Instant::now();
    assert!(tessera(&root, &["publish", "--quiet"]).status.success());
    let typical = started.elapsed();

    let mut good_rows = vec![rows as i64 - 1, rows as i64];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    for _ in 0..12 {
        rows += 1;
        write_customers(&src, rows);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = typical.mul_f64((seed >> 33) as f64 / (1u64 << 31) as f64 * 1.2);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["publish", "--quiet"])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();

        // After a restart the catalog agrees with the Delta log…
        let out = tessera(&root, &["versions", "crm/customers", "--format", "json"]);
        assert!(out.status.success(), "{}", text(&out));
        let recorded: Vec<i64> = json(&out)[0]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(recorded, delta_versions(&root), "catalog and log disagree");

        // …and the table reads as a whole version: the last good one or the new one.
        let out = tessera(
            &root,
            &["test", "crm/customers", "--published", "--format", "json"],
        );
        assert!(out.status.success(), "{}", text(&out));
        let read = json(&out)[0]["ports"][0]["rows"].as_i64().unwrap();
        assert!(
            read == rows as i64 || good_rows.contains(&read),
            "read {read} rows; committed versions had {good_rows:?}, the new one {rows}"
        );
        let latest = json(&tessera(
            &root,
            &["versions", "crm/customers", "--format", "json"],
        ))[0]["versions"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["rows"]
            .as_i64()
            .unwrap();
        assert_eq!(
            latest, read,
            "the catalog's latest version is what the table serves"
        );
        good_rows.push(read);
    }
    assert!(
        killed > 0,
        "no publish was interrupted; the kill timing is off"
    );
    // The interrupted runs are marked so once the next process starts.
    let runs = json(&tessera(
        &root,
        &["runs", "--format", "json", "--limit", "50"],
    ));
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "running"),
        "no run is left claiming to run: {runs:#}"
    );
    let _ = Duration::ZERO;
}
