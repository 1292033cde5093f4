//! The differential test (issue 4): every query of `tests/differential/queries.sql`, asked
//! of Tessera's query session and of DuckDB reading the same Delta snapshots' Parquet
//! files, must give the same rows (after sorting), value for value.
//!
//! ```text
//!  tessera demo --scale 0.01 (fixed seed) ─▶ Delta tables under .tessera/data
//!      ├─▶ Engine::open ─▶ query_session().collect(sql) ─▶ Arrow ─▶ canonical strings ─┐
//!      └─▶ _delta_log: the snapshot's files ─▶ duckdb_answers.py (the test venv's      ├─▶ sort, compare
//!                                              python, $TESSERA_TEST_PYTHON) ──────────┘
//! ```
//!
//! Both sides render each value in one canonical form (documented in
//! `tests/differential/duckdb_answers.py`; [`canonical`] here is its Rust half): NULL as
//! JSON null, decimals exactly with their scale, doubles to 15 significant digits,
//! timestamps as UTC instants with microseconds, dates ISO. Queries keep float
//! summation order out of the comparison by rounding doubles in the SQL.
//!
//! `scripts/test` sets up the venv (scripts/test-requirements.txt) and exports
//! `TESSERA_TEST_PYTHON`; without it the test fails rather than skips, so CI cannot pass
//! without having run it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::DateTime;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Float16Type, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Value, json};
use tessera_engine::Engine;
use tessera_model::MeshFile;

const QUERIES: &str = "tests/differential/queries.sql";
const SCRIPT: &str = "tests/differential/duckdb_answers.py";
const SCALE: &str = "0.01";

/// A row as both sides render it: one canonical string per value, `None` for NULL.
type Row = Vec<Option<String>>;

