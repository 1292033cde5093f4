//! ODCS v3 data contracts: the promise an output port (or a source) makes about its data.
//!
//! A [`Contract`] keeps the whole document as JSON ([`Contract::document`]), so writing it
//! back loses nothing — not even fields Tessera does not use — and offers typed views of
//! the parts Tessera acts on: schema objects and their columns, quality rules, SLA
//! properties, servers and Tessera's own settings.

pub mod shape;

use serde::Deserialize;
use serde_json::Value;

use crate::custom;
use crate::diagnostic::Diagnostics;
use crate::names::ContractId;
use crate::shape::Shape;
use crate::yaml::{self, Node};

/// A parsed, structurally valid contract.
#[derive(Debug, Clone)]
pub struct Contract {
    pub file: String,
    /// The located tree, for pointing at fields in later checks.
    pub node: Node,
    /// The whole document, lossless, key order kept.
    pub document: Value,
    pub id: ContractId,
    pub version: String,
    pub api_version: String,
    pub status: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub data_product: Option<String>,
    pub objects: Vec<SchemaObject>,
    pub servers: Vec<Server>,
    pub sla: Vec<SlaProperty>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaObject {
    pub name: String,
    #[serde(default)]
    pub physical_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub properties: Vec<Property>,
    #[serde(default)]
    pub quality: Vec<QualityRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub logical_type: Option<String>,
    #[serde(default)]
    pub logical_type_options: Option<Value>,
    #[serde(default)]
    pub physical_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub primary_key_position: Option<i64>,
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_properties: Option<Value>,
    #[serde(default)]
    pub quality: Vec<QualityRule>,
    #[serde(default)]
    pub properties: Vec<Property>,
    #[serde(default)]
    pub items: Option<Box<Property>>,
}

impl Property {
    /// The kind of data subject this column identifies (`tesseraSubjectKey`), if any.
    pub fn subject_key(&self) -> Option<&str> {
        custom::lookup(self.custom_properties.as_ref(), custom::SUBJECT_KEY)?.as_str()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityRule {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metric: Option<String>,
    /// ODCS v3.0 spelling of `metric`.
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub must_be: Option<Value>,
    #[serde(default)]
    pub must_not_be: Option<Value>,
    #[serde(default)]
    pub must_be_greater_than: Option<f64>,
    #[serde(default)]
    pub must_be_greater_or_equal_to: Option<f64>,
    #[serde(default)]
    pub must_be_less_than: Option<f64>,
    #[serde(default)]
    pub must_be_less_or_equal_to: Option<f64>,
    #[serde(default)]
    pub must_be_between: Option<Vec<f64>>,
    #[serde(default)]
    pub must_not_be_between: Option<Vec<f64>>,
}

impl QualityRule {
    /// `text`, `library`, `sql` or `custom`: as written, else `library` when a metric is
    /// named, else `text` (as the official schema decides; see `shape::quality_kind`).
    pub fn kind(&self) -> &str {
        match self.kind.as_deref() {
            Some(k) => k,
            None if self.metric.is_some() || self.rule.is_some() => "library",
            None => "text",
        }
    }

    /// The library metric (`metric`, or v3.0's `rule`).
    pub fn metric(&self) -> Option<&str> {
        self.metric.as_deref().or(self.rule.as_deref())
    }

    /// Whether a failure blocks a publish: severities other than warning/info are errors.
    pub fn is_blocking(&self) -> bool {
        !matches!(
            self.severity
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("warning" | "warn" | "info")
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub server: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub custom_properties: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaProperty {
    pub property: String,
    pub value: Value,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub element: Option<String>,
}

impl SlaProperty {
    /// The value as a number: `8`, `"8"` and `"99.5%"` (99.5) all are.
    pub fn number(&self) -> Option<f64> {
        match &self.value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a duration in seconds, when it is a number and its unit a time.
    pub fn seconds(&self) -> Option<f64> {
        Some(self.number()? * unit_seconds(self.unit.as_deref()?)?)
    }

    /// The value and unit as written: `8 h`, `99.5%`.
    pub fn shown(&self) -> String {
        let value = match &self.value {
            Value::String(t) => t.clone(),
            v => v.to_string(),
        };
        match &self.unit {
            Some(u) => format!("{value} {u}"),
            None => value,
        }
    }
}

/// Seconds in one `unit` (`d`, `day`, `h`, `hours`, `m`, `min`, `s`, `w`, `month`, `y`,
/// `years`, `ms`, …); `None` when the unit is not a time. `m` is minutes here, as ODCS
/// examples use it for latency (retention, which counts months, reads its units itself).
pub fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 0.001,
        "s" | "sec" | "second" | "seconds" => 1.0,
        "m" | "min" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        "month" | "months" => 2_629_746.0,
        "y" | "yr" | "year" | "years" => 31_556_952.0,
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    id: ContractId,
    version: String,
    api_version: String,
    status: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    data_product: Option<String>,
    #[serde(default)]
    schema: Vec<SchemaObject>,
    #[serde(default)]
    servers: Vec<Server>,
    #[serde(default)]
    sla_properties: Vec<SlaProperty>,
}

impl Contract {
    /// Parses and checks one contract file. Returns the contract when its structure is
    /// valid (possibly with warnings in the diagnostics), and every finding.
    pub fn parse(file: &str, text: &str) -> (Option<Contract>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let parsed = yaml::parse_into(file, text, &mut diags)
            .and_then(|node| Self::from_node(file, node, &mut diags));
        (parsed, diags)
    }

    /// Checks an already parsed tree.
    pub fn from_node(file: &str, node: Node, diags: &mut Diagnostics) -> Option<Contract> {
        let before = diags.error_count();
        crate::shape::check(file, &node, &Shape::Object(&shape::CONTRACT), diags);
        custom::check(file, &node, custom::Level::Contract, diags);
        if diags.error_count() > before {
            return None;
        }
        let document = node.to_json();
        let head: Head = yaml::read_typed(file, &document, "contract", diags)?;
        Some(Contract {
            file: file.to_string(),
            node,
            document,
            id: head.id,
            version: head.version,
            api_version: head.api_version,
            status: head.status,
            name: head.name,
            domain: head.domain,
            data_product: head.data_product,
            objects: head.schema,
            servers: head.servers,
            sla: head.sla_properties,
        })
    }

    /// The contract as YAML, with every field it was read with.
    pub fn to_yaml(&self) -> String {
        yaml::to_yaml(&self.document)
    }

    /// The value of a top-level Tessera setting.
    pub fn setting(&self, name: &str) -> Option<&Value> {
        custom::lookup(self.document.get("customProperties"), name)
    }

    /// `tesseraSunset`: the date a deprecated port stops being served.
    pub fn sunset(&self) -> Option<&str> {
        self.setting(custom::SUNSET).and_then(Value::as_str)
    }

    /// `tesseraReplacement`: the port (`domain.port`) that replaces this one.
    pub fn replacement(&self) -> Option<&str> {
        self.setting(custom::REPLACEMENT).and_then(Value::as_str)
    }

    /// `overwrite` (the default) or `append`.
    pub fn write_mode(&self) -> &str {
        self.setting(custom::WRITE_MODE)
            .and_then(Value::as_str)
            .unwrap_or("overwrite")
    }

    pub fn allows_extra_columns(&self) -> bool {
        self.setting(custom::ALLOW_EXTRA_COLUMNS)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The first `local` server: where a source's files are.
    pub fn local_server(&self) -> Option<&Server> {
        self.servers.iter().find(|s| s.kind == "local")
    }
}
