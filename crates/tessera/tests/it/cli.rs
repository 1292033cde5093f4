//! The binary as users run it: real folders, real files, exit codes and output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn tessera(dir: &Path, args: &[&str]) -> Output {
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// A fresh mesh made by `tessera init`, in a temp folder.
fn init_mesh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tessera(tmp.path(), &["init", "demo", "--owner", "ada@example.com"]);
    assert_eq!(code(&out), 0, "init failed: {}", stderr(&out));
    let root = tmp.path().join("demo");
    (tmp, root)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_then_validate_is_clean() {
    let (_tmp, root) = init_mesh();
    let out = tessera(&root, &["validate"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "valid: mesh with 1 domain, 1 product, 1 output port, 1 source (10 files); 0 errors, 0 warnings\n"
    );
    assert!(root.join("data/crm/raw_customers.csv").is_file());
    let mesh = fs::read_to_string(root.join("mesh.yaml")).unwrap();
    assert!(mesh.contains("name: demo"), "{mesh}");
}

#[test]
fn init_refuses_a_non_empty_folder_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("taken");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("keep.txt"), "mine").unwrap();
    let out = tessera(tmp.path(), &["init", "taken"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("already exists and is not an empty folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files_under(&dir), ["keep.txt"]);
    // No staging folder is left behind either.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["taken"]);
}

#[test]
fn init_into_an_empty_folder_works() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = tessera(
        tmp.path(),
        &["init", "empty", "--name", "Acme: marketing #1"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mesh = fs::read_to_string(tmp.path().join("empty/mesh.yaml")).unwrap();
    assert!(mesh.contains("name: \"Acme: marketing #1\""), "{mesh}");
    assert_eq!(code(&tessera(&tmp.path().join("empty"), &["validate"])), 0);
}

#[test]
fn new_product_with_an_input_validates() {
    let (_tmp, root) = init_mesh();
    let out = tessera(
        &root.join("domains"),
        &[
            "new",
            "product",
            "marketing/segments",
            "--input",
            "crm.customers.customers",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for f in [
        "domains/marketing/domain.yaml",
        "domains/marketing/segments/dataproduct.yaml",
        "domains/marketing/segments/segments.odcs.yaml",
        "domains/marketing/segments/segments.sql",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    let sql = fs::read_to_string(root.join("domains/marketing/segments/segments.sql")).unwrap();
    assert!(sql.contains("FROM crm.customers"), "{sql}");
    // The new domain's owner is taken from --owner's default chain; the product's from the domain.
    let out = tessera(&root, &["validate"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("2 domains, 2 products"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn new_product_refuses_unknown_inputs_and_existing_products() {
    let (_tmp, root) = init_mesh();
    let out = tessera(
        &root,
        &[
            "new",
            "product",
            "marketing/segments",
            "--input",
            "crm.customer.customers",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no source or output port in the mesh has contract id `crm.customer.customers`; did you mean `crm.customers.customers`?"),
        "{}",
        stderr(&out)
    );
    assert!(
        !root.join("domains/marketing").exists(),
        "nothing may be written"
    );

    let out = tessera(&root, &["new", "product", "crm/customers"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("product crm/customers already exists"),
        "{}",
        stderr(&out)
    );

    let out = tessera(&root, &["new", "product", "Marketing/x"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("try `marketing`"), "{}", stderr(&out));

    let outside = tempfile::tempdir().unwrap();
    let out = tessera(outside.path(), &["new", "product", "crm/orders"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("is not inside a mesh"),
        "{}",
        stderr(&out)
    );
}

/// Breaks a scaffolded mesh in several ways at once.
fn broken_mesh() -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = init_mesh();
    let contract = root.join("domains/crm/customers/customers.odcs.yaml");
    let text = fs::read_to_string(&contract).unwrap().replacen(
        "logicalType: integer",
        "logicalTyp: integer",
        1,
    );
    fs::write(&contract, text).unwrap();
    fs::write(
        root.join("domains/crm/customers/customers.sql"),
        "SELECT id FROM crm.raw_customer\n",
    )
    .unwrap();
    (tmp, root)
}

#[test]
fn validate_reports_every_problem_with_its_location_and_exits_1() {
    let (_tmp, root) = broken_mesh();
    let out = tessera(&root, &["validate"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("domains/crm/customers/customers.odcs.yaml:18:9: error[unknown-field]: schema[0].properties[0].logicalTyp: unknown field `logicalTyp` in schema property\n  help: did you mean `logicalType`?"),
        "{text}"
    );
    assert!(
        text.contains("domains/crm/customers/customers.sql:1:16: error[unknown-table]: the query reads `crm.raw_customer`, which is not an input of this product\n  help: did you mean `crm.raw_customers`?"),
        "{text}"
    );
    assert!(text.ends_with("2 errors, 0 warnings\n"), "{text}");
}

#[test]
fn validate_json_is_machine_readable() {
    let (_tmp, root) = broken_mesh();
    let out = tessera(&root, &["validate", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let report: Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"], 2);
    assert_eq!(report["mesh"]["products"], 1);
    let first = &report["diagnostics"][0];
    assert_eq!(first["code"], "unknown-field");
    assert_eq!(first["file"], "domains/crm/customers/customers.odcs.yaml");
    assert_eq!(first["location"]["line"], 18);
    assert_eq!(first["location"]["column"], 9);
    assert_eq!(first["path"], "schema[0].properties[0].logicalTyp");
    assert_eq!(first["help"], "did you mean `logicalType`?");
}

#[test]
fn validate_a_mesh_from_outside_prefixes_paths() {
    let (tmp, _root) = broken_mesh();
    let out = tessera(tmp.path(), &["validate", "demo"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("\ndemo/domains/crm/customers/customers.sql:1:16:"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn validate_a_product_folder_or_one_file() {
    let (_tmp, root) = broken_mesh();
    let out = tessera(&root, &["validate", "domains/crm/customers"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out)
            .contains("invalid: domains/crm/customers (checked with the whole mesh); 2 errors"),
        "{}",
        stdout(&out)
    );

    let out = tessera(&root, &["validate", "domains/crm/sources"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    let out = tessera(
        &root,
        &["validate", "domains/crm/customers/customers.odcs.yaml"],
    );
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out)
            .starts_with("domains/crm/customers/customers.odcs.yaml:18:9: error[unknown-field]"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("invalid: file (on its own"),
        "{}",
        stdout(&out)
    );

    let out = tessera(
        &root,
        &["validate", "domains/crm/sources/raw_customers.odcs.yaml"],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn validate_usage_and_io_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tessera(tmp.path(), &["validate", "nowhere"]);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out), "error: nowhere: no such file or folder\n");

    let out = tessera(tmp.path(), &["validate"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("is not a mesh"), "{}", stderr(&out));

    let out = tessera(tmp.path(), &["validate", "--format", "xml"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("invalid value 'xml'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn deny_warnings_turns_warnings_into_failure() {
    let (_tmp, root) = init_mesh();
    fs::write(root.join("domains/crm/customers/old.sql"), "SELECT 1").unwrap();
    let out = tessera(&root, &["validate"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("warning[unused-file]"),
        "{}",
        stdout(&out)
    );
    let out = tessera(&root, &["validate", "--deny-warnings"]);
    assert_eq!(code(&out), 1);
}

#[test]
fn help_texts() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["new", "product", "--help"],
        vec!["validate", "--help"],
        vec!["build", "--help"],
        vec!["test", "--help"],
        vec!["publish", "--help"],
        vec!["runs", "--help"],
        vec!["versions", "--help"],
        vec!["status", "--help"],
        vec!["demo", "--help"],
        vec!["sql", "--help"],
        vec!["explain", "--help"],
        vec!["serve", "--help"],
        vec!["token", "create", "--help"],
        vec!["access", "--help"],
        vec!["access", "request", "--help"],
        vec!["access", "list", "--help"],
        vec!["access", "approve", "--help"],
        vec!["access", "deny", "--help"],
        vec!["erase", "--help"],
        vec!["vacuum", "--help"],
        vec!["subject", "export", "--help"],
        vec!["retention", "apply", "--help"],
    ] {
        let out = tessera(tmp.path(), &args);
        assert_eq!(code(&out), 0);
        insta::assert_snapshot!(args.join("_").replace("--", ""), stdout(&out));
    }
}

/// The SQL tests' fixture mesh (crates/tessera-engine/tests/slt/mesh), published.
pub(crate) fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy(&p, &target);
        } else {
            fs::copy(&p, &target).unwrap();
        }
    }
}

fn published_sql_mesh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mesh");
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-engine/tests/slt/mesh"),
        &root,
    );
    let out = tessera(&root, &["publish", "--quiet"]);
    assert_eq!(code(&out), 0, "publish failed: {}", stderr(&out));
    (tmp, root)
}

fn tessera_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env_remove("TESSERA_MESH")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tessera");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn sql_prints_results_in_every_format_and_exits_1_on_a_bad_query() {
    let (_tmp, root) = published_sql_mesh();
    let q = "SELECT order_id, amount, status FROM shop.orders WHERE order_id < 103 ORDER BY 1";

    let out = tessera(&root, &["sql", q]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("| 101      | 19.99  | paid   |"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).ends_with("(2 rows)\n"), "{}", stdout(&out));

    let out = tessera(&root, &["sql", q, "--format", "csv"]);
    assert_eq!(
        stdout(&out),
        "order_id,amount,status\n101,19.99,paid\n102,5.01,paid\n"
    );

    let out = tessera(&root, &["sql", q, "--format", "ndjson"]);
    assert_eq!(
        stdout(&out),
        "{\"order_id\":101,\"amount\":19.99,\"status\":\"paid\"}\n{\"order_id\":102,\"amount\":5.01,\"status\":\"paid\"}\n"
    );

    let out = tessera(
        &root,
        &[
            "sql",
            "SELECT name, email FROM shop.customers WHERE id = 3",
            "--format",
            "json",
        ],
    );
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows, serde_json::json!([{"name": "Linus", "email": null}]));

    // An empty result still has its header.
    let out = tessera(
        &root,
        &[
            "sql",
            "SELECT id FROM shop.customers WHERE false",
            "--format",
            "csv",
        ],
    );
    assert_eq!(stdout(&out), "id\n");

    // SQL from stdin, several statements in order.
    let out = tessera_stdin(&root, &["sql"], "SELECT 1 AS a;\nSELECT 2 AS b;\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("| a |") && stdout(&out).contains("| b |"),
        "{}",
        stdout(&out)
    );

    // A failing query: exit 1, the error on stderr, nothing on stdout.
    let out = tessera(&root, &["sql", "SELECT * FROM shop.ordrs"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("did you mean one of shop.orders,"),
        "{}",
        stderr(&out)
    );

    // The deprecated port answers, with a warning on stderr.
    let out = tessera(&root, &["sql", "SELECT count(*) FROM shop.legacy_orders"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("warning: shop.legacy_orders is deprecated"),
        "{}",
        stderr(&out)
    );

    // Binary formats need a file (or a pipe); usage errors exit 2.
    let out = tessera(&root, &["sql", q, "-o", "result.xlsx"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("cannot tell the format of result.xlsx"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sql_exports_to_files_whole_or_not_at_all() {
    let (_tmp, root) = published_sql_mesh();
    let out = tessera(
        &root,
        &[
            "sql",
            "SELECT * FROM shop.orders",
            "-o",
            "orders.parquet",
            "--timing",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrote 6 rows to orders.parquet"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("read shop.orders v0"),
        "{}",
        stderr(&out)
    );
    // Tessera reads its own export back (as a file, it is not a table: via a new mesh
    // source it would be; here the Parquet magic and row count are checked).
    let bytes = fs::read(root.join("orders.parquet")).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");

    let out = tessera(
        &root,
        &["sql", "SELECT * FROM shop.orders", "-o", "orders.arrow"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        &fs::read(root.join("orders.arrow")).unwrap()[..6],
        b"ARROW1"
    );

    // A query that fails mid-way leaves no file, not even a partial one (the metadata
    // store's own files under .tessera/ come and go with SQLite's journal).
    let user_files = || {
        files_under(&root)
            .into_iter()
            .filter(|f| !f.starts_with(".tessera/"))
            .collect::<Vec<_>>()
    };
    let before = user_files();
    let out = tessera(
        &root,
        &[
            "sql",
            "SELECT 1 / (order_id - 104) FROM shop.orders",
            "-o",
            "broken.csv",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("Divide by zero"), "{}", stderr(&out));
    assert_eq!(user_files(), before);
}

#[test]
fn explain_shows_the_plans_and_analyze_the_metrics() {
    let (_tmp, root) = published_sql_mesh();
    let q = "SELECT status, count(*) FROM shop.orders WHERE ordered_at > '2026-03-10' GROUP BY 1";
    let out = tessera(&root, &["explain", q]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Logical plan (optimized):"), "{text}");
    assert!(text.contains("TableScan: shop.orders"), "{text}");
    assert!(text.contains("Physical plan:"), "{text}");
    assert!(text.contains("AggregateExec"), "{text}");

    let out = tessera(&root, &["explain", "--analyze", q]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("metrics=[output_rows="),
        "{}",
        stdout(&out)
    );

    let out = tessera(&root, &["explain", "DROP TABLE shop.orders"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
}

/// The governed fixture mesh (crates/tessera-engine/tests/governance/mesh), published.
fn published_governed_mesh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mesh");
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-engine/tests/governance/mesh"),
        &root,
    );
    let out = tessera(&root, &["publish", "--quiet"]);
    assert_eq!(code(&out), 0, "publish failed: {}", stderr(&out));
    (tmp, root)
}

#[test]
fn tokens_are_created_listed_and_revoked_from_the_cli() {
    let (_tmp, root) = published_governed_mesh();

    // Only declared principals and the mesh's purposes.
    let out = tessera(&root, &["token", "create", "--principal", "samm"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "error: `samm` is not declared in policies/principals.yaml; did you mean `sam`?\n"
    );
    let out = tessera(
        &root,
        &[
            "token",
            "create",
            "--principal",
            "sam",
            "--purposes",
            "analytics,bogus",
        ],
    );
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("`bogus` is not a purpose of this mesh"),
        "{}",
        stderr(&out)
    );

    // The token is printed once, on stdout alone; what is stored is listed without it.
    let out = tessera(
        &root,
        &[
            "token",
            "create",
            "--principal",
            "sam",
            "--purposes",
            "analytics",
            "--expires",
            "7d",
            "--note",
            "ci",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let token = stdout(&out).trim().to_string();
    assert!(token.starts_with("tsr_") && token.len() == 47, "{token}");
    assert!(
        stderr(&out).contains("for sam, purposes analytics, expires"),
        "{}",
        stderr(&out)
    );
    let out = tessera(&root, &["token", "list", "--format", "json"]);
    assert_eq!(code(&out), 0);
    assert!(
        !stdout(&out).contains(&token),
        "the list never shows a token"
    );
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed = &list[0];
    assert_eq!(listed["principal"], "sam");
    assert_eq!(listed["purposes"], serde_json::json!(["analytics"]));
    assert_eq!(listed["note"], "ci");
    assert!(listed["revoked_at"].is_null());
    let id = listed["id"].as_str().unwrap().to_string();
    // Nor is the token anywhere in the metadata store's files (with SQLite's WAL): only
    // its hash.
    for file in ["catalog.db", "catalog.db-wal"] {
        let Ok(bytes) = fs::read(root.join(".tessera").join(file)) else {
            continue;
        };
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is stored in clear in {file}"
        );
    }

    let out = tessera(&root, &["token", "revoke", &id]);
    assert_eq!((code(&out), stdout(&out)), (0, format!("revoked {id}\n")));
    let out = tessera(&root, &["token", "revoke", &id]);
    assert_eq!(stdout(&out), format!("{id} was already revoked\n"));
    let out = tessera(&root, &["token", "revoke", "tok_nope"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no token `tok_nope`"),
        "{}",
        stderr(&out)
    );
    let out = tessera(&root, &["token", "list"]);
    assert!(stdout(&out).contains("revoked"), "{}", stdout(&out));
}

#[test]
fn governed_sessions_policy_check_tests_audit_and_rules_from_the_cli() {
    let (_tmp, root) = published_governed_mesh();

    // Who is asking, and why, or nothing.
    let out = tessera(&root, &["sql", "SELECT 1"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("say who you are and why"),
        "{}",
        stderr(&out)
    );

    let out = tessera(
        &root,
        &[
            "sql",
            "--as",
            "ana",
            "--purpose",
            "analytics",
            "--format",
            "csv",
            "SELECT id, email, country FROM shop.customers ORDER BY id",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "id,email,country\n1,***@example.com,GB\n2,***@example.com,US\n4,***@example.com,US\n"
    );

    let out = tessera(
        &root,
        &[
            "policy",
            "check",
            "--as",
            "dan",
            "--purpose",
            "modelling",
            "shop.customers",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("name")
            && l.contains("ABSENT")
            && l.contains("no-pii-for-modelling")),
        "{text}"
    );
    assert!(
        text.contains("consent: only rows whose id consented to `analytics`"),
        "{text}"
    );

    // Governance as testable code: a passing test, then a wrong expectation.
    let test = "statement ok\nSET tessera.principal = 'finn'\n\nstatement ok\nSET tessera.purpose = 'finance_reporting'\n\nquery T\nSELECT amount FROM shop.orders WHERE order_id = 103\n----\n100.00\n";
    fs::create_dir_all(root.join("policies/tests")).unwrap();
    fs::write(root.join("policies/tests/finance.slt"), test).unwrap();
    let out = tessera(&root, &["policy", "test"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("1 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
    fs::write(
        root.join("policies/tests/finance.slt"),
        test.replace("100.00", "100.01"),
    )
    .unwrap();
    let out = tessera(&root, &["policy", "test"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("FAILED"), "{}", stdout(&out));
    fs::remove_dir_all(root.join("policies/tests")).unwrap();

    // The audit log: for those who may read it, and intact until edited by hand.
    let out = tessera(&root, &["audit", "--as", "ana", "--purpose", "analytics"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("may not read the audit log"),
        "{}",
        stderr(&out)
    );
    let out = tessera(
        &root,
        &[
            "audit",
            "--as",
            "dora",
            "--purpose",
            "compliance",
            "--principal",
            "ana",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let records: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let records = records.as_array().unwrap();
    assert!(
        records.iter().any(|r| r["statement"]
            .as_str()
            .is_some_and(|s| s.contains("FROM shop.customers"))
            && r["row_count"] == 3
            && r["outcome"] == "ok"),
        "{records:#?}"
    );
    assert!(records.iter().all(|r| r["principal"] == "ana"));
    let out = tessera(&root, &["audit", "verify"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("intact"), "{}", stdout(&out));
    let edit = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit SET row_count = 0 WHERE principal = 'ana'\"); c.commit()")
        .arg(root.join(".tessera/catalog.db"))
        .output()
        .expect("python3 is needed to edit the audit log by hand");
    assert!(
        edit.status.success(),
        "{}",
        String::from_utf8_lossy(&edit.stderr)
    );
    let out = tessera(&root, &["audit", "verify"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("NOT intact"), "{}", stdout(&out));

    // Publishing: domain owners their own domain only; error-level rules refuse.
    let out = tessera(&root, &["publish", "--as", "wendy", "shop/customers"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("wendy may not publish shop/customers"),
        "{}",
        stderr(&out)
    );
    let product = root.join("domains/shop/consents/dataproduct.yaml");
    let text = fs::read_to_string(&product).unwrap();
    fs::write(&product, &text[..text.find("team:").unwrap()]).unwrap();
    let out = tessera(
        &root,
        &["publish", "--as", "sam", "--force", "shop/consents"],
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("products_have_an_owner.sql: shop/consents: no owning team"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing was published"));
    let out = tessera(&root, &["validate"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("products_have_an_owner.sql"),
        "{}",
        stdout(&out)
    ); // Both refusals are in the audit log.
    let out = tessera(
        &root,
        &[
            "audit",
            "--as",
            "dora",
            "--purpose",
            "compliance",
            "--outcome",
            "denied",
            "--format",
            "json",
        ],
    );
    let records: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let refused: Vec<(&str, &str)> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "publish")
        .map(|r| {
            (
                r["principal"].as_str().unwrap(),
                r["resources"][0]["product"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [("sam", "shop/consents"), ("wendy", "shop/customers")]
    );
}