/// One side's answer to one query.
#[derive(Debug)]
struct Answer {
    /// `name type` of each column.
    columns: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Query {
    name: String,
    sql: String,
}

#[test]
fn tessera_and_duckdb_give_the_same_answers_on_the_demo_mesh() {
    let Some(python) = std::env::var_os("TESSERA_TEST_PYTHON") else {
        panic!(
            "TESSERA_TEST_PYTHON is not set: the differential test needs a python with duckdb.\n  \
             Run the tests with scripts/test (it creates the venv from scripts/test-requirements.txt \
             and exports TESSERA_TEST_PYTHON), or point TESSERA_TEST_PYTHON at a python that has \
             the packages of scripts/test-requirements.txt."
        );
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let queries = parse_queries(
        &std::fs::read_to_string(crate_dir.join(QUERIES)).expect("read the query file"),
    );
    assert!(queries.len() >= 20, "issue 4 asks for at least 20 queries");

    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["demo", "--scale", SCALE, "--quiet", "--dir"])
        .arg(&root)
        .current_dir(tmp.path())
        .env("USER", "tester")
        .env_remove("TESSERA_MESH")
        .output()
        .expect("run tessera demo");
    assert!(
        out.status.success(),
        "tessera demo failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let demo_took = started.elapsed();

    let tables = snapshot_files(&root.join(".tessera/data"));
    let started = Instant::now();
    let duckdb = duckdb_answers(
        Path::new(&python),
        &crate_dir.join(SCRIPT),
        &tables,
        &queries,
    );
    let duckdb_took = started.elapsed();
    let started = Instant::now();
    let tessera = tessera_answers(&root, &queries);
    let tessera_took = started.elapsed();
    eprintln!(
        "differential: {} queries; demo {demo_took:.1?}, DuckDB {duckdb_took:.1?}, Tessera {tessera_took:.1?}",
        queries.len()
    );

    let mut report = String::new();
    let mut failed = 0;
    for (query, (ours, theirs)) in queries.iter().zip(tessera.into_iter().zip(duckdb)) {
        if let Some(diff) = compare(ours, theirs) {
            failed += 1;
            let _ = writeln!(
                report,
                "\n── {} ──\n{}\n{diff}",
                query.name,
                query.sql.trim()
            );
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} queries answered differently by Tessera and DuckDB:\n{report}",
        queries.len()
    );
}

/// Splits the query file at `-- name: <name>` lines; other comments and blank lines
/// before a query's text are kept in it (both engines skip them).
fn parse_queries(text: &str) -> Vec<Query> {
    let mut queries: Vec<Query> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("-- name:") {
            let name = name.trim().to_string();
            assert!(
                !queries.iter().any(|q| q.name == name),
                "{QUERIES}: the name {name} is used twice"
            );
            queries.push(Query {
                name,
                sql: String::new(),
            });
        } else if let Some(q) = queries.last_mut() {
            q.sql.push_str(line);
            q.sql.push('\n');
        }
    }
    for q in &mut queries {
        let sql = q.sql.trim_end().trim_end_matches(';').to_string();
        assert!(
            sql.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--")),
            "{QUERIES}: query {} has no SQL",
            q.name
        );
        q.sql = sql;
    }
    queries
}

/// Each port's Delta table (`<domain>.<port>`) and the Parquet files of its latest
/// snapshot: the `add`s of its JSON commits, in order, less the `remove`s.
fn snapshot_files(data: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut tables = BTreeMap::new();
    for domain in subfolders(data) {
        let domain_name = domain.file_name().unwrap().to_string_lossy().to_string();
        if domain_name.starts_with('_') {
            continue; // _quarantine
        }
        for product in subfolders(&domain) {
            for port in subfolders(&product) {
                let log = port.join("_delta_log");
                if !log.is_dir() {
                    continue;
                }
                assert!(
                    !log.join("_last_checkpoint").exists(),
                    "{}: has a checkpoint; this test reads JSON commits only",
                    log.display()
                );
                let mut commits: Vec<PathBuf> = std::fs::read_dir(&log)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .and_then(|n| n.strip_suffix(".json"))
                            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .collect();
                commits.sort(); // zero-padded versions
                let mut files: Vec<String> = Vec::new();
                for commit in commits {
                    let text = std::fs::read_to_string(&commit).unwrap();
                    for action in text.lines().filter(|l| !l.trim().is_empty()) {
                        let action: Value = serde_json::from_str(action).unwrap();
                        if let Some(add) = action.get("add") {
                            assert!(
                                add["partitionValues"]
                                    .as_object()
                                    .is_none_or(|p| p.is_empty()),
                                "{}: partitioned tables are not supported here",
                                commit.display()
                            );
                            files.push(add["path"].as_str().unwrap().to_string());
                        } else if let Some(remove) = action.get("remove") {
                            let path = remove["path"].as_str().unwrap();
                            files.retain(|f| f != path);
                        }
                    }
                }
                let table = format!(
                    "{domain_name}.{}",
                    port.file_name().unwrap().to_string_lossy()
                );
                assert!(!files.is_empty(), "{table}: no data files in its snapshot");
                let files = files.iter().map(|f| port.join(percent_decode(f))).collect();
                tables.insert(table, files);
            }
        }
    }
    tables
}

fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Delta log paths are URI-encoded relative paths.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(Some(h)), Some(Some(l))) = (
                bytes.get(i + 1).map(|&b| hex(b)),
                bytes.get(i + 2).map(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("a UTF-8 path")
}

/// DuckDB's answers, in query order; a query DuckDB refused fails the test here, since
/// every query is meant to be valid in both dialects.
fn duckdb_answers(
    python: &Path,
    script: &Path,
    tables: &BTreeMap<String, Vec<PathBuf>>,
    queries: &[Query],
) -> Vec<Result<Answer, String>> {
    let request = json!({
        "tables": tables,
        "queries": queries.iter().map(|q| json!({"name": q.name, "sql": q.sql})).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run TESSERA_TEST_PYTHON ({}): {e}; run scripts/test, which sets up the venv",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}\n  (is duckdb installed in that python? scripts/test installs \
         scripts/test-requirements.txt)",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed something that is not JSON ({e}):\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), queries.len());
    results
        .iter()
        .zip(queries)
        .map(|(r, q)| {
            assert_eq!(r["name"].as_str(), Some(q.name.as_str()));
            if let Some(error) = r["error"].as_str() {
                return Err(format!("{error} (DuckDB {})", answer["duckdb"]));
            }
            let columns = r["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["name"].as_str().unwrap(),
                        c["type"].as_str().unwrap()
                    )
                })
                .collect();
            let rows = r["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .collect();
            Ok(Answer { columns, rows })
        })
        .collect()
}

