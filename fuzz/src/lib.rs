//! How the fuzz targets turn libFuzzer's bytes into Tessera inputs, shared by the targets
//! (`fuzz_targets/`) and the corpus seeder (`examples/seed.rs`), so that both agree on
//! the encoding.
//!
//! * `parse_file`: byte 0 picks a file name from [`FILE_NAMES`] (modulo its length); the
//!   rest is the file's bytes.
//! * `load_mesh`: the input is split on [`SEP`] (0xFF, a byte that never occurs in UTF-8
//!   text, so a valid file never contains it) and the pieces become the files at
//!   [`MESH_PATHS`], in order. Missing pieces are absent files; extra pieces are dropped.

use tessera_model::{Contract, MeshFile};

/// The file names `parse_file` chooses between (they select the parser in `check_file`).
pub const FILE_NAMES: &[&str] = &[
    "mesh.yaml",
    "domain.yaml",
    "dataproduct.yaml",
    "x.odcs.yaml",
    "p.sql",
];

/// Index of the contract name in [`FILE_NAMES`].
pub const CONTRACT: usize = 3;

/// Separator between the files of a `load_mesh` input.
pub const SEP: u8 = 0xFF;

/// The fixed layout a `load_mesh` input fills, in order. The names are those of
/// `tessera init` (`scaffold::new_mesh`) plus a second product, so a scaffolded mesh is a
/// valid seed and the fuzzer starts from a mesh that passes every check.
pub const MESH_PATHS: &[&str] = &[
    "mesh.yaml",
    "domains/crm/domain.yaml",
    "domains/crm/sources/raw_customers.odcs.yaml",
    "domains/crm/customers/dataproduct.yaml",
    "domains/crm/customers/customers.odcs.yaml",
    "domains/crm/customers/customers.sql",
    "domains/crm/orders/dataproduct.yaml",
    "domains/crm/orders/orders.odcs.yaml",
    "domains/crm/orders/orders.sql",
    "policies/rules/rule.sql",
];

/// `parse_file`'s input → (file name, bytes). `None` for the empty input.
pub fn split_file(data: &[u8]) -> Option<(&'static str, &[u8])> {
    let (&selector, bytes) = data.split_first()?;
    Some((FILE_NAMES[selector as usize % FILE_NAMES.len()], bytes))
}

/// The inverse of [`split_file`].
pub fn encode_file(name_index: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(name_index as u8);
    out.extend_from_slice(bytes);
    out
}

/// `load_mesh`'s input → the mesh's files.
pub fn split_mesh(data: &[u8]) -> Vec<MeshFile> {
    data.split(|&b| b == SEP)
        .zip(MESH_PATHS)
        .map(|(bytes, path)| MeshFile {
            path: (*path).to_string(),
            bytes: bytes.to_vec(),
        })
        .collect()
}

/// The inverse of [`split_mesh`]: `files[i]` becomes the file at `MESH_PATHS[i]`.
pub fn encode_mesh(files: &[&[u8]]) -> Vec<u8> {
    files.join(&SEP)
}

/// If `bytes` is a contract, writing it back (`to_yaml`) and reading that again must give
/// the same document. Returns a description of the mismatch otherwise.
pub fn contract_round_trip(file: &str, bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let (Some(contract), _) = Contract::parse(file, text) else {
        return Ok(());
    };
    let written = contract.to_yaml();
    match Contract::parse(file, &written) {
        (Some(again), _) if again.document == contract.document => Ok(()),
        (Some(again), _) => Err(format!(
            "the contract written back reads as a different document\n\
             --- input ---\n{text}\n--- written ---\n{written}\n\
             --- read first ---\n{:#}\n--- read back ---\n{:#}",
            contract.document, again.document
        )),
        (None, diags) => Err(format!(
            "the contract written back is no longer a valid contract\n\
             --- input ---\n{text}\n--- written ---\n{written}\n--- findings ---\n{diags}"
        )),
    }
}

/// `tessera init`'s mesh, plus a second product `orders` that reads `customers`.
pub fn scaffolded_mesh() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = tessera_model::scaffold::new_mesh("fuzz", "ada")
        .into_iter()
        .map(|f| (f.path, f.text))
        .collect();
    let orders = tessera_model::scaffold::ProductSpec {
        product: tessera_model::ProductRef::parse("crm/orders").expect("a valid product"),
        port: tessera_model::PortName::parse("orders").expect("a valid port name"),
        inputs: vec![(
            "customers".into(),
            "crm.customers.customers".into(),
            "crm.customers".into(),
        )],
        owner: "ada".into(),
    };
    files.extend(
        tessera_model::scaffold::new_product(&orders, false)
            .into_iter()
            .map(|f| (f.path, f.text)),
    );
    files.push((
        "policies/rules/rule.sql".into(),
        "SELECT id FROM crm.customers WHERE id IS NULL\n".into(),
    ));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_invert() {
        assert_eq!(
            split_file(&encode_file(3, b"a: 1")),
            Some(("x.odcs.yaml", &b"a: 1"[..]))
        );
        assert_eq!(split_file(b""), None);
        let files = split_mesh(&encode_mesh(&[b"name: m", b"", b"x"]));
        let got: Vec<_> = files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("mesh.yaml", &b"name: m"[..]),
                ("domains/crm/domain.yaml", b""),
                ("domains/crm/sources/raw_customers.odcs.yaml", b"x"),
            ]
        );
    }

    /// The layout matches what the seeder writes: the scaffolded mesh fills every slot and
    /// loads without errors, so the fuzzer starts from a mesh that passes every check.
    #[test]
    fn the_scaffolded_mesh_fills_the_layout_and_is_valid() {
        let mesh = scaffolded_mesh();
        let slots: Vec<&[u8]> = MESH_PATHS
            .iter()
            .map(|p| {
                let found = mesh.iter().find(|(path, _)| path == p);
                found
                    .unwrap_or_else(|| panic!("the scaffold writes no {p}"))
                    .1
                    .as_bytes()
            })
            .collect();
        let (loaded, diags) = tessera_model::load(&split_mesh(&encode_mesh(&slots)));
        assert!(loaded.is_some(), "{diags}");
        assert_eq!(diags.error_count(), 0, "{diags}");
    }
}

