//! Conformance: Tessera's hand-written ODCS/ODPS shapes against the official JSON Schemas
//! and the published examples.
//!
//! ```text
//!  ../shared/fixtures ─┬─▶ official JSON Schema (jsonschema, draft 2019-09) ─▶ valid?    ─┐
//!  (read at test time) └─▶ Contract::parse / DataProduct::parse ────────────▶ accepted? ─┴─▶ must agree
//! ```
//!
//! The fixtures are read from `../shared/fixtures` next to the repository (override with
//! `TESSERA_FIXTURES`) and never copied into it. A missing folder fails the tests: a
//! conformance suite that passes on zero files proves nothing.
//!
//! YAML is read with Tessera's own loader (YAML 1.2 core schema) for both sides, so the
//! schema and Tessera judge the same JSON value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Map, Value, json};
use tessera_model::scaffold::{self, ProductSpec};
use tessera_model::{Contract, DataProduct, Diagnostics, PortName, ProductRef, yaml};

// ---- fixtures ----

const ODCS_SCHEMA: &str = "odcs/schema/odcs-json-schema-v3.1.0.json";
const ODPS_SCHEMA: &str = "odps/schema/odps-json-schema-v1.0.0.json";

/// The ODCS examples valid under the official v3.1.0 schema (the README's table, plus the
/// YAML 1.2 edge case below).
const VALID_ODCS: &[&str] = &[
    "odcs/examples/bitol/all__full-example.odcs.yaml",
    "odcs/examples/bitol/all__postgresql-adventureworks-contract.odcs.yaml",
    "odcs/examples/bitol/data-types__all-data-types.odcs.yaml",
    "odcs/examples/bitol/fundamentals__table-column-description.odcs.yaml",
    "odcs/examples/bitol/quality__column-accuracy.odcs.yaml",
    "odcs/examples/bitol/quality__column-completeness.odcs.yaml",
    "odcs/examples/bitol/quality__column-custom.odcs.yaml",
    "odcs/examples/bitol/quality__column-validity.odcs.yaml",
    "odcs/examples/bitol/schema__all-schema-types.odcs.yaml",
    "odcs/examples/bitol/schema__kafka-schema.odcs.yaml",
    "odcs/examples/bitol/schema__table-columns-with-partition.odcs.yaml",
    "odcs/examples/bitol/server__azure-server.odcs.yaml",
    "odcs/examples/bitol/server__kafka-server.odcs.yaml",
    "odcs/examples/bitol/sla__database-table-sla.odcs.yaml",
    "odcs/examples/bitol/stakeholders__basic-four-dpo.odcs.yaml",
    "odcs/examples/datacontract-cli/lint__valid-3.1.0.odcs.yaml",
    "odcs/examples/datacontract-cli/schema-evolution__odcs-datacontract-cities-version-1.yaml",
];

/// The README marks this example invalid because PyYAML (YAML 1.1) turns its unquoted
/// `2022-10-03` into a date; YAML 1.2 keeps it a string, and then the schema accepts it.
const YAML_1_2_EDGE_CASE: &str =
    "odcs/examples/bitol/fundamentals__table-column-description.odcs.yaml";

/// The ODCS examples the official schema rejects for structural reasons, with the words
/// Tessera's diagnostics must contain (the field at fault).
const INVALID_ODCS: &[(&str, &[&str])] = &[
    (
        "odcs/examples/datacontract-cli/lint__invalid.odcs.yaml",
        &["`status`"],
    ),
    (
        "odcs/examples/datacontract-cli/lint__invalid_multiple_errors.odcs.yaml",
        &["`version`", "`status`"],
    ),
    (
        "odcs/examples/datacontract-cli/postgres__odcs.yaml",
        &["`isNullable`", "`isUnique`"],
    ),
    (
        // `delimiter` on a `local` server: only azure, s3, sftp and custom servers have one.
        "odcs/examples/datacontract-cli/schema-evolution__odcs-datacontract-cities-version-2.yaml",
        &["`delimiter`", "servers[8]", "servers[9]", "servers[10]"],
    ),
];

const VALID_ODPS: &[&str] = &[
    "odps/examples/customer-data-product.odps.yaml",
    "odps/examples/simple-data-product.odps.yaml",
];

pub(crate) fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("TESSERA_FIXTURES") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            )),
        };
        assert!(
            dir.join("README.md").is_file()
                && dir.join(ODCS_SCHEMA).is_file()
                && dir.join(ODPS_SCHEMA).is_file(),
            "conformance fixtures not found at {}: expected README.md, {ODCS_SCHEMA} and \
             {ODPS_SCHEMA} there. They live in ../shared/fixtures next to the repository \
             (never copied into it); set TESSERA_FIXTURES to their folder.",
            dir.display()
        );
        dir
    })
}

