//! ODPS v1 data product descriptors (`dataproduct.yaml`): what a product is, who owns it,
//! what it reads (input ports, by contract id) and what it promises (output ports).
//!
//! The shape follows the official `odps-json-schema-v1.0.0.json`; like [`crate::odcs`], the
//! whole document is kept so that writing it back loses nothing.

use serde::Deserialize;
use serde_json::Value;

use crate::custom;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::names::{ContractId, ProductId};
use crate::shape::{ObjectShape, Shape, opt, req};
use crate::yaml::{self, Node};

pub const API_VERSIONS: &[&str] = &["v1.0.0", "v0.9.0"];
pub const CURRENT_API_VERSION: &str = "v1.0.0";

/// Product statuses Tessera acts on. ODPS lists them as examples, not an enum, so other
/// values are accepted with a warning.
pub const STATUSES: &[&str] = &["proposed", "draft", "active", "deprecated", "retired"];

const TAGS: Shape = Shape::List(&Shape::String);

static CUSTOM_PROPERTY: ObjectShape = ObjectShape::closed(
    "custom property",
    &[
        req("property", Shape::String),
        req("value", Shape::Any),
        opt("description", Shape::String),
    ],
);
const CUSTOM_PROPERTIES: Shape = Shape::List(&Shape::Object(&CUSTOM_PROPERTY));

static AUTHORITATIVE_DEFINITION: ObjectShape = ObjectShape::closed(
    "authoritative definition",
    &[
        req("type", Shape::String),
        req("url", Shape::String),
        opt("description", Shape::String),
    ],
);
const AUTHORITATIVE_DEFINITIONS: Shape = Shape::List(&Shape::Object(&AUTHORITATIVE_DEFINITION));

