//! A whole mesh, assembled from its files and checked as one.
//!
//! ```text
//! MeshFiles (path → bytes, handed in by the caller; this crate does no I/O)
//!    │ classify by path (layout below)
//!    ▼
//! per file: decode → YAML → structure → Tessera settings      (layers 1–2)
//!    │
//!    ▼
//! Mesh: domains → products → ports (+ sources)                 (layer 3: meaning)
//!    ids unique · names valid and unique per domain · folders match `domain` ·
//!    every output port has its contract and SQL · inputs resolve · no cycles ·
//!    the SQL parses and reads only the product's inputs
//! ```
//!
//! Layout (paths relative to the mesh root):
//!
//! ```text
//! mesh.yaml
//! domains/<domain>/domain.yaml
//! domains/<domain>/sources/<source>.odcs.yaml      source contracts (a `local` server)
//! domains/<domain>/<product>/dataproduct.yaml      ODPS
//! domains/<domain>/<product>/<port>.odcs.yaml      ODCS, one per output port
//! domains/<domain>/<product>/<port>.sql            the query that builds the port
//! policies/*.cedar, policies/rules/*.sql
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::{DomainConfig, MeshConfig};
use crate::diagnostic::{Diagnostic, Diagnostics, Location, suggest};
use crate::names::{
    self, DomainName, PortName, ProductName, ProductRef, RESERVED_DOMAINS, SOURCES_DIR, SourceName,
};
use crate::odcs::Contract;
use crate::odps::DataProduct;
use crate::sql::{self, SqlQuery};
use crate::yaml;

/// One file of a mesh: its path relative to the mesh root (with `/`), and its bytes.
#[derive(Debug, Clone)]
pub struct MeshFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// File formats a source may be read from.
pub const SOURCE_FORMATS: &[&str] = &["csv", "parquet", "json", "ndjson"];

/// A mesh as loaded. Everything in it has a valid name (the types say so); a domain,
/// product, port or source whose name is invalid is left out, and its error is in the
/// diagnostics `load` returns. Other errors do not remove anything, so callers that act on
/// a mesh (build, serve) must look at the diagnostics first.
#[derive(Debug, Clone)]
pub struct Mesh {
    pub config: MeshConfig,
    pub domains: BTreeMap<DomainName, Domain>,
    /// Global rules: `policies/rules/*.sql`.
    pub rules: Vec<SqlQuery>,
    /// The files governance reads (it parses them itself): `mesh.yaml` (its `purposes`,
    /// `masking` and `consent`) and every other file under `policies/` (`*.cedar`,
    /// `principals.yaml`, `row_filters.yaml`).
    pub governance_files: Vec<MeshFile>,
}

#[derive(Debug, Clone)]
pub struct Domain {
    pub name: DomainName,
    pub config: Option<DomainConfig>,
    pub products: BTreeMap<ProductName, Product>,
    pub sources: BTreeMap<SourceName, Source>,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub domain: DomainName,
    /// The product's folder name: `crm/customers` is product `customers` of domain `crm`.
    pub name: ProductName,
    pub descriptor: DataProduct,
    pub ports: Vec<Port>,
}

impl Product {
    pub fn reference(&self) -> ProductRef {
        ProductRef {
            domain: self.domain.clone(),
            product: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Port {
    pub name: PortName,
    pub version: String,
    pub contract: Option<Contract>,
    pub sql: Option<SqlQuery>,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub domain: DomainName,
    pub name: SourceName,
    pub contract: Contract,
}

/// What an input port's contract id resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputTarget {
    /// An output port of a product.
    Port(ProductRef, PortName),
    /// A source of a domain.
    Source(DomainName, SourceName),
}

impl InputTarget {
    /// The SQL table name the input is read as: `<domain>.<port or source>`.
    pub fn table(&self) -> String {
        match self {
            InputTarget::Port(product, port) => format!("{}.{port}", product.domain),
            InputTarget::Source(domain, source) => format!("{domain}.{source}"),
        }
    }

    /// The name of the table within its domain: the port's or the source's.
    pub fn name(&self) -> &str {
        match self {
            InputTarget::Port(_, port) => port.as_str(),
            InputTarget::Source(_, source) => source.as_str(),
        }
    }
}

impl Mesh {
    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.domains.values().flat_map(|d| d.products.values())
    }

    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.domains.values().flat_map(|d| d.sources.values())
    }

