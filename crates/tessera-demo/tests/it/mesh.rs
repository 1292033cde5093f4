//! The written mesh: complete, and valid under Tessera's own checks with no finding at all.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support;

#[test]
fn the_written_mesh_loads_with_no_error_and_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    tessera_demo::write_mesh(dir.path()).unwrap();
    let (mesh, diags) = support::load(dir.path());
    assert!(diags.is_empty(), "findings:\n{}", support::render(&diags));
    let mesh = mesh.expect("the mesh loads");
    let domains: Vec<&str> = mesh.domains.keys().map(|d| d.as_str()).collect();
    assert_eq!(
        domains,
        ["ads", "consent", "crm", "marketing", "orders", "web"]
    );
    assert_eq!(mesh.products().count(), 9);
    assert_eq!(mesh.products().map(|p| p.ports.len()).sum::<usize>(), 10);
    assert_eq!(mesh.sources().count(), 6);
}

#[test]
fn every_file_of_the_example_folder_is_embedded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/marketing");
    let mut on_disk = BTreeSet::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "data" || rel == ".tessera" {
                continue; // generated data and Tessera's state, git-ignored
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    walk(&root, &root, &mut on_disk);
    let embedded: BTreeSet<String> = tessera_demo::FILES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(
        embedded, on_disk,
        "src/mesh.rs FILES must list every file of examples/marketing"
    );
    for (rel, bytes) in tessera_demo::FILES {
        assert_eq!(&std::fs::read(root.join(rel)).unwrap(), bytes, "{rel}");
    }
}

#[test]
fn every_customer_column_is_a_subject_key() {
    let dir = tempfile::tempdir().unwrap();
    tessera_demo::write_mesh(dir.path()).unwrap();
    let (mesh, _) = support::load(dir.path());
    let mesh = mesh.unwrap();
    let contracts = mesh.sources().map(|s| &s.contract).chain(
        mesh.products()
            .flat_map(|p| p.ports.iter().filter_map(|port| port.contract.as_ref())),
    );
    let mut keyed = 0;
    for c in contracts {
        for p in c.objects.iter().flat_map(|o| &o.properties) {
            if p.name == "customer_id" {
                assert_eq!(p.subject_key(), Some("customer"), "{}: {}", c.file, p.name);
                keyed += 1;
            }
            assert!(
                p.classification.is_some(),
                "{}: {} has no classification",
                c.file,
                p.name
            );
            assert!(
                p.description.is_some(),
                "{}: {} has no description",
                c.file,
                p.name
            );
        }
    }
    assert_eq!(keyed, 10);
}

#[test]
fn the_source_contracts_point_at_the_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    tessera_demo::write_mesh(dir.path()).unwrap();
    let (mesh, _) = support::load(dir.path());
    let paths: BTreeSet<String> = mesh
        .unwrap()
        .sources()
        .map(|s| s.contract.local_server().unwrap().path.clone().unwrap())
        .collect();
    let generated: BTreeSet<String> = [
        tessera_demo::paths::CUSTOMERS,
        tessera_demo::paths::EVENTS,
        tessera_demo::paths::CAMPAIGNS,
        tessera_demo::paths::DAILY_SPEND,
        tessera_demo::paths::ORDERS,
        tessera_demo::paths::CONSENTS,
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    assert_eq!(paths, generated);
}