/// Tessera's answers, through the query session every interface uses.
fn tessera_answers(root: &Path, queries: &[Query]) -> Vec<Result<Answer, String>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mesh, diags) = tessera_model::load(&mesh_files(root));
        assert!(!diags.has_errors(), "the demo mesh has errors: {diags:?}");
        let engine = Engine::open(mesh.expect("a mesh"), root)
            .await
            .expect("open the demo mesh");
        let session = engine.query_session();
        let mut answers = Vec::new();
        for q in queries {
            answers.push(match session.collect(&q.sql).await {
                Ok(result) => Ok(Answer {
                    columns: result
                        .schema
                        .fields()
                        .iter()
                        .map(|f| format!("{} {}", f.name(), f.data_type()))
                        .collect(),
                    rows: result.batches.iter().flat_map(canonical_rows).collect(),
                }),
                Err(e) => Err(e.to_string()),
            });
        }
        answers
    })
}

/// The mesh's files, read the way the CLI reads them (crates/tessera/src/files.rs):
/// `.yaml`, `.yml`, `.sql`, `.cedar`, skipping hidden folders and the root `data/`.
fn mesh_files(root: &Path) -> Vec<MeshFile> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<MeshFile>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') || (dir == root && name == "data") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, files);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["yaml", "yml", "sql", "cedar"].contains(&e))
            {
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push(MeshFile {
                    path: rel,
                    bytes: std::fs::read(&path).unwrap(),
                });
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn canonical_rows(batch: &RecordBatch) -> Vec<Row> {
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .map(|column| canonical(column, row))
                .collect()
        })
        .collect()
}

/// One Arrow value in the canonical form of `duckdb_answers.py`.
fn canonical(array: &ArrayRef, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Float16 => double(array.as_primitive::<Float16Type>().value(row).to_f64()),
        DataType::Float32 => double(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => double(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, s) => decimal(
            array
                .as_primitive::<Decimal128Type>()
                .value(row)
                .to_string(),
            *s,
        ),
        DataType::Decimal256(_, s) => decimal(
            array
                .as_primitive::<Decimal256Type>()
                .value(row)
                .to_string(),
            *s,
        ),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            date(i64::from(days) * 86_400_000_000)
        }
        DataType::Date64 => date(array.as_primitive::<Date64Type>().value(row) * 1000),
        DataType::Timestamp(unit, tz) => {
            let micros = match unit {
                TimeUnit::Second => {
                    array.as_primitive::<TimestampSecondType>().value(row) * 1_000_000
                }
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row) * 1000
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value(row)
                    .div_euclid(1000),
            };
            let t = DateTime::from_timestamp_micros(micros).expect("a timestamp in range");
            // A time zone makes the value an instant, written in UTC; none, a local time.
            let suffix = if tz.is_some() { "Z" } else { "" };
            format!("{}{suffix}", t.format("%Y-%m-%dT%H:%M:%S%.6f"))
        }
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        DataType::Dictionary(_, value) => {
            let plain = cast(array, value).expect("a dictionary casts to its value type");
            return canonical(&plain, row);
        }
        other => {
            // Not canonicalised: marked with its type so that it cannot match by accident.
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default()).unwrap();
            format!("<{other}>{}", formatter.value(row))
        }
    })
}

