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
        "valid: mesh with 1 domain, 1 product, 1 output port, 1 source (7 files); 0 errors, 0 warnings\n"
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
        vec!["demo", "--help"],
        vec!["sql", "--help"],
        vec!["explain", "--help"],
    ] {
        let out = tessera(tmp.path(), &args);
        assert_eq!(code(&out), 0);
        insta::assert_snapshot!(args.join("_").replace("--", ""), stdout(&out));
    }
}
