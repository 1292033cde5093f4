//! The meaning layer: checks that span files, on meshes built in memory from the
//! scaffold (which is itself valid) with one thing broken per case.

use std::collections::BTreeMap;

use tessera_model::scaffold::{self, ProductSpec};
use tessera_model::{MeshFile, PortName, ProductRef, load};

type Files = BTreeMap<String, String>;

/// `tessera init` output plus a `marketing/segments` product reading `crm.customers`.
fn scaffolded() -> Files {
    let mut files: Files = scaffold::new_mesh("demo", "ada@example.com")
        .into_iter()
        .map(|f| (f.path, f.text))
        .collect();
    let spec = ProductSpec {
        product: ProductRef::parse("marketing/segments").unwrap(),
        port: PortName::parse("segments").unwrap(),
        inputs: vec![(
            "customers".into(),
            "crm.customers.customers".into(),
            "crm.customers".into(),
        )],
        owner: "grace@example.com".into(),
    };
    for f in scaffold::new_product(&spec, true) {
        files.insert(f.path, f.text);
    }
    files
}

fn run(files: &Files) -> String {
    let mesh_files: Vec<MeshFile> = files
        .iter()
        .map(|(path, text)| MeshFile {
            path: path.clone(),
            bytes: text.as_bytes().to_vec(),
        })
        .collect();
    load(&mesh_files).1.to_string()
}

fn edit(files: &mut Files, path: &str, from: &str, to: &str) {
    let text = files
        .get_mut(path)
        .unwrap_or_else(|| panic!("no file {path}"));
    assert!(text.contains(from), "{path} has no `{from}`");
    *text = text.replacen(from, to, 1);
}

const SEGMENTS: &str = "domains/marketing/segments/dataproduct.yaml";
const CUSTOMERS: &str = "domains/crm/customers/dataproduct.yaml";