fn read(rel: &str) -> String {
    let path = fixtures().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// One example file: its path relative to the fixtures folder, text and JSON value.
struct Example {
    rel: String,
    text: String,
    json: Value,
}

fn yaml_to_json(file: &str, text: &str) -> Value {
    match yaml::parse(file, text) {
        Ok(node) => node.to_json(),
        Err(d) => panic!("{file} is not YAML Tessera can read: {d}"),
    }
}

/// Every `.yaml` file under `fixtures/<dir>`, recursively, sorted by path.
fn examples(dir: &str) -> Vec<Example> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let rel = path.strip_prefix(root).expect("under the fixtures folder");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut rels = Vec::new();
    walk(fixtures(), &fixtures().join(dir), &mut rels);
    rels.sort();
    assert!(!rels.is_empty(), "no .yaml examples under fixtures/{dir}");
    rels.into_iter()
        .map(|rel| {
            let text = read(&rel);
            let json = yaml_to_json(&rel, &text);
            Example { rel, text, json }
        })
        .collect()
}

fn compile(rel: &str) -> Validator {
    let schema: Value =
        serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"));
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2019-09/schema",
        "{rel}: expected a draft 2019-09 schema"
    );
    jsonschema::draft201909::new(&schema).unwrap_or_else(|e| panic!("{rel} does not compile: {e}"))
}

fn odcs_schema() -> &'static Validator {
    static SCHEMA: OnceLock<Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| compile(ODCS_SCHEMA))
}

fn odps_schema() -> &'static Validator {
    static SCHEMA: OnceLock<Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| compile(ODPS_SCHEMA))
}

/// The official schema's complaints, one per line, empty when the value is valid.
fn schema_errors(schema: &Validator, value: &Value) -> Vec<String> {
    schema
        .iter_errors(value)
        .map(|e| {
            format!(
                "/{}: {e}",
                e.instance_path().as_str().trim_start_matches('/')
            )
        })
        .collect()
}

/// The two standards, seen the same way: a schema, and Tessera's parse of a file.
#[derive(Clone, Copy)]
struct Standard {
    name: &'static str,
    schema: fn() -> &'static Validator,
    /// Tessera's verdict: the document it kept when it accepted the file, and its findings.
    parse: fn(&str, &str) -> (Option<Value>, Diagnostics),
}

const ODCS: Standard = Standard {
    name: "ODCS v3.1.0",
    schema: odcs_schema,
    parse: |file, text| {
        let (contract, diags) = Contract::parse(file, text);
        (contract.map(|c| c.document), diags)
    },
};

const ODPS: Standard = Standard {
    name: "ODPS v1.0.0",
    schema: odps_schema,
    parse: |file, text| {
        let (product, diags) = DataProduct::parse(file, text);
        (product.map(|p| p.document), diags)
    },
};

impl Standard {
    fn schema_errors(&self, value: &Value) -> Vec<String> {
        schema_errors((self.schema)(), value)
    }

    /// The document Tessera accepted (no error-level finding), or its findings.
    fn accept(&self, file: &str, text: &str) -> Result<Value, Diagnostics> {
        match (self.parse)(file, text) {
            (Some(doc), diags) if !diags.has_errors() => Ok(doc),
            (_, diags) => Err(diags),
        }
    }

    /// Tessera's writer for this standard (both write their kept document with `to_yaml`).
    fn write(&self, file: &str, text: &str) -> String {
        match self.name {
            "ODPS v1.0.0" => DataProduct::parse(file, text).0.map(|p| p.to_yaml()),
            _ => Contract::parse(file, text).0.map(|c| c.to_yaml()),
        }
        .unwrap_or_else(|| panic!("{file}: accepted once, not on the second parse"))
    }
}

/// Equality of JSON values *including key order* (`serde_json::Map`'s `==` ignores order).
fn same_json(a: &Value, b: &Value) -> bool {
    a == b && serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}

#[test]
fn same_json_sees_key_order() {
    let a = json!({"a": 1, "b": [1, {"c": 2, "d": 3}]});
    let b = json!({"b": [1, {"c": 2, "d": 3}], "a": 1});
    let c = json!({"a": 1, "b": [1, {"d": 3, "c": 2}]});
    assert!(same_json(&a, &a.clone()));
    assert_eq!(a, b, "serde_json's == ignores key order");
    assert!(!same_json(&a, &b));
    assert!(!same_json(&a, &c));
}