    /// Contract id → what it is the contract of.
    pub fn contract_index(&self) -> HashMap<&str, InputTarget> {
        let mut index = HashMap::new();
        for s in self.sources() {
            index.insert(
                s.contract.id.as_str(),
                InputTarget::Source(s.domain.clone(), s.name.clone()),
            );
        }
        for p in self.products() {
            for port in &p.ports {
                if let Some(c) = &port.contract {
                    index.insert(
                        c.id.as_str(),
                        InputTarget::Port(p.reference(), port.name.clone()),
                    );
                }
            }
        }
        index
    }

    /// The inputs of a product that resolve, by input port name.
    pub fn inputs_of(&self, product: &Product) -> Vec<(String, InputTarget)> {
        let index = self.contract_index();
        product
            .descriptor
            .input_ports
            .iter()
            .filter_map(|i| {
                index
                    .get(i.contract_id.as_str())
                    .map(|t| (i.name.clone(), t.clone()))
            })
            .collect()
    }
}

/// Loads and checks a whole mesh. Returns the mesh when `mesh.yaml` could be read (even if
/// other files have errors), and every finding, sorted by file and position.
pub fn load(files: &[MeshFile]) -> (Option<Mesh>, Diagnostics) {
    let mut diags = Diagnostics::new();
    let mut loader = Loader::default();
    for file in files {
        loader.add(file, &mut diags);
    }
    let mesh = loader.finish(&mut diags);
    diags.sort();
    (mesh, diags)
}

#[derive(Default)]
struct Loader {
    config: Option<MeshConfig>,
    saw_mesh_yaml: bool,
    domains: BTreeMap<String, Option<DomainConfig>>,
    domain_files: BTreeMap<String, String>,
    products: BTreeMap<(String, String), Option<DataProduct>>,
    contracts: BTreeMap<(String, String, String), Contract>,
    sqls: BTreeMap<(String, String, String), (String, String)>,
    sources: BTreeMap<(String, String), Contract>,
    rules: Vec<SqlQuery>,
    governance_files: Vec<MeshFile>,
    /// Every product folder seen, even one without a descriptor.
    product_dirs: BTreeSet<(String, String)>,
    /// Port contracts present but invalid (their errors are reported already).
    broken_contracts: BTreeSet<(String, String, String)>,
    /// Ids of invalid contracts, where they could be read, so that inputs naming them do
    /// not produce a second, misleading error.
    broken_ids: BTreeSet<String>,
}

/// The `id` of a document that failed its checks, if it can be read at all.
fn id_of_broken(path: &str, text: &str) -> Option<String> {
    let node = yaml::parse(path, text).ok()?;
    node.get("id")?.as_str().map(str::to_string)
}