#[test]
fn the_scaffolded_mesh_is_valid_without_warnings() {
    let files = scaffolded();
    assert_eq!(run(&files), "");
    let (mesh, _) = load(
        &files
            .iter()
            .map(|(p, t)| MeshFile {
                path: p.clone(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect::<Vec<_>>(),
    );
    let mesh = mesh.unwrap();
    assert_eq!(mesh.products().count(), 2);
    assert_eq!(mesh.sources().count(), 1);
    let segments = mesh.domains["marketing"].products["segments"].clone();
    let inputs: Vec<String> = mesh
        .inputs_of(&segments)
        .iter()
        .map(|(_, t)| t.table())
        .collect();
    assert_eq!(inputs, ["crm.customers"]);
}

macro_rules! case {
    ($name:ident, |$files:ident| $body:block) => {
        #[test]
        fn $name() {
            let mut $files = scaffolded();
            $body
            let out = run(&$files);
            assert!(!out.is_empty(), "expected findings");
            insta::assert_snapshot!(stringify!($name), out);
        }
    };
}

case!(product_reading_itself, |f| {
    edit(
        &mut f,
        SEGMENTS,
        "contractId: crm.customers.customers",
        "contractId: marketing.segments.segments",
    );
});

case!(products_in_a_cycle, |f| {
    edit(
        &mut f,
        CUSTOMERS,
        "contractId: crm.sources.raw_customers",
        "contractId: marketing.segments.segments",
    );
});

case!(unresolved_input_suggests_the_nearest_id, |f| {
    edit(
        &mut f,
        SEGMENTS,
        "contractId: crm.customers.customers",
        "contractId: crm.customer.customers",
    );
});

case!(missing_contract_and_sql, |f| {
    f.remove("domains/marketing/segments/segments.odcs.yaml");
    f.remove("domains/marketing/segments/segments.sql");
});

case!(sql_reads_a_table_that_is_not_an_input, |f| {
    f.insert(
        "domains/marketing/segments/segments.sql".into(),
        "SELECT c.id, c.name\nFROM crm.customers c\nJOIN crm.raw_customers r ON r.id = c.id\nJOIN orders o ON o.id = c.id\n".into(),
    );
});

case!(sql_syntax_error_points_into_the_sql_file, |f| {
    f.insert(
        "domains/marketing/segments/segments.sql".into(),
        "SELECT id,\n  name\nFROM crm.customers\nWHERE id >\n".into(),
    );
});

case!(product_in_the_wrong_domain_folder, |f| {
    edit(&mut f, SEGMENTS, "domain: marketing", "domain: crm");
});

case!(duplicate_contract_and_product_ids, |f| {
    edit(
        &mut f,
        "domains/marketing/segments/segments.odcs.yaml",
        "id: marketing.segments.segments",
        "id: crm.customers.customers",
    );
    edit(
        &mut f,
        SEGMENTS,
        "contractId: marketing.segments.segments",
        "contractId: crm.customers.customers",
    );
    edit(
        &mut f,
        SEGMENTS,
        "id: marketing.segments",
        "id: crm.customers",
    );
});

case!(invalid_names, |f| {
    let moved: Vec<(String, String)> = f
        .iter()
        .filter(|(p, _)| p.starts_with("domains/marketing/segments/"))
        .map(|(p, t)| (p.replace("/segments/", "/Top-Segments/"), t.clone()))
        .collect();
    f.retain(|p, _| !p.starts_with("domains/marketing/segments/"));
    f.extend(moved);
    edit(
        &mut f,
        "domains/crm/customers/customers.odcs.yaml",
        "      - name: name\n",
        "      - name: Full Name\n",
    );
});

/// A thing with an invalid name is left out of the loaded mesh (the types of its names
/// say they are valid), and what reads it gets no second error.
#[test]
fn an_invalid_port_name_is_reported_once_and_left_out_of_the_mesh() {
    let mut f = scaffolded();
    let dir = "domains/crm/customers";
    edit(
        &mut f,
        CUSTOMERS,
        "  - name: customers\n",
        "  - name: Customers\n",
    );
    for ext in ["odcs.yaml", "sql"] {
        let text = f.remove(&format!("{dir}/customers.{ext}")).unwrap();
        f.insert(format!("{dir}/Customers.{ext}"), text);
    }
    edit(
        &mut f,
        &format!("{dir}/Customers.odcs.yaml"),
        "  - name: customers\n",
        "  - name: Customers\n",
    );
    let out = run(&f);
    assert!(
        out.contains("error[invalid-name]: outputPorts[0].name: output port name `Customers`"),
        "{out}"
    );
    assert_eq!(out.matches("error[").count(), 1, "{out}");

    let (mesh, _) = load(
        &f.iter()
            .map(|(p, t)| MeshFile {
                path: p.clone(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect::<Vec<_>>(),
    );
    let mesh = mesh.unwrap();
    assert!(mesh.domains["crm"].products["customers"].ports.is_empty());
    let segments = &mesh.domains["marketing"].products["segments"];
    assert!(mesh.inputs_of(segments).is_empty());
}

case!(missing_mesh_and_domain_files, |f| {
    f.remove("mesh.yaml");
    f.remove("domains/marketing/domain.yaml");
});

case!(domain_yaml_names_another_domain, |f| {
    edit(
        &mut f,
        "domains/marketing/domain.yaml",
        "name: marketing",
        "name: mktg",
    );
});

case!(source_without_a_local_server_and_bad_format, |f| {
    f.insert(
        "domains/crm/sources/web_raw.odcs.yaml".into(),
        "apiVersion: v3.1.0\nkind: DataContract\nid: crm.sources.web_raw\nversion: 1.0.0\nstatus: active\nschema:\n  - name: web_raw\n".into(),
    );
    edit(
        &mut f,
        "domains/crm/sources/raw_customers.odcs.yaml",
        "format: csv",
        "format: xlsx",
    );
});

case!(port_contract_describes_two_tables_or_the_wrong_one, |f| {
    edit(
        &mut f,
        "domains/marketing/segments/segments.odcs.yaml",
        "  - name: segments\n",
        "  - name: segment\n",
    );
    let contract = f
        .get_mut("domains/crm/customers/customers.odcs.yaml")
        .unwrap();
    let at = contract.find("slaProperties:").unwrap();
    contract.insert_str(at, "  - name: extra\n    properties:\n      - name: a\n");
});

case!(table_names_collide_within_a_domain, |f| {
    let source = f["domains/crm/sources/raw_customers.odcs.yaml"]
        .replace("id: crm.sources.raw_customers", "id: crm.sources.customers")
        .replace("  - name: raw_customers", "  - name: customers");
    f.insert("domains/crm/sources/customers.odcs.yaml".into(), source);
});

case!(contract_id_mismatch_and_unused_files, |f| {
    edit(
        &mut f,
        SEGMENTS,
        "contractId: marketing.segments.segments",
        "contractId: marketing.segments.v1",
    );
    f.insert(
        "domains/marketing/segments/old.sql".into(),
        "SELECT 1".into(),
    );
    f.insert(
        "domains/marketing/segments/notes.yaml".into(),
        "a: 1".into(),
    );
});

case!(broken_contract_does_not_cascade, |f| {
    edit(
        &mut f,
        "domains/crm/customers/customers.odcs.yaml",
        "logicalType: integer",
        "logicalType: int",
    );
});