fn fail_if_any(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The README's "Validation results" rows: (file, verdict under the standard's schema).
fn readme_verdicts(prefix: &str) -> Vec<(String, bool)> {
    let readme = read("README.md");
    let (_, results) = readme
        .split_once("## Validation results")
        .expect("fixtures README has a `## Validation results` section");
    results
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let file = cells.get(1)?;
            let verdict = cells.get(3)?;
            file.starts_with(prefix)
                .then(|| (file.to_string(), *verdict == "valid"))
        })
        .collect()
}

/// Which examples the official schema accepts, with the README's table as the expectation.
fn schema_verdicts(std: Standard, examples: &[Example], expected_valid: &[&str]) -> Vec<String> {
    let valid: Vec<String> = examples
        .iter()
        .filter(|ex| std.schema_errors(&ex.json).is_empty())
        .map(|ex| ex.rel.clone())
        .collect();
    assert!(!valid.is_empty(), "no {} example is valid", std.name);
    assert_eq!(
        valid, expected_valid,
        "the {} examples valid under the official schema changed",
        std.name
    );
    valid
}

// ---- 1. valid ODCS examples are accepted ----

#[test]
fn odcs_examples_valid_under_the_official_schema_are_accepted_by_tessera() {
    let examples = examples("odcs/examples");
    let valid = schema_verdicts(ODCS, &examples, VALID_ODCS);

    // The README's table says the same, but for the documented YAML 1.1 date edge case.
    let readme = readme_verdicts("odcs/examples/");
    let on_disk: BTreeSet<&str> = examples.iter().map(|ex| ex.rel.as_str()).collect();
    let in_readme: BTreeSet<&str> = readme.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(on_disk, in_readme, "examples on disk vs the README's table");
    let mut readme_valid: BTreeSet<&str> = readme
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(f, _)| f.as_str())
        .collect();
    assert!(
        readme_valid.insert(YAML_1_2_EDGE_CASE),
        "{YAML_1_2_EDGE_CASE} is now valid in the README; drop the edge case"
    );
    let valid_set: BTreeSet<&str> = valid.iter().map(String::as_str).collect();
    assert_eq!(
        valid_set, readme_valid,
        "schema verdicts vs the README's table"
    );

    let mut failures = Vec::new();
    for ex in examples
        .iter()
        .filter(|ex| valid_set.contains(ex.rel.as_str()))
    {
        if let Err(diags) = ODCS.accept(&ex.rel, &ex.text) {
            failures.push(format!(
                "{} is valid ODCS but Tessera rejects it:\n{diags}",
                ex.rel
            ));
        }
    }
    fail_if_any("valid ODCS examples rejected by Tessera", &failures);
    assert_eq!(valid.len(), 17);
}

// ---- 2. and 4. what Tessera accepts it writes back losslessly ----

fn round_trips(std: Standard, examples: &[Example], valid: &[String]) -> usize {
    let mut failures = Vec::new();
    let mut count = 0;
    for ex in examples.iter().filter(|ex| valid.contains(&ex.rel)) {
        let doc = match std.accept(&ex.rel, &ex.text) {
            Ok(doc) => doc,
            Err(diags) => {
                failures.push(format!("{}: rejected:\n{diags}", ex.rel));
                continue;
            }
        };
        // The kept document is the file, whole: unknown and unused fields, key order.
        if !same_json(&doc, &ex.json) {
            failures.push(format!(
                "{}: the kept document differs from the file",
                ex.rel
            ));
            continue;
        }
        let written = std.write(&ex.rel, &ex.text);
        let back = yaml_to_json(&ex.rel, &written);
        if !same_json(&back, &doc) {
            failures.push(format!(
                "{}: written back and read again, the document differs\n\
                 before: {doc}\nafter:  {back}\nwritten:\n{written}",
                ex.rel
            ));
            continue;
        }
        // And what Tessera wrote, Tessera accepts again, unchanged.
        match std.accept(&ex.rel, &written) {
            Ok(again) if same_json(&again, &doc) => count += 1,
            Ok(_) => failures.push(format!("{}: second parse kept another document", ex.rel)),
            Err(diags) => failures.push(format!(
                "{}: Tessera rejects what it wrote:\n{diags}\nwritten:\n{written}",
                ex.rel
            )),
        }
    }
    fail_if_any("examples that do not round-trip", &failures);
    count
}

#[test]
fn accepted_odcs_examples_round_trip_losslessly() {
    let examples = examples("odcs/examples");
    let valid = schema_verdicts(ODCS, &examples, VALID_ODCS);
    assert_eq!(round_trips(ODCS, &examples, &valid), VALID_ODCS.len());
}

// ---- 3. examples the official schema rejects, Tessera rejects, naming the field ----