fn text_of<'a>(file: &'a MeshFile, diags: &mut Diagnostics) -> Option<&'a str> {
    match yaml::decode(&file.path, &file.bytes) {
        Ok(t) => Some(t),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

impl Loader {
    fn add(&mut self, file: &MeshFile, diags: &mut Diagnostics) {
        let path = file.path.as_str();
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["mesh.yaml"] => {
                self.saw_mesh_yaml = true;
                self.governance_files.push(file.clone());
                let Some(text) = text_of(file, diags) else {
                    return;
                };
                let (config, d) = MeshConfig::parse(path, text);
                diags.extend(d);
                self.config = config;
            }
            ["domains", domain, "domain.yaml"] => {
                let Some(text) = text_of(file, diags) else {
                    self.domains.entry(domain.to_string()).or_insert(None);
                    return;
                };
                let (config, d) = DomainConfig::parse(path, text);
                diags.extend(d);
                self.domain_files
                    .insert(domain.to_string(), path.to_string());
                self.domains.insert(domain.to_string(), config);
            }
            ["domains", domain, dir, name] if *dir == SOURCES_DIR => {
                self.domains.entry(domain.to_string()).or_insert(None);
                let Some(stem) = name.strip_suffix(".odcs.yaml") else {
                    diags.push(ignored(
                        path,
                        "source contracts are named `<source>.odcs.yaml`",
                    ));
                    return;
                };
                let Some(text) = text_of(file, diags) else {
                    return;
                };
                let (contract, d) = Contract::parse(path, text);
                diags.extend(d);
                match contract {
                    Some(c) => {
                        self.sources
                            .insert((domain.to_string(), stem.to_string()), c);
                    }
                    None => self.broken_ids.extend(id_of_broken(path, text)),
                }
            }
            ["domains", domain, product, name] => {
                self.domains.entry(domain.to_string()).or_insert(None);
                let key = (domain.to_string(), product.to_string());
                self.product_dirs.insert(key.clone());
                if *name == "dataproduct.yaml" {
                    let Some(text) = text_of(file, diags) else {
                        self.products.insert(key, None);
                        return;
                    };
                    let (p, d) = DataProduct::parse(path, text);
                    diags.extend(d);
                    self.products.insert(key, p);
                } else if let Some(port) = name.strip_suffix(".odcs.yaml") {
                    let Some(text) = text_of(file, diags) else {
                        return;
                    };
                    let (c, d) = Contract::parse(path, text);
                    diags.extend(d);
                    let key = (key.0, key.1, port.to_string());
                    match c {
                        Some(c) => {
                            self.contracts.insert(key, c);
                        }
                        None => {
                            self.broken_ids.extend(id_of_broken(path, text));
                            self.broken_contracts.insert(key);
                        }
                    }
                } else if let Some(port) = name.strip_suffix(".sql") {
                    let Some(text) = text_of(file, diags) else {
                        return;
                    };
                    self.sqls.insert(
                        (key.0, key.1, port.to_string()),
                        (path.to_string(), text.to_string()),
                    );
                } else if name.ends_with(".yml") || name.ends_with(".yaml") {
                    diags.push(ignored(
                        path,
                        "a product folder holds dataproduct.yaml, <port>.odcs.yaml and <port>.sql",
                    ));
                }
            }
            ["policies", "rules", name] if name.ends_with(".sql") => {
                let Some(text) = text_of(file, diags) else {
                    return;
                };
                match sql::parse_query(path, text) {
                    Ok(q) => self.rules.push(q),
                    Err(d) => diags.push(d),
                }
            }
            ["policies", ..] => {
                // Read by the governance layer.
                self.governance_files.push(file.clone());
            }
            ["domains", ..] => diags.push(ignored(
                path,
                "see `tessera validate --help` for the layout",
            )),
            _ => {}
        }
    }

    fn finish(self, diags: &mut Diagnostics) -> Option<Mesh> {
        if !self.saw_mesh_yaml {
            diags.push(
                Diagnostic::error(
                    "missing-file",
                    "mesh.yaml",
                    "no mesh.yaml here: this is not the root of a mesh",
                )
                .with_help(
                    "run `tessera init <dir>` to start one, or pass the mesh root to validate",
                ),
            );
        }
        // Ids of contracts left out of the mesh (for an invalid name, reported here), so
        // that inputs naming them do not produce a second, misleading error.
        let mut broken_ids = self.broken_ids;
        let mut domains: BTreeMap<DomainName, Domain> = BTreeMap::new();
        for (name, config) in self.domains {
            let file = self
                .domain_files
                .get(&name)
                .cloned()
                .unwrap_or_else(|| format!("domains/{name}/domain.yaml"));
            check_domain(
                &name,
                &file,
                config.as_ref(),
                self.domain_files.contains_key(&name),
                diags,
            );
            // An invalid name is reported by check_domain; the domain stays out of the mesh.
            if let Ok(name) = DomainName::parse(&name) {
                domains.insert(
                    name.clone(),
                    Domain {
                        name,
                        config,
                        products: BTreeMap::new(),
                        sources: BTreeMap::new(),
                    },
                );
            }
        }

        for ((domain, name), contract) in self.sources {
            check_source(&domain, &name, &contract, diags);
            match (domains.get_mut(domain.as_str()), SourceName::parse(&name)) {
                (Some(d), Ok(name)) => {
                    d.sources.insert(
                        name.clone(),
                        Source {
                            domain: d.name.clone(),
                            name,
                            contract,
                        },
                    );
                }
                _ => {
                    broken_ids.insert(contract.id.to_string());
                }
            }
        }

        let mut contracts = self.contracts;
        let mut sqls = self.sqls;
        for (domain, product) in &self.product_dirs {
            let dir = format!("domains/{domain}/{product}");
            let descriptor = match self.products.get(&(domain.clone(), product.clone())) {
                Some(Some(p)) => p.clone(),
                Some(None) => continue, // its errors are already reported
                None => {
                    diags.push(
                        Diagnostic::error(
                            "missing-file",
                            format!("{dir}/dataproduct.yaml"),
                            format!("product folder `{dir}` has no dataproduct.yaml"),
                        )
                        .with_help(format!(
                            "run `tessera new product {domain}/{product}` to scaffold one"
                        )),
                    );
                    continue;
                }
            };
            check_product(domain, product, &descriptor, diags);
            let mut ports = Vec::new();
            for out in &descriptor.output_ports {
                let key = (domain.clone(), product.clone(), out.name.clone());
                let contract = contracts.remove(&key);
                let broken = self.broken_contracts.contains(&key);
                let sql_text = sqls.remove(&key);
                let (contract, sql) =
                    check_port(&descriptor, &dir, out, contract, broken, sql_text, diags);
                // An invalid port name is reported by check_product.
                match PortName::parse(&out.name) {
                    Ok(name) => ports.push(Port {
                        name,
                        version: out.version.clone(),
                        contract,
                        sql,
                    }),
                    Err(_) => broken_ids.extend(contract.map(|c| c.id.to_string())),
                }
            }
            match (
                domains.get_mut(domain.as_str()),
                ProductName::parse(product),
            ) {
                (Some(d), Ok(name)) => {
                    d.products.insert(
                        name.clone(),
                        Product {
                            domain: d.name.clone(),
                            name,
                            descriptor,
                            ports,
                        },
                    );
                }
                _ => broken_ids.extend(
                    ports
                        .iter()
                        .filter_map(|p| p.contract.as_ref())
                        .map(|c| c.id.to_string()),
                ),
            }
        }
        for ((domain, product, port), c) in contracts {
            diags.push(
                Diagnostic::warning(
                    "unused-file",
                    &c.file,
                    format!("no output port `{port}` in domains/{domain}/{product}/dataproduct.yaml uses this contract"),
                )
                .with_help("add the port to outputPorts, or remove the file"),
            );
        }
        for ((domain, product, port), (file, _)) in sqls {
            diags.push(
                Diagnostic::warning(
                    "unused-file",
                    file,
                    format!("no output port `{port}` in domains/{domain}/{product}/dataproduct.yaml is built by this SQL"),
                )
                .with_help("add the port to outputPorts, or remove the file"),
            );
        }

        let config = self.config?;
        let mesh = Mesh {
            config,
            domains,
            rules: self.rules,
            governance_files: self.governance_files,
        };
        check_mesh(&mesh, &broken_ids, diags);
        Some(mesh)
    }
}