#[cfg(test)]
mod round_trip_edge_cases {
    use super::*;

    const HEAD: &str =
        "apiVersion: v3.0.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\n";
    /// A column whose `examples` (a list of anything) the cases fill.
    const COLUMN: &str = "schema:\n  - name: t\n    properties:\n    - name: c\n";

    /// Strings the YAML writer must quote (or escape) for the reader to get them back.
    const TRICKY: &[&str] = &[
        "",
        " ",
        " a",
        "a ",
        "~",
        "null",
        "Null",
        "NULL",
        "true",
        "True",
        "FALSE",
        "yes",
        "no",
        "on",
        "y",
        "n",
        "0",
        "-0",
        "+1",
        "+.5",
        "-.5",
        ".5",
        "1.",
        "1e3",
        "1E3",
        "+1e3",
        "0x1F",
        "0o17",
        "0b1",
        "017",
        "1_000",
        ".inf",
        "-.Inf",
        ".nan",
        ".NaN",
        "1e400",
        "-1e400",
        "18446744073709551616",
        "-9223372036854775809",
        "2022-10-03",
        "12:30:00",
        "1:20",
        "- a",
        "-",
        "--- a",
        "---",
        "...",
        "? a",
        ": a",
        "a: b",
        "a #b",
        "#a",
        "&a",
        "*a",
        "!a",
        "%a",
        "@a",
        "`a",
        "|",
        ">",
        "[a]",
        "{a}",
        "'",
        "\"",
        "\\",
        "a\nb",
        "a\n",
        "\n",
        "\t",
        "a\tb",
        "\r",
        "a\r\nb",
        "\u{85}",
        "\u{2028}",
        "\u{2029}",
        "\u{feff}a",
        "\u{7f}",
        "\u{1b}",
        "\u{a0}",
        "é",
        "😀",
        "\u{fffd}",
        "<<",
        "=",
        "a,b",
        "a]",
        "a}",
    ];

    /// `s` as a double-quoted YAML scalar (JSON syntax; YAML wants DEL escaped too).
    fn json(s: &str) -> String {
        serde_json::Value::String(s.to_string())
            .to_string()
            .replace('\u{7f}', "\\u007f")
    }

    #[test]
    fn tricky_strings_survive_as_values_and_keys() {
        let mut failures = Vec::new();
        for s in TRICKY {
            for text in [
                format!(
                    "{HEAD}slaProperties:\n  - property: p\n    value: {}\n",
                    json(s)
                ),
                format!("{HEAD}{COLUMN}      examples: [{{{}: 1}}]\n", json(s)),
                format!("{HEAD}{COLUMN}      examples: [[{}]]\n", json(s)),
            ] {
                if Contract::parse("x.odcs.yaml", &text).0.is_none() {
                    failures.push(format!("{s:?}: the test contract does not parse:\n{text}"));
                } else if let Err(e) = contract_round_trip("x.odcs.yaml", text.as_bytes()) {
                    failures.push(format!("{s:?}: {e}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    /// Found while fuzzing: flow nesting used to be limited apart from block nesting, so
    /// a contract could be accepted and then refused once written back in block style.
    /// Now every depth is either refused on read (`yaml-too-deep`) or round-trips.
    #[test]
    fn deep_flow_nesting_is_refused_or_survives_being_written_back() {
        let (mut accepted, mut refused) = (0, 0);
        for depth in 40..=70 {
            let text = format!(
                "{HEAD}{COLUMN}      examples: {}1{}\n",
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let (contract, diags) = Contract::parse("x.odcs.yaml", &text);
            if contract.is_none() {
                assert!(
                    diags.to_string().contains("yaml-too-deep"),
                    "depth {depth}: {diags}"
                );
                refused += 1;
            } else if let Err(e) = contract_round_trip("x.odcs.yaml", text.as_bytes()) {
                panic!("depth {depth}: {e}");
            } else {
                accepted += 1;
            }
        }
        assert!(
            accepted > 0 && refused > 0,
            "accepted {accepted}, refused {refused}"
        );
    }
}