#[test]
fn odcs_examples_invalid_under_the_official_schema_are_rejected_naming_the_field() {
    let examples = examples("odcs/examples");
    let invalid: Vec<&Example> = examples
        .iter()
        .filter(|ex| !ODCS.schema_errors(&ex.json).is_empty())
        .collect();
    let invalid_names: Vec<&str> = invalid.iter().map(|ex| ex.rel.as_str()).collect();
    let expected: Vec<&str> = INVALID_ODCS.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        invalid_names, expected,
        "examples the official schema rejects"
    );

    let mut failures = Vec::new();
    for (ex, (_, words)) in invalid.iter().zip(INVALID_ODCS) {
        match ODCS.accept(&ex.rel, &ex.text) {
            Ok(_) => failures.push(format!(
                "{}: the official schema rejects it, Tessera accepts it:\n  {}",
                ex.rel,
                ODCS.schema_errors(&ex.json).join("\n  ")
            )),
            Err(diags) => {
                let text = diags.to_string();
                for word in words.iter().filter(|w| !text.contains(**w)) {
                    failures.push(format!(
                        "{}: Tessera rejects it but does not mention {word}:\n{text}",
                        ex.rel
                    ));
                }
                // Every finding points at a line and column of the file.
                for d in diags.iter().filter(|d| d.is_error()) {
                    let line = d.to_string();
                    if !line.starts_with(&format!("{}:", ex.rel)) || d.location.is_none() {
                        failures.push(format!("{}: finding without a location: {line}", ex.rel));
                    }
                }
            }
        }
    }
    fail_if_any("invalid ODCS examples not rejected as expected", &failures);
}

// ---- 4. ODPS examples ----

#[test]
fn odps_examples_valid_under_the_official_schema_are_accepted_and_round_trip() {
    let examples = examples("odps/examples");
    let valid = schema_verdicts(ODPS, &examples, VALID_ODPS);
    let readme: Vec<(String, bool)> = readme_verdicts("odps/examples/");
    let readme_valid: Vec<&str> = readme
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(f, _)| f.as_str())
        .collect();
    assert_eq!(readme.len(), examples.len(), "ODPS examples vs README rows");
    assert_eq!(valid, readme_valid, "schema verdicts vs the README's table");

    let mut failures = Vec::new();
    for ex in examples.iter().filter(|ex| valid.contains(&ex.rel)) {
        if let Err(diags) = ODPS.accept(&ex.rel, &ex.text) {
            failures.push(format!(
                "{} is valid ODPS but Tessera rejects it:\n{diags}",
                ex.rel
            ));
        }
    }
    fail_if_any("valid ODPS examples rejected by Tessera", &failures);
    assert_eq!(round_trips(ODPS, &examples, &valid), VALID_ODPS.len());
}

// ---- 5. what Tessera writes is valid under the official schemas ----

fn check_written(files: &[scaffold::NewFile], what: &str) -> (usize, usize) {
    let mut failures = Vec::new();
    let (mut contracts, mut products) = (0, 0);
    for f in files {
        let std = if f.path.ends_with(".odcs.yaml") {
            contracts += 1;
            ODCS
        } else if f.path.ends_with("/dataproduct.yaml") {
            products += 1;
            ODPS
        } else {
            continue;
        };
        let errors = std.schema_errors(&yaml_to_json(&f.path, &f.text));
        if !errors.is_empty() {
            failures.push(format!(
                "{what}: {} is not valid {}:\n  {}\n{}",
                f.path,
                std.name,
                errors.join("\n  "),
                f.text
            ));
        }
        let (doc, diags) = (std.parse)(&f.path, &f.text);
        if doc.is_none() || !diags.is_empty() {
            failures.push(format!(
                "{what}: Tessera finds problems in its own {}:\n{diags}",
                f.path
            ));
        }
    }
    fail_if_any(
        "written files not valid under the official schemas",
        &failures,
    );
    (contracts, products)
}

#[test]
fn what_tessera_writes_is_valid_under_the_official_schemas() {
    let mesh = scaffold::new_mesh("demo", "owner@example.com");
    // A source contract and the product's output port contract; one descriptor.
    assert_eq!(check_written(&mesh, "tessera init"), (2, 1));

    let without_inputs = ProductSpec {
        product: ProductRef::parse("web/page_views").unwrap(),
        port: PortName::parse("daily_page_views").unwrap(),
        inputs: vec![],
        owner: "ana@example.com".into(),
    };
    let with_inputs = ProductSpec {
        inputs: vec![
            (
                "sessions".into(),
                "web.sessions.sessions".into(),
                "web.sessions".into(),
            ),
            (
                "raw_clicks".into(),
                "web.sources.raw_clicks".into(),
                "web.raw_clicks".into(),
            ),
        ],
        ..without_inputs.clone()
    };
    for (spec, what) in [
        (&without_inputs, "new product without inputs"),
        (&with_inputs, "new product with inputs"),
    ] {
        for with_domain in [false, true] {
            let files = scaffold::new_product(spec, with_domain);
            assert_eq!(check_written(&files, what), (1, 1), "{what}");
        }
    }
}