fn ignored(path: &str, why: &str) -> Diagnostic {
    Diagnostic::warning(
        "ignored-file",
        path,
        format!("not part of the mesh layout, ignored ({why})"),
    )
}

fn name_error(
    file: &str,
    what: &str,
    name: &str,
    loc: Option<Location>,
    path: &str,
) -> Option<Diagnostic> {
    let (why, help) = names::identifier_problem(name)?;
    Some(
        Diagnostic::error("invalid-name", file, format!("{what} `{name}` {why}"))
            .at_opt(loc)
            .with_path(path)
            .with_help(help),
    )
}

fn check_domain(
    name: &str,
    file: &str,
    config: Option<&DomainConfig>,
    has_file: bool,
    diags: &mut Diagnostics,
) {
    if let Some(d) = name_error(file, "domain name", name, None, "") {
        diags.push(d);
    }
    if RESERVED_DOMAINS.contains(&name) {
        diags.push(Diagnostic::error(
            "reserved-name",
            file,
            format!("`{name}` is reserved by the engine and cannot be a domain name"),
        ));
    }
    if !has_file {
        diags.push(
            Diagnostic::error(
                "missing-file",
                file,
                format!("domain `{name}` has no domain.yaml"),
            )
            .with_help("create it with the domain's name, description and owners (team.members)"),
        );
        return;
    }
    let Some(config) = config else { return };
    if config.name != name {
        diags.push(
            Diagnostic::error(
                "name-mismatch",
                file,
                format!(
                    "domain.yaml names the domain `{}`, but its folder is `{name}`",
                    config.name
                ),
            )
            .at_opt(config.node.get("name").map(|n| n.loc))
            .with_path("name")
            .with_help("a domain's folder and name must be the same"),
        );
    }
    if config.owners().is_empty() {
        diags.push(
            Diagnostic::warning(
                "no-owners",
                file,
                format!("domain `{name}` has no owners, so nobody may publish its products"),
            )
            .at(config.node.loc)
            .with_help("add team.members with `role: owner`"),
        );
    }
}

fn check_source(domain: &str, name: &str, contract: &Contract, diags: &mut Diagnostics) {
    let file = &contract.file;
    if let Some(d) = name_error(file, "source name", name, None, "") {
        diags.push(d);
    }
    check_single_object(contract, name, "source", diags);
    let Some(server) = contract.local_server() else {
        diags.push(
            Diagnostic::error(
                "source-without-server",
                file,
                format!(
                    "source `{domain}.{name}` has no `local` server saying where its files are"
                ),
            )
            .at_opt(
                contract
                    .node
                    .get("servers")
                    .map(|n| n.loc)
                    .or(Some(contract.node.loc)),
            )
            .with_path("servers")
            .with_help(
                "add `servers: [{server: local, type: local, path: data/file.csv, format: csv}]`",
            ),
        );
        return;
    };
    let format = server.format.as_deref().unwrap_or("");
    if !SOURCE_FORMATS.contains(&format) {
        let index = contract
            .servers
            .iter()
            .position(|s| s.kind == "local")
            .unwrap_or(0);
        let node = contract
            .node
            .pointer(&["servers", &index.to_string(), "format"]);
        diags.push(
            Diagnostic::error(
                "invalid-value",
                file,
                format!(
                    "source format \"{format}\" is not one Tessera reads ({})",
                    SOURCE_FORMATS.join(", ")
                ),
            )
            .at_opt(node.map(|n| n.loc))
            .with_path(format!("servers[{index}].format"))
            .with_help_opt(
                suggest(format, SOURCE_FORMATS.iter().copied())
                    .map(|s| format!("did you mean `{s}`?")),
            ),
        );
    }
}

