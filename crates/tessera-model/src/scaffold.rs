//! Files for `tessera init` and `tessera new product`, as (relative path, text) pairs.
//! The caller writes them; this module only decides their content. Everything written
//! here validates with `tessera validate` and against the official ODCS/ODPS schemas
//! (tests check both).

use crate::names::{ContractId, DomainName, PortName, ProductName, ProductRef};

/// A file to create, relative to the mesh root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub path: String,
    pub text: String,
}

fn file(path: impl Into<String>, text: impl Into<String>) -> NewFile {
    NewFile {
        path: path.into(),
        text: text.into(),
    }
}

/// What `tessera new product` should create.
#[derive(Debug, Clone)]
pub struct ProductSpec {
    pub product: ProductRef,
    /// The output port; defaults to the product's name.
    pub port: PortName,
    /// Tables read, as `(input port name, contract id, table name)`.
    pub inputs: Vec<(String, ContractId, String)>,
    /// Owner username for the team block.
    pub owner: String,
}

/// `s` as a YAML scalar that reads back as the same string: plain when that is safe,
/// double-quoted (JSON syntax, which YAML accepts) otherwise.
pub fn yaml_str(s: &str) -> String {
    let plain_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '@' | '+' | '-' | '/'));
    let starts_well = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ends_well = !s.ends_with(' ');
    let stays_string = matches!(
        crate::yaml::parse("", s).map(|n| n.value),
        Ok(crate::yaml::NodeValue::String(ref t)) if t == s
    );
    if plain_chars && starts_well && ends_well && stays_string {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

pub fn mesh_yaml(name: &str) -> String {
    let name = yaml_str(name);
    format!(
        "# The mesh: its name, where output ports are stored, and the metadata store.\n\
name: {name}\n\
description: A Tessera data mesh.\n\
storage:\n\
\x20 # A folder (relative to this file) or an object store URL such as s3://bucket/mesh.\n\
\x20 root: {root}\n\
catalog:\n\
\x20 # sqlite://<file> (embedded, the default) or postgres://user@host/db for a team deployment.\n\
\x20 url: {catalog}\n\
server:\n\
\x20 http: {http}\n\
\x20 pg: {pg}\n\
\x20 flight: {flight}\n",
        root = crate::config::DEFAULT_STORAGE_ROOT,
        catalog = crate::config::DEFAULT_CATALOG_URL,
        http = crate::config::DEFAULT_HTTP,
        pg = crate::config::DEFAULT_PG,
        flight = crate::config::DEFAULT_FLIGHT,
    )
}

pub fn domain_yaml(domain: &str, owner: &str) -> String {
    let owner = yaml_str(owner);
    format!(
        "# The {domain} domain: who owns it. Only its owners may publish its products.\n\
name: {domain}\n\
description: The {domain} domain.\n\
team:\n\
\x20 name: {domain} team\n\
\x20 members:\n\
\x20   - username: {owner}\n\
\x20     role: owner\n"
    )
}

fn team_block(domain: &str, owner: &str) -> String {
    let owner = yaml_str(owner);
    format!(
        "team:\n\
\x20 name: {domain} team\n\
\x20 members:\n\
\x20   - username: {owner}\n\
\x20     role: owner\n"
    )
}

pub fn dataproduct_yaml(spec: &ProductSpec) -> String {
    let ProductSpec {
        product: ProductRef { domain, product },
        port,
        inputs,
        owner,
    } = spec;
    let mut inputs_yaml = String::new();
    if inputs.is_empty() {
        inputs_yaml.push_str("inputPorts: []\n");
    } else {
        inputs_yaml.push_str("inputPorts:\n");
        for (name, contract_id, _) in inputs {
            inputs_yaml.push_str(&format!(
                "  - name: {name}\n    version: 1.0.0\n    contractId: {}\n",
                yaml_str(contract_id.as_str())
            ));
        }
    }
    format!(
        "# ODPS v1 data product descriptor. Tessera settings go in customProperties.\n\
apiVersion: v1.0.0\n\
kind: DataProduct\n\
id: {domain}.{product}\n\
name: {title}\n\
version: 1.0.0\n\
status: draft\n\
domain: {domain}\n\
description:\n\
\x20 purpose: Describe what {product} is for.\n\
\x20 usage: Query it as {domain}.{port}.\n\
{inputs_yaml}\
outputPorts:\n\
\x20 - name: {port}\n\
\x20   version: 1.0.0\n\
\x20   type: table\n\
\x20   contractId: {domain}.{product}.{port}\n\
{team}",
        title = title(product.as_str()),
        team = team_block(domain.as_str(), owner),
    )
}

pub fn contract_yaml(spec: &ProductSpec) -> String {
    let ProductSpec {
        product: ProductRef { domain, product },
        port,
        owner,
        ..
    } = spec;
    format!(
        "# ODCS v3 data contract of output port {domain}.{port}: what every published version promises.\n\
apiVersion: {api}\n\
kind: DataContract\n\
id: {domain}.{product}.{port}\n\
name: {title}\n\
version: 1.0.0\n\
status: draft\n\
domain: {domain}\n\
dataProduct: {product}\n\
description:\n\
\x20 purpose: Describe what one row of {port} is.\n\
schema:\n\
\x20 - name: {port}\n\
\x20   physicalType: table\n\
\x20   description: One row per {port} record.\n\
\x20   properties:\n\
\x20     - name: id\n\
\x20       logicalType: integer\n\
\x20       description: Identifier of the record.\n\
\x20       required: true\n\
\x20       unique: true\n\
\x20       primaryKey: true\n\
\x20     - name: name\n\
\x20       logicalType: string\n\
\x20       description: Display name.\n\
\x20       logicalTypeOptions:\n\
\x20         maxLength: 200\n\
\x20   quality:\n\
\x20     - type: library\n\
\x20       metric: rowCount\n\
\x20       mustBeGreaterThan: 0\n\
\x20       description: The port is never empty.\n\
slaProperties:\n\
\x20 - property: frequency\n\
\x20   value: 1\n\
\x20   unit: d\n\
{team}",
        api = crate::odcs::shape::CURRENT_API_VERSION,
        title = title(port.as_str()),
        team = team_block(domain.as_str(), owner),
    )
}

pub fn port_sql(spec: &ProductSpec) -> String {
    match spec.inputs.first() {
        Some((_, _, table)) => format!(
            "-- Builds {domain}.{port} from the product's inputs. One SELECT; Tessera writes the result.\n\
SELECT\n\
\x20   id,\n\
\x20   name\n\
FROM {table}\n",
            domain = spec.product.domain,
            port = spec.port,
        ),
        None => format!(
            "-- Builds {domain}.{port}. Declare inputs in dataproduct.yaml (inputPorts), then\n\
-- read them here as <domain>.<port or source>. One SELECT; Tessera writes the result.\n\
SELECT * FROM (VALUES (1, 'example')) AS t(id, name)\n",
            domain = spec.product.domain,
            port = spec.port,
        ),
    }
}

/// The files of `tessera new product`. `with_domain` adds `domain.yaml` for a new domain.
pub fn new_product(spec: &ProductSpec, with_domain: bool) -> Vec<NewFile> {
    let ProductRef { domain, product } = &spec.product;
    let dir = format!("domains/{domain}/{product}");
    let mut files = Vec::new();
    if with_domain {
        files.push(file(
            format!("domains/{domain}/domain.yaml"),
            domain_yaml(domain.as_str(), &spec.owner),
        ));
    }
    files.push(file(
        format!("{dir}/dataproduct.yaml"),
        dataproduct_yaml(spec),
    ));
    files.push(file(
        format!("{dir}/{}.odcs.yaml", spec.port),
        contract_yaml(spec),
    ));
    files.push(file(format!("{dir}/{}.sql", spec.port), port_sql(spec)));
    files
}

/// The default global rules (`policies/rules/`), written by `tessera init` and shipped
/// with the demo mesh: each a query over `mesh_meta`, each row a violation.
pub const RULE_MASKED: &str = "-- A classified column (other than public or internal) needs a masking method in mesh.yaml\n\
-- (`masking: {<classification>: hash|partial|redact|null|generalize}`), so that policies can show it masked.\n\
-- severity: error\n\
SELECT domain, product, port, column_name, classification\n\
FROM mesh_meta.columns\n\
WHERE classification IS NOT NULL\n\
  AND classification NOT IN ('public', 'internal')\n\
  AND masking IS NULL\n";

pub const RULE_OWNER: &str = "-- Every data product names its owning team (team.name in dataproduct.yaml).\n\
-- severity: error\n\
SELECT domain, product, 'no owning team: add team.name and its members to dataproduct.yaml' AS message\n\
FROM mesh_meta.products\n\
WHERE team IS NULL OR trim(team) = ''\n";

pub const RULE_FRESHNESS: &str = "-- Every output port promises how fresh its data is: a `latency` (ODCS' freshness) or `frequency` SLA in its contract.\n\
-- severity: warning\n\
SELECT domain, product, port, 'no freshness SLA: add slaProperties [{property: latency, value: 1, unit: d}] to the contract' AS message\n\
FROM mesh_meta.ports\n\
WHERE NOT (array_has(sla, 'latency') OR array_has(sla, 'frequency') OR array_has(sla, 'freshness'))\n";

/// The files of `tessera init`: a mesh with one domain, one source and one product built
/// from it, so `tessera validate` (and later `tessera publish`) work straight away.
pub fn new_mesh(name: &str, owner: &str) -> Vec<NewFile> {
    let source_id = "crm.sources.raw_customers";
    let spec = ProductSpec {
        product: ProductRef {
            domain: DomainName::literal("crm"),
            product: ProductName::literal("customers"),
        },
        port: PortName::literal("customers"),
        inputs: vec![(
            "raw_customers".into(),
            ContractId::new(source_id),
            "crm.raw_customers".into(),
        )],
        owner: owner.into(),
    };
    let mut files = vec![
        file("mesh.yaml", mesh_yaml(name)),
        file(
            ".gitignore",
            "# Tessera's local state: the metadata store and published data.\n.tessera/\n",
        ),
        file(
            "policies/access.cedar",
            "// Access policies in Cedar: who may query, publish, approve and erase.\n\
// Tessera denies everything that no policy permits.\n",
        ),
        file(
            "policies/rules/classified_columns_are_masked.sql",
            RULE_MASKED,
        ),
        file("policies/rules/products_have_an_owner.sql", RULE_OWNER),
        file("policies/rules/ports_promise_freshness.sql", RULE_FRESHNESS),
        file(
            "README.md",
            format!(
                "# {name}\n\nA Tessera data mesh.\n\n\
```\nmesh.yaml                                 the mesh: storage root, metadata store, server ports\n\
domains/<domain>/domain.yaml              a domain and its owners\n\
domains/<domain>/sources/<src>.odcs.yaml  a source file, described by an ODCS contract\n\
domains/<domain>/<product>/dataproduct.yaml   ODPS descriptor: inputs, output ports, team\n\
domains/<domain>/<product>/<port>.odcs.yaml   ODCS contract of an output port\n\
domains/<domain>/<product>/<port>.sql         the SELECT that builds the port\n\
policies/                                 access policies (Cedar) and global rules (SQL)\n```\n\n\
Check it with `tessera validate`; add a product with `tessera new product <domain>/<product>`.\n"
            ),
        ),
        file("domains/crm/domain.yaml", domain_yaml("crm", owner)),
        file(
            "domains/crm/sources/raw_customers.odcs.yaml",
            source_contract(source_id, owner),
        ),
        file(
            "data/crm/raw_customers.csv",
            "id,name,email,country\n1,Ada Lovelace,ada@example.com,GB\n2,Grace Hopper,grace@example.com,US\n3,Katherine Johnson,katherine@example.com,US\n",
        ),
    ];
    files.extend(new_product(&spec, false));
    files
}

fn source_contract(id: &str, owner: &str) -> String {
    format!(
        "# ODCS v3 contract of a source: a file the crm domain receives. Checked like a product.\n\
apiVersion: {api}\n\
kind: DataContract\n\
id: {id}\n\
name: Raw customers\n\
version: 1.0.0\n\
status: active\n\
domain: crm\n\
servers:\n\
\x20 - server: local\n\
\x20   type: local\n\
\x20   path: data/crm/raw_customers.csv\n\
\x20   format: csv\n\
\x20   customProperties:\n\
\x20     - property: tesseraCsvHeader\n\
\x20       value: true\n\
schema:\n\
\x20 - name: raw_customers\n\
\x20   properties:\n\
\x20     - name: id\n\
\x20       logicalType: integer\n\
\x20       required: true\n\
\x20       unique: true\n\
\x20       customProperties:\n\
\x20         - property: tesseraSubjectKey\n\
\x20           value: customer\n\
\x20     - name: name\n\
\x20       logicalType: string\n\
\x20       classification: pii\n\
\x20     - name: email\n\
\x20       logicalType: string\n\
\x20       classification: pii\n\
\x20       logicalTypeOptions:\n\
\x20         pattern: '^[^@]+@[^@]+$'\n\
\x20     - name: country\n\
\x20       logicalType: string\n\
\x20       quality:\n\
\x20         - type: library\n\
\x20           metric: invalidValues\n\
\x20           arguments:\n\
\x20             validValues: [GB, US, DE, FR]\n\
\x20           mustBe: 0\n\
\x20           severity: warning\n\
{team}",
        api = crate::odcs::shape::CURRENT_API_VERSION,
        team = team_block("crm", owner),
    )
}

fn title(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_that_would_change_type_or_break_yaml_are_quoted() {
        assert_eq!(yaml_str("ada@example.com"), "ada@example.com");
        assert_eq!(yaml_str("true"), "\"true\"");
        assert_eq!(yaml_str("123"), "\"123\"");
        assert_eq!(yaml_str("a: b # c"), "\"a: b # c\"");
        assert_eq!(yaml_str(""), "\"\"");
    }

    #[test]
    fn titles_read_like_names() {
        assert_eq!(title("customer_360"), "Customer 360");
    }
}