// ---- the shape fixes the differential found, pinned one by one ----

/// A contract around one schema object (`schema:` items, indented by two spaces).
fn contract_with(schema: &str) -> String {
    format!(
        "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: active\nschema:\n{schema}"
    )
}

#[test]
fn shape_fixes_agree_with_the_official_schema() {
    // (what, schema part, valid under the official schema?, words Tessera's finding has)
    let cases: &[(&str, &str, bool, &str)] = &[
        (
            "authoritative definitions are closed",
            "  - name: orders\n    authoritativeDefinitions:\n      - type: wiki\n        url: https://example.com\n        note: x\n",
            false,
            "unknown field `note` in authoritative definition",
        ),
        (
            "a schema-level relationship needs `to`",
            "  - name: orders\n    relationships:\n      - from: orders.id\n",
            false,
            "missing required field `to`",
        ),
        (
            "a schema-level relationship needs `from`",
            "  - name: orders\n    relationships:\n      - to: customers.id\n",
            false,
            "missing required field `from`",
        ),
        (
            "`from` and `to` are both one column or both lists",
            "  - name: orders\n    relationships:\n      - from: orders.id\n        to: [customers.id]\n",
            false,
            "must both be one column or both be lists",
        ),
        (
            "reference lists are not empty",
            "  - name: orders\n    relationships:\n      - from: []\n        to: []\n",
            false,
            "expected a non-empty list of column references",
        ),
        (
            "a property's relationship has no `from`",
            "  - name: orders\n    properties:\n      - name: customer_id\n        relationships:\n          - from: orders.customer_id\n            to: customers.id\n",
            false,
            "has no `from`",
        ),
        (
            "a property's relationship needs `to`",
            "  - name: orders\n    properties:\n      - name: customer_id\n        relationships:\n          - type: foreignKey\n",
            false,
            "missing required field `to`",
        ),
        (
            "logicalTypeOptions need a logicalType",
            "  - name: orders\n    properties:\n      - name: id\n        logicalTypeOptions:\n          maxLength: 3\n",
            false,
            "`logicalTypeOptions` needs a `logicalType`",
        ),
        (
            "empty logicalTypeOptions need no logicalType",
            "  - name: orders\n    properties:\n      - name: id\n        logicalTypeOptions: {}\n",
            true,
            "",
        ),
        (
            "a rule with a query but no type is not a sql rule",
            "  - name: orders\n    quality:\n      - query: SELECT COUNT(*) FROM orders\n        mustBe: 0\n",
            false,
            "`query` is not a field of a `text` quality rule",
        ),
        (
            "a rule with an engine but no type is not a custom rule",
            "  - name: orders\n    quality:\n      - engine: soda\n        implementation: 'row_count > 0'\n",
            false,
            "`engine` is not a field of a `text` quality rule",
        ),
        (
            "a custom rule has no comparison",
            "  - name: orders\n    quality:\n      - type: custom\n        engine: soda\n        implementation: 'row_count > 0'\n        mustBe: 0\n",
            false,
            "`mustBe` is not a field of a `custom` quality rule",
        ),
        (
            "a library rule names its `metric`; v3.0's `rule` alone is not enough",
            "  - name: orders\n    quality:\n      - type: library\n        rule: rowCount\n        mustBeGreaterThan: 0\n",
            false,
            "needs `metric`",
        ),
        (
            "a metric makes a rule a library rule",
            "  - name: orders\n    quality:\n      - metric: rowCount\n        mustBeGreaterThan: 0\n        arguments: {}\n",
            true,
            "",
        ),
        (
            "a sql rule naming a metric is also a library rule",
            "  - name: orders\n    quality:\n      - type: sql\n        metric: rowCount\n        query: SELECT COUNT(*) FROM orders\n        mustBeGreaterThan: 0\n",
            true,
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (what, schema, valid, words) in cases {
        let text = contract_with(schema);
        let errors = ODCS.schema_errors(&yaml_to_json("case.yaml", &text));
        if errors.is_empty() != *valid {
            failures.push(format!(
                "{what}: expected the official schema to {} it:\n  {}\n{text}",
                if *valid { "accept" } else { "reject" },
                errors.join("\n  ")
            ));
        }
        match (ODCS.accept("case.yaml", &text), valid) {
            (Ok(_), true) => {}
            (Ok(_), false) => failures.push(format!("{what}: Tessera accepts it\n{text}")),
            (Err(diags), true) => failures.push(format!("{what}: Tessera rejects it:\n{diags}")),
            (Err(diags), false) if !diags.to_string().contains(words) => failures.push(format!(
                "{what}: Tessera rejects it without saying `{words}`:\n{diags}"
            )),
            (Err(_), false) => {}
        }
    }
    fail_if_any(
        "cases where Tessera and the official schema disagree",
        &failures,
    );
}

// ---- 6. shape vs schema: mutate valid examples, compare verdicts ----
//
// Every object of every valid example gets each of these small changes, one at a time:
// an unknown key added, each key misspelt, each key removed, each value replaced by one of
// another JSON type, and each value replaced by one of the same type that breaks a
// constraint the schema may place on it (`bad_values`: a pattern, a minimum, a minimum
// number of items, unique items, a format). For each, the official schema and Tessera give a verdict; they must
// agree, except where Tessera is deliberately stricter (see `deliberately_stricter`).
//
// Two things keep this fast without weakening it. A mutation is judged on the example
// *focused* on the mutated spot: every list of mappings is cut to one element (the one on
// the mutated path, else the first), which is sound because both the schema and the shape
// check list elements independently. And mutations that look the same (same generic path
// with indexes erased, same change, same surrounding keys) are judged once: the 5,000-line
// AdventureWorks contract repeats the same few property shapes hundreds of times.

/// A small change to a valid document, at a JSON pointer.
#[derive(Debug, Clone)]
enum Mutation {
    /// Rename `key` of the object at `at` (a typo), keeping its place.
    Rename { at: String, key: String, to: String },
    /// Remove `key` from the object at `at`.
    Remove { at: String, key: String },
    /// Add a key no standard defines to the object at `at`.
    AddUnknown { at: String },
    /// Replace the value at `at` by one of another type.
    Retype { at: String, to: Value },
}

impl Mutation {
    fn at(&self) -> &str {
        match self {
            Mutation::Rename { at, .. }
            | Mutation::Remove { at, .. }
            | Mutation::AddUnknown { at }
            | Mutation::Retype { at, .. } => at,
        }
    }

    fn with_at(&self, at: String) -> Mutation {
        let mut m = self.clone();
        match &mut m {
            Mutation::Rename { at: a, .. }
            | Mutation::Remove { at: a, .. }
            | Mutation::AddUnknown { at: a }
            | Mutation::Retype { at: a, .. } => *a = at,
        }
        m
    }
}

impl std::fmt::Display for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mutation::Rename { at, key, to } => write!(f, "{at}: rename `{key}` to `{to}`"),
            Mutation::Remove { at, key } => write!(f, "{at}: remove `{key}`"),
            Mutation::AddUnknown { at } => write!(f, "{at}: add `{UNKNOWN_KEY}`"),
            Mutation::Retype { at, to } => write!(f, "{at}: replace the value with {to}"),
        }
    }
}