/// A port's or source's contract describes exactly one table, named like the port.
fn check_single_object(contract: &Contract, name: &str, what: &str, diags: &mut Diagnostics) {
    let file = &contract.file;
    match contract.objects.as_slice() {
        [] => diags.push(
            Diagnostic::error(
                "contract-without-schema",
                file,
                format!(
                    "the contract of {what} `{name}` has no schema object describing its columns"
                ),
            )
            .at(contract.node.loc)
            .with_path("schema")
            .with_help(format!(
                "add `schema: [{{name: {name}, properties: [...]}}]`"
            )),
        ),
        [object] if object.name != name => diags.push(
            Diagnostic::error(
                "name-mismatch",
                file,
                format!(
                    "schema object is named `{}`, but the {what} is `{name}`",
                    object.name
                ),
            )
            .at_opt(
                contract
                    .node
                    .pointer(&["schema", "0", "name"])
                    .map(|n| n.loc),
            )
            .with_path("schema[0].name")
            .with_help(format!("name the schema object `{name}`, like the file")),
        ),
        [_] => {}
        [_, second, ..] => diags.push(
            Diagnostic::error(
                "contract-multiple-objects",
                file,
                format!(
                    "a {what} is one table, but this contract describes {} schema objects",
                    contract.objects.len()
                ),
            )
            .at_opt(contract.node.pointer(&["schema", "1"]).map(|n| n.loc))
            .with_path("schema[1]")
            .with_help(format!("move `{}` into a port of its own", second.name)),
        ),
    }
    if let [object] = contract.objects.as_slice() {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, p) in object.properties.iter().enumerate() {
            let loc = contract
                .node
                .pointer(&["schema", "0", "properties", &i.to_string(), "name"])
                .map(|n| n.loc);
            let path = format!("schema[0].properties[{i}].name");
            if let Some(d) = name_error(file, "column name", &p.name, loc, &path) {
                diags.push(d);
            }
            if let Some(first) = seen.insert(p.name.as_str(), i) {
                diags.push(
                    Diagnostic::error(
                        "duplicate-name",
                        file,
                        format!(
                            "column `{}` is declared twice (also at schema[0].properties[{first}])",
                            p.name
                        ),
                    )
                    .at_opt(loc)
                    .with_path(path),
                );
            }
        }
    }
}