/// The unscaled integer's digits with the point put back: exact, every digit kept (arrow's
/// `format_decimal` cuts a value longer than its precision, which would hide an overflow).
fn decimal(unscaled: String, scale: i8) -> String {
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", unscaled.as_str()),
    };
    if scale <= 0 {
        if digits == "0" {
            return unscaled;
        }
        return format!(
            "{unscaled}{}",
            "0".repeat(usize::from(scale.unsigned_abs()))
        );
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn date(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .expect("a date in range")
        .format("%Y-%m-%d")
        .to_string()
}

/// 15 significant digits, as Python's `format(x, ".14e")` writes them: "1.23450000000000e+01".
fn double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let x = if x == 0.0 { 0.0 } else { x }; // -0.0 as 0.0
    let text = format!("{x:.14e}");
    let (mantissa, exponent) = text.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("a number");
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// `None` when both answers hold the same rows; otherwise what differs.
fn compare(ours: Result<Answer, String>, theirs: Result<Answer, String>) -> Option<String> {
    let (mut ours, mut theirs) = match (ours, theirs) {
        (Ok(o), Ok(t)) => (o, t),
        (o, t) => {
            let side = |a: &Result<Answer, String>| match a {
                Ok(a) => format!("{} rows", a.rows.len()),
                Err(e) => e.clone(),
            };
            return Some(format!("Tessera: {}\nDuckDB:  {}", side(&o), side(&t)));
        }
    };
    ours.rows.sort();
    theirs.rows.sort();
    if ours.rows == theirs.rows {
        return ours
            .rows
            .is_empty()
            .then(|| "both answers are empty: the query tests nothing; change it".to_string());
    }
    let mut out = format!(
        "Tessera columns: {}\nDuckDB columns:  {}\nrows: Tessera {}, DuckDB {}\n",
        ours.columns.join(", "),
        theirs.columns.join(", "),
        ours.rows.len(),
        theirs.rows.len()
    );
    let show = |r: Option<&Row>| match r {
        None => "(no row)".to_string(),
        Some(r) => format!(
            "[{}]",
            r.iter()
                .map(|v| v
                    .as_deref()
                    .map_or("NULL".to_string(), |s| format!("{s:?}")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    // The first differing rows in sorted order, and a few rows only one side has.
    let first = (0..ours.rows.len().max(theirs.rows.len()))
        .find(|&i| ours.rows.get(i) != theirs.rows.get(i))
        .expect("the rows differ somewhere");
    let _ = writeln!(out, "first difference at sorted row {first}:");
    for i in first..(first + 3).min(ours.rows.len().max(theirs.rows.len())) {
        let _ = writeln!(out, "  Tessera: {}", show(ours.rows.get(i)));
        let _ = writeln!(out, "  DuckDB:  {}", show(theirs.rows.get(i)));
    }
    let only = |a: &[Row], b: &[Row]| -> Vec<String> {
        a.iter()
            .filter(|r| b.binary_search(r).is_err())
            .take(3)
            .map(|r| show(Some(r)))
            .collect()
    };
    let (only_ours, only_theirs) = (
        only(&ours.rows, &theirs.rows),
        only(&theirs.rows, &ours.rows),
    );
    if !only_ours.is_empty() {
        let _ = writeln!(
            out,
            "only in Tessera's answer (first 3): {}",
            only_ours.join(" ")
        );
    }
    if !only_theirs.is_empty() {
        let _ = writeln!(
            out,
            "only in DuckDB's answer (first 3):  {}",
            only_theirs.join(" ")
        );
    }
    Some(out)
}

/// The Rust half of the canonical forms against strings the Python half writes
/// (`format(x, ".14e")`, `format(Decimal(d).quantize(…), "f")`).
#[test]
fn canonical_forms_match_the_python_side() {
    for (x, python) in [
        (12.345, "1.23450000000000e+01"),
        (-0.0, "0.00000000000000e+00"),
        (1e-7, "1.00000000000000e-07"),
        (1e100, "1.00000000000000e+100"),
        (-2397.575, "-2.39757500000000e+03"),
        (0.1 + 0.2, "3.00000000000000e-01"),
        (5e-324, "4.94065645841247e-324"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(double(x), python, "{x:?}");
    }
    for (unscaled, scale, python) in [
        ("-5", 2, "-0.05"),
        ("12345", 2, "123.45"),
        ("0", 4, "0.0000"),
        ("-7", 0, "-7"),
        (
            "123456789012345678901234567890",
            10,
            "12345678901234567890.1234567890",
        ),
    ] {
        assert_eq!(decimal(unscaled.to_string(), scale), python);
    }
}