const UNKNOWN_KEY: &str = "notInTheStandard";

fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A typo: the last two letters swapped (`required` → `requirde`), or the last one doubled.
fn typo(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let n = chars.len();
    if n >= 2 && chars[n - 1] != chars[n - 2] {
        chars.swap(n - 1, n - 2);
        chars.into_iter().collect()
    } else {
        format!("{key}{}", chars.last().copied().unwrap_or('x'))
    }
}

/// A value of another JSON type than `value` (None for null, which has no wrong type).
fn other_type(value: &Value) -> Option<Value> {
    Some(match value {
        Value::Null => return None,
        // The YAML 1.1 habit: `yes` is a string in YAML 1.2.
        Value::Bool(_) => json!("yes"),
        Value::Number(n) => json!(n.to_string()),
        Value::String(_) => json!(42),
        Value::Array(_) => json!("a list was expected"),
        Value::Object(_) => json!(["a mapping was expected"]),
    })
}

/// Values of the same JSON type as `value` that break a constraint the official schemas put
/// on some values of that type: `pattern` (ids, references, `sftp://` locations), `minimum`
/// 0 (lengths, counts), `exclusiveMinimum` 0 (`multipleOf`), `minItems` (1 or 2),
/// `uniqueItems`, and the formats `date`, `date-time` and `uri`.
fn bad_values(value: &Value) -> Vec<Value> {
    match value {
        Value::String(_) => vec![json!("not an id: has spaces/and/slashes"), json!("")],
        Value::Number(n) if n.is_f64() => vec![json!(-0.5), json!(0.0)],
        Value::Number(_) => vec![json!(-1), json!(0)],
        Value::Array(items) => match items.first() {
            Some(first) => vec![json!([]), json!([first.clone()]), json!([first, first])],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// What makes two mutations alike: the object's keys and its discriminators.
fn context(map: &Map<String, Value>) -> String {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let tag = |k: &str| map.get(k).map(Value::to_string).unwrap_or_default();
    format!(
        "{{{}}} type={} logicalType={}",
        keys.join(","),
        tag("type"),
        tag("logicalType")
    )
}

/// Every mutation of `value` (found at pointer `at`, inside an object described by `ctx`),
/// each with a signature: alike mutations share one.
fn mutations(value: &Value, at: &str, ctx: &str, out: &mut Vec<(String, Mutation)>) {
    let generic: String = at
        .split('/')
        .map(|t| if t.parse::<usize>().is_ok() { "*" } else { t })
        .collect::<Vec<_>>()
        .join("/");
    if !at.is_empty()
        && let Some(to) = other_type(value)
    {
        out.push((
            format!("retype {generic} in {ctx}"),
            Mutation::Retype {
                at: at.to_string(),
                to,
            },
        ));
    }
    if !at.is_empty() {
        for to in bad_values(value) {
            out.push((
                format!("replace {generic} in {ctx} with {to}"),
                Mutation::Retype {
                    at: at.to_string(),
                    to,
                },
            ));
        }
    }
    match value {
        Value::Object(map) => {
            let ctx = context(map);
            out.push((
                format!("add {generic} in {ctx}"),
                Mutation::AddUnknown { at: at.to_string() },
            ));
            for (key, child) in map {
                out.push((
                    format!("rename {generic}/{key} in {ctx}"),
                    Mutation::Rename {
                        at: at.to_string(),
                        key: key.clone(),
                        to: typo(key),
                    },
                ));
                out.push((
                    format!("remove {generic}/{key} in {ctx}"),
                    Mutation::Remove {
                        at: at.to_string(),
                        key: key.clone(),
                    },
                ));
                mutations(child, &format!("{at}/{}", pointer_token(key)), &ctx, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                mutations(child, &format!("{at}/{i}"), ctx, out);
            }
        }
        _ => {}
    }
}

/// `value` with every list of mappings cut to one element: the one `path` goes through, or
/// the first. Returns the focused value and `path` rewritten for it.
fn focus(value: &Value, path: &[&str]) -> (Value, Vec<String>) {
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let (i, rest) = match path.split_first() {
                Some((i, rest)) => (i.parse::<usize>().expect("an index"), rest),
                None => (0, &[][..]),
            };
            let (inner, mut new_path) = focus(&items[i], rest);
            if !path.is_empty() {
                new_path.insert(0, "0".to_string());
            }
            (Value::Array(vec![inner]), new_path)
        }
        Value::Array(items) => {
            let next = path.first().map(|i| i.parse::<usize>().expect("an index"));
            let mut new_path = Vec::new();
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    if Some(i) == next {
                        let (inner, p) = focus(item, &path[1..]);
                        new_path = std::iter::once(i.to_string()).chain(p).collect();
                        inner
                    } else {
                        focus(item, &[]).0
                    }
                })
                .collect();
            (Value::Array(items), new_path)
        }
        Value::Object(map) => {
            let next = path
                .first()
                .map(|t| t.replace("~1", "/").replace("~0", "~"));
            let mut new_path = Vec::new();
            let map = map
                .iter()
                .map(|(k, v)| {
                    if Some(k) == next.as_ref() {
                        let (inner, p) = focus(v, &path[1..]);
                        new_path = std::iter::once(pointer_token(k)).chain(p).collect();
                        (k.clone(), inner)
                    } else {
                        (k.clone(), focus(v, &[]).0)
                    }
                })
                .collect();
            (Value::Object(map), new_path)
        }
        other => (other.clone(), Vec::new()),
    }
}