fn check_product(domain: &str, product: &str, descriptor: &DataProduct, diags: &mut Diagnostics) {
    let file = &descriptor.file;
    let node = &descriptor.node;
    if let Some(d) = name_error(file, "product folder name", product, None, "") {
        diags.push(d);
    }
    if product == SOURCES_DIR {
        diags.push(Diagnostic::error(
            "reserved-name",
            file,
            format!("`{SOURCES_DIR}` holds a domain's source contracts and cannot be a product"),
        ));
    }
    if let Some(d) = &descriptor.domain
        && d != domain
    {
        diags.push(
            Diagnostic::error(
                "name-mismatch",
                file,
                format!("the product says it belongs to domain `{d}`, but it is in the folder of domain `{domain}`"),
            )
            .at_opt(node.get("domain").map(|n| n.loc))
            .with_path("domain")
            .with_help(format!("set `domain: {domain}`, or move the product to domains/{d}/")),
        );
    }
    if descriptor.output_ports.is_empty() {
        diags.push(
            Diagnostic::error(
                "no-output-ports",
                file,
                "the product has no output ports; a product without output serves nothing",
            )
            .at(node.loc)
            .with_path("outputPorts"),
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, out) in descriptor.output_ports.iter().enumerate() {
        let loc = node
            .pointer(&["outputPorts", &i.to_string(), "name"])
            .map(|n| n.loc);
        let path = format!("outputPorts[{i}].name");
        if let Some(d) = name_error(file, "output port name", &out.name, loc, &path) {
            diags.push(d);
        }
        if let Some(first) = seen.insert(out.name.as_str(), i) {
            diags.push(
                Diagnostic::error(
                    "duplicate-name",
                    file,
                    format!(
                        "output port `{}` is declared twice (also at outputPorts[{first}])",
                        out.name
                    ),
                )
                .at_opt(loc)
                .with_path(path)
                .with_help(
                    "Tessera serves one version of a port at a time; bump `version` instead",
                ),
            );
        }
    }
}

fn check_port(
    descriptor: &DataProduct,
    dir: &str,
    out: &crate::odps::OutputPort,
    contract: Option<Contract>,
    contract_is_broken: bool,
    sql_text: Option<(String, String)>,
    diags: &mut Diagnostics,
) -> (Option<Contract>, Option<SqlQuery>) {
    let file = &descriptor.file;
    let index = descriptor
        .output_ports
        .iter()
        .position(|o| o.name == out.name)
        .unwrap_or(0);
    let port_loc = descriptor
        .node
        .pointer(&["outputPorts", &index.to_string()])
        .map(|n| n.loc);
    let contract_file = format!("{dir}/{}.odcs.yaml", out.name);
    let sql_file = format!("{dir}/{}.sql", out.name);
    match &contract {
        // Its own errors say what is wrong with it.
        None if contract_is_broken => {}
        None => diags.push(
            Diagnostic::error(
                "missing-file",
                file,
                format!(
                    "output port `{}` has no contract: {contract_file} does not exist",
                    out.name
                ),
            )
            .at_opt(port_loc)
            .with_path(format!("outputPorts[{index}]"))
            .with_help(format!("write the port's ODCS contract in {contract_file}")),
        ),
        Some(c) => {
            match &out.contract_id {
                None => diags.push(
                    Diagnostic::error(
                        "missing-field",
                        file,
                        format!("output port `{}` needs `contractId` (the id of {contract_file})", out.name),
                    )
                    .at_opt(port_loc)
                    .with_path(format!("outputPorts[{index}]"))
                    .with_help(format!("add `contractId: {}`", c.id)),
                ),
                Some(id) if *id != c.id => diags.push(
                    Diagnostic::error(
                        "contract-id-mismatch",
                        file,
                        format!("output port `{}` names contract `{id}`, but {contract_file} has id `{}`", out.name, c.id),
                    )
                    .at_opt(descriptor.node.pointer(&["outputPorts", &index.to_string(), "contractId"]).map(|n| n.loc))
                    .with_path(format!("outputPorts[{index}].contractId"))
                    .with_help(format!("set `contractId: {}`", c.id)),
                ),
                Some(_) => {}
            }
            check_single_object(c, &out.name, "port", diags);
        }
    }
    let sql = match sql_text {
        None => {
            diags.push(
                Diagnostic::error(
                    "missing-file",
                    file,
                    format!(
                        "output port `{}` has no SQL: {sql_file} does not exist",
                        out.name
                    ),
                )
                .at_opt(port_loc)
                .with_path(format!("outputPorts[{index}]"))
                .with_help("write the SELECT that builds the port from the product's inputs"),
            );
            None
        }
        Some((path, text)) => match sql::parse_query(&path, &text) {
            Ok(q) => Some(q),
            Err(d) => {
                diags.push(d);
                None
            }
        },
    };
    (contract, sql)
}

/// Checks that span files: ids, names per domain, inputs, cycles, SQL references.
fn check_mesh(mesh: &Mesh, broken_ids: &BTreeSet<String>, diags: &mut Diagnostics) {
    // Ids unique across the mesh.
    let mut product_ids: HashMap<&str, &str> = HashMap::new();
    for p in mesh.products() {
        if let Some(first) =
            product_ids.insert(p.descriptor.id.as_str(), p.descriptor.file.as_str())
        {
            diags.push(
                Diagnostic::error(
                    "duplicate-id",
                    &p.descriptor.file,
                    format!("product id `{}` is also used by {first}", p.descriptor.id),
                )
                .at_opt(p.descriptor.node.get("id").map(|n| n.loc))
                .with_path("id"),
            );
        }
    }
    let mut contract_ids: HashMap<&str, &str> = HashMap::new();
    // Ids used twice resolve to neither: the duplicate-id error says why.
    let mut ambiguous_ids: BTreeSet<&str> = BTreeSet::new();
    let all_contracts = mesh.sources().map(|s| &s.contract).chain(
        mesh.products()
            .flat_map(|p| p.ports.iter().filter_map(|port| port.contract.as_ref())),
    );
    for c in all_contracts {
        if let Some(first) = contract_ids.insert(c.id.as_str(), c.file.as_str()) {
            ambiguous_ids.insert(c.id.as_str());
            diags.push(
                Diagnostic::error(
                    "duplicate-id",
                    &c.file,
                    format!("contract id `{}` is also used by {first}", c.id),
                )
                .at_opt(c.node.get("id").map(|n| n.loc))
                .with_path("id")
                .with_help("input ports find contracts by id, so each must be unique in the mesh"),
            );
        }
    }

    // A deprecated port's replacement is a port of the mesh, and not itself.
    let ports: BTreeSet<String> = mesh
        .products()
        .flat_map(|p| {
            p.ports
                .iter()
                .map(move |port| format!("{}.{}", p.domain, port.name))
        })
        .collect();
    for p in mesh.products() {
        for port in &p.ports {
            let Some(c) = &port.contract else { continue };
            if c.status == "deprecated" && c.sunset().is_none() {
                diags.push(
                    Diagnostic::error(
                        "deprecated-without-sunset",
                        &c.file,
                        "a deprecated port needs a sunset date: the day it stops being served",
                    )
                    .at_opt(c.node.get("status").map(|n| n.loc))
                    .with_path("status")
                    .with_help(format!(
                        "add to customProperties: `- {{property: {}, value: \"2027-03-31\"}}`, and `{}` with the port that replaces it",
                        crate::custom::SUNSET,
                        crate::custom::REPLACEMENT
                    )),
                );
            }
            let Some(replacement) = c.replacement() else {
                continue;
            };
            let own = format!("{}.{}", p.domain, port.name);
            let problem = if replacement == own {
                Some("a port cannot replace itself".to_string())
            } else if !ports.contains(replacement) {
                Some(format!(
                    "`{replacement}` is not an output port of this mesh"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                diags.push(
                    Diagnostic::error(
                        "unknown-replacement",
                        &c.file,
                        format!("{}: {problem}", crate::custom::REPLACEMENT),
                    )
                    .at_opt(c.node.get("customProperties").map(|n| n.loc))
                    .with_path("customProperties")
                    .with_help("name the port consumers should move to, as domain.port"),
                );
            }
        }
    }

    // Table names (`<domain>.<name>`) unique per domain across ports and sources.
    for domain in mesh.domains.values() {
        let mut names: HashMap<&str, String> = HashMap::new();
        for s in domain.sources.values() {
            names.insert(s.name.as_str(), s.contract.file.clone());
        }
        for p in domain.products.values() {
            for (i, port) in p.ports.iter().enumerate() {
                if let Some(first) = names.insert(port.name.as_str(), p.descriptor.file.clone())
                    && first != p.descriptor.file
                {
                    diags.push(
                        Diagnostic::error(
                            "duplicate-name",
                            &p.descriptor.file,
                            format!(
                                "table `{}.{}` is also defined by {first}",
                                domain.name, port.name
                            ),
                        )
                        .at_opt(
                            p.descriptor
                                .node
                                .pointer(&["outputPorts", &i.to_string(), "name"])
                                .map(|n| n.loc),
                        )
                        .with_path(format!("outputPorts[{i}].name"))
                        .with_help("port and source names must be unique within a domain"),
                    );
                }
            }
        }
    }

    // Inputs resolve, products do not read themselves, and there are no cycles.
    let index = mesh.contract_index();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in mesh.products() {
        let file = &p.descriptor.file;
        let mut tables: Vec<String> = Vec::new();
        // With an input that does not resolve, the SQL's tables cannot be checked fairly.
        let mut all_resolved = true;
        for (i, input) in p.descriptor.input_ports.iter().enumerate() {
            let loc = p
                .descriptor
                .node
                .pointer(&["inputPorts", &i.to_string(), "contractId"])
                .map(|n| n.loc);
            let path = format!("inputPorts[{i}].contractId");
            match index.get(input.contract_id.as_str()) {
                None if broken_ids.contains(input.contract_id.as_str()) => all_resolved = false,
                _ if ambiguous_ids.contains(input.contract_id.as_str()) => all_resolved = false,
                None => {
                    all_resolved = false;
                    let known = index
                        .keys()
                        .copied()
                        .chain(broken_ids.iter().map(String::as_str));
                    let hint = suggest(input.contract_id.as_str(), known)
                        .map(|k| match broken_ids.contains(k) {
                            true => format!("did you mean `{k}`? (its contract has errors, reported above)"),
                            false => format!("did you mean `{k}`?"),
                        })
                        .unwrap_or_else(|| "an input port names the `id` of a source contract or of another product's port contract".into());
                    diags.push(
                        Diagnostic::error(
                            "unresolved-input",
                            file,
                            format!("input port `{}` reads contract `{}`, which no source or output port in the mesh has", input.name, input.contract_id),
                        )
                        .at_opt(loc)
                        .with_path(path)
                        .with_help(hint),
                    );
                }
                Some(InputTarget::Port(r, port)) if r.domain == p.domain && r.product == p.name => {
                    all_resolved = false;
                    diags.push(
                        Diagnostic::error(
                            "self-reference",
                            file,
                            format!("input port `{}` reads this product's own output port `{port}`", input.name),
                        )
                        .at_opt(loc)
                        .with_path(path)
                        .with_help("a product cannot be built from itself; read the upstream inputs instead"),
                    );
                }
                Some(target) => {
                    if let InputTarget::Port(upstream, _) = target {
                        edges
                            .entry(p.reference().to_string())
                            .or_default()
                            .insert(upstream.to_string());
                    }
                    tables.push(target.table());
                }
            }
        }
        for port in p.ports.iter().filter(|_| all_resolved) {
            if let Some(q) = &port.sql {
                check_sql_tables(q, &tables, diags);
            }
        }
    }
    for cycle in find_cycles(&edges) {
        let first = &cycle[0];
        let file = mesh
            .products()
            .find(|p| p.reference().to_string() == *first)
            .map(|p| p.descriptor.file.clone())
            .unwrap_or_default();
        diags.push(
            Diagnostic::error(
                "cycle",
                file,
                format!(
                    "products depend on each other in a cycle: {}",
                    cycle.join(" → ")
                ),
            )
            .with_path("inputPorts")
            .with_help("break the cycle: a product may only read products upstream of it"),
        );
    }
}

fn check_sql_tables(q: &SqlQuery, inputs: &[String], diags: &mut Diagnostics) {
    for t in &q.tables {
        let name = t.name();
        if inputs.contains(&name) {
            continue;
        }
        let listed = if inputs.is_empty() {
            "the product has no input ports".to_string()
        } else {
            format!("this product's inputs are: {}", inputs.join(", "))
        };
        let help = match suggest(&name, inputs.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? {listed}"),
            None if t.parts.len() == 1 => {
                format!("qualify the table with its domain (`<domain>.{name}`); {listed}")
            }
            None => format!("declare it as an input port in dataproduct.yaml; {listed}"),
        };
        diags.push(
            Diagnostic::error(
                "unknown-table",
                &q.file,
                format!("the query reads `{name}`, which is not an input of this product"),
            )
            .at(t.loc)
            .with_help(help),
        );
    }
}

/// Every elementary cycle's nodes, each reported once, starting from its smallest node.
fn find_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Visiting,
        Done,
    }
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut HashMap<String, State>,
        stack: &mut Vec<String>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        state.insert(node.to_string(), State::Visiting);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(State::Visiting) => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[start..].to_vec();
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, n)| *n)
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    let first = cycle[0].clone();
                    cycle.push(first);
                    found.insert(cycle);
                }
                Some(State::Done) => {}
                None => visit(next, edges, state, stack, found),
            }
        }
        stack.pop();
        state.insert(node.to_string(), State::Done);
    }
    let mut state = HashMap::new();
    let mut found = BTreeSet::new();
    for node in edges.keys() {
        if !state.contains_key(node.as_str()) {
            visit(node, edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found.into_iter().collect()
}

/// Checks one file on its own, choosing what it is by its name: `mesh.yaml`, `domain.yaml`,
/// `dataproduct.yaml` (or `*.odps.yaml`), `*.odcs.yaml`/`*.yaml` contracts, `*.sql`.
pub fn check_file(path: &str, bytes: &[u8]) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let text = match yaml::decode(path, bytes) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return diags;
        }
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    let found = match name {
        "mesh.yaml" => MeshConfig::parse(path, text).1,
        "domain.yaml" => DomainConfig::parse(path, text).1,
        "dataproduct.yaml" => DataProduct::parse(path, text).1,
        _ if name.ends_with(".odps.yaml") || name.ends_with(".odps.yml") => {
            DataProduct::parse(path, text).1
        }
        _ if name.ends_with(".sql") => match sql::parse_query(path, text) {
            Ok(_) => Diagnostics::new(),
            Err(d) => {
                let mut ds = Diagnostics::new();
                ds.push(d);
                ds
            }
        },
        _ => Contract::parse(path, text).1,
    };
    diags.extend(found);
    diags.sort();
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_once() {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        edges.entry("b".into()).or_default().insert("c".into());
        edges.entry("c".into()).or_default().insert("b".into());
        edges.entry("a".into()).or_default().insert("b".into());
        edges.entry("d".into()).or_default().insert("d".into());
        assert_eq!(
            find_cycles(&edges),
            vec![vec!["b", "c", "b"], vec!["d", "d"]]
        );
    }
}