static DESCRIPTION: ObjectShape = ObjectShape::closed(
    "description",
    &[
        opt("purpose", Shape::String),
        opt("limitations", Shape::String),
        opt("usage", Shape::String),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
);

static INPUT_PORT: ObjectShape = ObjectShape::closed(
    "input port",
    &[
        req("name", Shape::String),
        req("version", Shape::String),
        req("contractId", Shape::String),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

static SBOM: ObjectShape = ObjectShape::closed(
    "SBOM",
    &[opt("type", Shape::String), req("url", Shape::String)],
);

static INPUT_CONTRACT: ObjectShape = ObjectShape::closed(
    "input contract",
    &[req("id", Shape::String), req("version", Shape::String)],
);

static OUTPUT_PORT: ObjectShape = ObjectShape::closed(
    "output port",
    &[
        req("name", Shape::String),
        opt("description", Shape::String),
        opt("type", Shape::String),
        req("version", Shape::String),
        opt("contractId", Shape::String),
        opt("sbom", Shape::List(&Shape::Object(&SBOM))),
        opt(
            "inputContracts",
            Shape::List(&Shape::Object(&INPUT_CONTRACT)),
        ),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

static MANAGEMENT_PORT: ObjectShape = ObjectShape::closed(
    "management port",
    &[
        req("name", Shape::String),
        req("content", Shape::String),
        opt("type", Shape::String),
        opt("url", Shape::String),
        opt("channel", Shape::String),
        opt("description", Shape::String),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

static SUPPORT: ObjectShape = ObjectShape::closed(
    "support channel",
    &[
        req("channel", Shape::String),
        req("url", Shape::String),
        opt("description", Shape::String),
        opt("tool", Shape::String),
        opt("scope", Shape::String),
        opt("invitationUrl", Shape::String),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

pub static TEAM_MEMBER: ObjectShape = ObjectShape::closed(
    "team member",
    &[
        req("username", Shape::String),
        opt("name", Shape::String),
        opt("description", Shape::String),
        opt("role", Shape::String),
        opt("dateIn", Shape::String),
        opt("dateOut", Shape::String),
        opt("replacedByUsername", Shape::String),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

/// The team object, shared with `domain.yaml` so owners look the same everywhere.
pub static TEAM: ObjectShape = ObjectShape::closed(
    "team",
    &[
        opt("name", Shape::String),
        opt("description", Shape::String),
        opt("members", Shape::List(&Shape::Object(&TEAM_MEMBER))),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

pub static PRODUCT: ObjectShape = ObjectShape::closed(
    "data product",
    &[
        req("apiVersion", Shape::Enum(API_VERSIONS)),
        req("kind", Shape::Enum(&["DataProduct"])),
        req("id", Shape::String),
        opt("name", Shape::String),
        opt("version", Shape::String),
        req("status", Shape::String),
        opt("domain", Shape::String),
        opt("tenant", Shape::String),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
        opt("description", Shape::Object(&DESCRIPTION)),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("tags", TAGS),
        opt("inputPorts", Shape::List(&Shape::Object(&INPUT_PORT))),
        opt("outputPorts", Shape::List(&Shape::Object(&OUTPUT_PORT))),
        opt(
            "managementPorts",
            Shape::List(&Shape::Object(&MANAGEMENT_PORT)),
        ),
        opt("support", Shape::List(&Shape::Object(&SUPPORT))),
        opt("team", Shape::Object(&TEAM)),
        opt("productCreatedTs", Shape::String),
    ],
);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputPort {
    pub name: String,
    pub version: String,
    pub contract_id: ContractId,
    #[serde(default)]
    pub custom_properties: Option<Value>,
}

impl InputPort {
    /// The Delta version pinned with `tesseraInputVersion`, if any: builds read that
    /// version of the input port instead of its latest.
    pub fn pinned_version(&self) -> Option<u64> {
        crate::custom::lookup(
            self.custom_properties.as_ref(),
            crate::custom::INPUT_VERSION,
        )?
        .as_u64()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputPort {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub contract_id: Option<ContractId>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Team {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub members: Vec<TeamMember>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TeamMember {
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    id: ProductId,
    status: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    input_ports: Vec<InputPort>,
    #[serde(default)]
    output_ports: Vec<OutputPort>,
    #[serde(default)]
    team: Option<Team>,
}

/// A parsed, structurally valid data product descriptor.
#[derive(Debug, Clone)]
pub struct DataProduct {
    pub file: String,
    pub node: Node,
    pub document: Value,
    pub id: ProductId,
    pub status: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub input_ports: Vec<InputPort>,
    pub output_ports: Vec<OutputPort>,
    pub team: Team,
}

impl DataProduct {
    pub fn parse(file: &str, text: &str) -> (Option<DataProduct>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let parsed = yaml::parse_into(file, text, &mut diags)
            .and_then(|node| Self::from_node(file, node, &mut diags));
        (parsed, diags)
    }

    pub fn from_node(file: &str, node: Node, diags: &mut Diagnostics) -> Option<DataProduct> {
        let before = diags.error_count();
        crate::shape::check(file, &node, &Shape::Object(&PRODUCT), diags);
        custom::check(file, &node, custom::Level::Product, diags);
        if diags.error_count() > before {
            return None;
        }
        if let Some(status) = node.get("status")
            && let Some(s) = status.as_str()
            && !STATUSES.contains(&s)
        {
            diags.push(
                Diagnostic::warning(
                    "unknown-status",
                    file,
                    format!(
                        "status \"{s}\" is not one Tessera acts on ({}); the product is treated as draft",
                        STATUSES.join(", ")
                    ),
                )
                .at(status.loc)
                .with_path("status")
                .with_help_opt(crate::diagnostic::suggest(s, STATUSES.iter().copied()).map(|k| format!("did you mean `{k}`?"))),
            );
        }
        let document = node.to_json();
        let head: Head = yaml::read_typed(file, &document, "data product", diags)?;
        Some(DataProduct {
            file: file.to_string(),
            node,
            document,
            id: head.id,
            status: head.status,
            name: head.name,
            domain: head.domain,
            input_ports: head.input_ports,
            output_ports: head.output_ports,
            team: head.team.unwrap_or_default(),
        })
    }

    pub fn to_yaml(&self) -> String {
        yaml::to_yaml(&self.document)
    }
}