/// `doc` focused on the mutation's spot, with the mutation applied.
fn apply(doc: &Value, m: &Mutation) -> (Value, Mutation) {
    let tokens: Vec<&str> = m.at().split('/').skip(1).collect();
    let (mut doc, path) = focus(doc, &tokens);
    let at: String = path.iter().map(|t| format!("/{t}")).collect();
    let m = m.with_at(at);
    let target = doc.pointer_mut(m.at()).expect("the mutated spot exists");
    match &m {
        Mutation::Retype { to, .. } => *target = to.clone(),
        Mutation::Rename { key, to, .. } => {
            let map = target.as_object_mut().expect("a mapping");
            *map = std::mem::take(map)
                .into_iter()
                .map(|(k, v)| if k == *key { (to.clone(), v) } else { (k, v) })
                .collect();
        }
        Mutation::Remove { key, .. } => {
            target.as_object_mut().expect("a mapping").shift_remove(key);
        }
        Mutation::AddUnknown { .. } => {
            target
                .as_object_mut()
                .expect("a mapping")
                .insert(UNKNOWN_KEY.to_string(), json!("x"));
        }
    }
    (doc, m)
}

/// Places where Tessera is deliberately stricter than the official schema: a mutation the
/// schema accepts and Tessera rejects passes only if each of Tessera's errors is one of these.
fn deliberately_stricter(diags: &Diagnostics) -> Option<&'static str> {
    let mut errors = diags.iter().filter(|d| d.is_error()).peekable();
    errors.peek()?;
    let reason = |d: &tessera_model::Diagnostic| -> Option<&'static str> {
        // The standard leaves a metric's `arguments` untyped; Tessera runs library metrics,
        // so it checks the arguments it reads (`validValues` is a list, `pattern` a string).
        if d.code == "wrong-type" && d.path.as_deref().is_some_and(|p| p.contains(".arguments.")) {
            return Some("typed metric arguments");
        }
        // A lower bound above the upper one (`minLength: 11, maxLength: 0`, `mustBeBetween:
        // [10, 1]`) can never hold.
        if d.code == "invalid-value"
            && (d.message.contains("no value can satisfy both")
                || d.message.contains("is [low, high], but"))
        {
            return Some("bounds in order");
        }
        // A `pattern` the check engine cannot compile.
        if d.code == "invalid-pattern" {
            return Some("patterns Tessera can run");
        }
        None
    };
    let reasons: Option<Vec<_>> = errors.map(reason).collect();
    reasons.and_then(|r| r.first().copied())
}

