//! Every file in `tests/corpus/` is broken in some way; each gets an error, never a panic,
//! and the exact messages are pinned by snapshots.

use std::fs;
use std::path::Path;

use tessera_model::{Contract, DataProduct, Diagnostics, DomainConfig, MeshConfig, sql, yaml};

fn check(kind: &str, file: &str, bytes: &[u8]) -> Diagnostics {
    let text = match yaml::decode(file, bytes) {
        Ok(t) => t,
        Err(d) => {
            let mut diags = Diagnostics::new();
            diags.push(d);
            return diags;
        }
    };
    let mut diags = match kind {
        "contract" => Contract::parse(file, text).1,
        "product" => DataProduct::parse(file, text).1,
        "mesh" => MeshConfig::parse(file, text).1,
        "domain" => DomainConfig::parse(file, text).1,
        "sql" => {
            let mut diags = Diagnostics::new();
            if let Err(d) = sql::parse_query(file, text) {
                diags.push(d);
            }
            diags
        }
        other => panic!("unknown corpus folder {other}"),
    };
    diags.sort();
    diags
}

#[test]
fn every_broken_file_gets_exact_located_messages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut checked = 0;
    for kind in ["contract", "product", "mesh", "domain", "sql"] {
        let mut paths: Vec<_> = fs::read_dir(root.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            let name = format!("{kind}/{}", path.file_name().unwrap().to_string_lossy());
            let diags = check(kind, &name, &fs::read(&path).unwrap());
            assert!(
                diags.has_errors(),
                "{name} should be rejected, got:\n{diags}"
            );
            for d in &diags {
                assert_eq!(d.file, name, "every finding names its file");
            }
            insta::assert_snapshot!(name.replace(['/', '.'], "_"), diags.to_string());
            checked += 1;
        }
    }
    assert!(checked >= 30, "the corpus shrank to {checked} files");
}

#[test]
fn v3_0_library_rules_spelled_rule_are_accepted_with_a_warning() {
    let text = "apiVersion: v3.0.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    quality:\n      - type: library\n        rule: duplicateCount\n        mustBe: 0\n      - rule: rowCount\n        mustBeGreaterThan: 0\n";
    let (contract, diags) = Contract::parse("v30.yaml", text);
    assert!(!diags.has_errors(), "{diags}");
    assert_eq!(diags.warning_count(), 2, "{diags}");
    let rules = &contract.expect("accepted").objects[0].quality;
    assert_eq!(rules[1].kind(), "library");
    assert_eq!(rules[1].metric(), Some("rowCount"));
}