struct Differential {
    mutations: usize,
    schema_rejects: usize,
    failures: Vec<String>,
}

fn differential(std: Standard, examples: &[Example], valid: &[String]) -> Differential {
    let mut result = Differential {
        mutations: 0,
        schema_rejects: 0,
        failures: Vec::new(),
    };
    for ex in examples.iter().filter(|ex| valid.contains(&ex.rel)) {
        let mut list = Vec::new();
        mutations(&ex.json, "", "", &mut list);
        let mut seen = BTreeSet::new();
        list.retain(|(signature, _)| seen.insert(signature.clone()));
        let mut rejected_here = 0;
        for (_, m) in &list {
            let (mutated, m) = apply(&ex.json, m);
            let schema_errors = std.schema_errors(&mutated);
            let tessera = std.accept(&ex.rel, &yaml::to_yaml(&mutated));
            result.mutations += 1;
            if !schema_errors.is_empty() {
                rejected_here += 1;
            }
            match (schema_errors.is_empty(), tessera) {
                (false, Ok(_)) => result.failures.push(format!(
                    "{} — {m}: the official schema rejects it, Tessera accepts it:\n  {}",
                    ex.rel,
                    schema_errors.join("\n  ")
                )),
                (true, Err(diags)) if deliberately_stricter(&diags).is_none() => {
                    result.failures.push(format!(
                        "{} — {m}: the official schema accepts it, Tessera rejects it:\n{diags}",
                        ex.rel
                    ))
                }
                _ => {}
            }
        }
        assert!(
            rejected_here > 0,
            "{}: the official schema rejects no mutation; the differential proves nothing",
            ex.rel
        );
        result.schema_rejects += rejected_here;
    }
    result
}

#[test]
fn odcs_shape_agrees_with_the_official_schema_on_mutated_examples() {
    let examples = examples("odcs/examples");
    let valid = schema_verdicts(ODCS, &examples, VALID_ODCS);
    // Focusing keeps each example valid, so a verdict is about the mutation alone.
    for ex in examples.iter().filter(|ex| valid.contains(&ex.rel)) {
        let (focused, _) = focus(&ex.json, &[]);
        assert!(ODCS.schema_errors(&focused).is_empty(), "{}", ex.rel);
        assert!(
            ODCS.accept(&ex.rel, &yaml::to_yaml(&focused)).is_ok(),
            "{}",
            ex.rel
        );
    }
    let result = differential(ODCS, &examples, &valid);
    let summary = format!(
        "{} mutations of {} examples, {} rejected by the official schema",
        result.mutations,
        valid.len(),
        result.schema_rejects
    );
    fail_if_any(
        &format!("disagreements between Tessera and the official schema ({summary})"),
        &result.failures,
    );
    assert!(result.schema_rejects > 1000, "{summary}");
}

#[test]
fn odps_shape_agrees_with_the_official_schema_on_mutated_examples() {
    let examples = examples("odps/examples");
    let valid = schema_verdicts(ODPS, &examples, VALID_ODPS);
    let result = differential(ODPS, &examples, &valid);
    let summary = format!(
        "{} mutations of {} examples, {} rejected by the official schema",
        result.mutations,
        valid.len(),
        result.schema_rejects
    );
    fail_if_any(
        &format!("disagreements between Tessera and the official schema ({summary})"),
        &result.failures,
    );
    assert!(result.schema_rejects > 100, "{summary}");
}
