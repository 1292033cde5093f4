//! Tessera's own settings, carried in the standards' `customProperties` lists.
//!
//! ODCS and ODPS leave room for tool-specific settings in `customProperties`
//! (`- property: name` / `value: …`); Tessera puts every setting of its own there and
//! never adds top-level keys. Each one is named `tessera…`, belongs at one level of a
//! document, and has a typed value. Unknown `tessera…` names are errors (a typo would
//! otherwise silently do nothing); other custom properties are left alone.
//! `docs/custom-properties.md` documents each entry of [`KNOWN`].

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Diagnostics, suggest};
use crate::shape::FieldPath;
use crate::yaml::{Node, NodeValue};

/// Where in a document a custom property sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The top level of an ODCS contract.
    Contract,
    /// A column (a property of a schema object, at any depth).
    Column,
    /// A `servers` entry of a contract.
    Server,
    /// The top level of an ODPS data product.
    Product,
    /// An `inputPorts` entry of a data product.
    InputPort,
    /// Anywhere else.
    Other,
}

impl Level {
    fn describe(self) -> &'static str {
        match self {
            Level::Contract => "the top level of a contract",
            Level::Column => "a schema property (column)",
            Level::Server => "a server entry",
            Level::Product => "the top level of a data product",
            Level::InputPort => "an input port of a data product",
            Level::Other => "this place",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    /// A non-empty SQL-identifier-like name.
    Name,
    /// One character.
    Char,
    Enum(&'static [&'static str]),
    /// An integer ≥ 0.
    Count,
    /// A cron pattern of five fields (minute hour day-of-month month day-of-week), or six
    /// with seconds first, in UTC.
    Cron,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A port as SQL names it: `domain.port`.
    Table,
}

#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    pub level: Level,
    pub kind: ValueKind,
    pub summary: &'static str,
}

pub const SUBJECT_KEY: &str = "tesseraSubjectKey";
pub const WRITE_MODE: &str = "tesseraWriteMode";
pub const ALLOW_EXTRA_COLUMNS: &str = "tesseraAllowExtraColumns";
pub const CSV_DELIMITER: &str = "tesseraCsvDelimiter";
pub const CSV_HEADER: &str = "tesseraCsvHeader";
pub const INPUT_VERSION: &str = "tesseraInputVersion";
pub const SCHEDULE: &str = "tesseraSchedule";
pub const SUNSET: &str = "tesseraSunset";
pub const REPLACEMENT: &str = "tesseraReplacement";

/// Every Tessera setting. Keep `docs/custom-properties.md` in step with this list.
pub const KNOWN: &[Setting] = &[
    Setting {
        name: SUBJECT_KEY,
        level: Level::Column,
        kind: ValueKind::Name,
        summary: "this column identifies a data subject of the named kind (e.g. customer)",
    },
    Setting {
        name: WRITE_MODE,
        level: Level::Contract,
        kind: ValueKind::Enum(&["overwrite", "append"]),
        summary: "how a publish writes the port: replace the snapshot, or append rows",
    },
    Setting {
        name: ALLOW_EXTRA_COLUMNS,
        level: Level::Contract,
        kind: ValueKind::Bool,
        summary: "columns not in the contract are allowed in the data",
    },
    Setting {
        name: CSV_DELIMITER,
        level: Level::Server,
        kind: ValueKind::Char,
        summary: "field delimiter of a CSV source file",
    },
    Setting {
        name: CSV_HEADER,
        level: Level::Server,
        kind: ValueKind::Bool,
        summary: "whether a CSV source file starts with a header row",
    },
    Setting {
        name: SCHEDULE,
        level: Level::Product,
        kind: ValueKind::Cron,
        summary: "`tessera serve` rebuilds and publishes the product on this cron schedule (UTC)",
    },
    Setting {
        name: SUNSET,
        level: Level::Contract,
        kind: ValueKind::Date,
        summary: "the date a deprecated port stops being served (required when status is deprecated)",
    },
    Setting {
        name: REPLACEMENT,
        level: Level::Contract,
        kind: ValueKind::Table,
        summary: "the port consumers of a deprecated port should move to (domain.port)",
    },
    Setting {
        name: INPUT_VERSION,
        level: Level::InputPort,
        kind: ValueKind::Count,
        summary: "read this Delta version of the input port instead of its latest",
    },
];

pub const PREFIX: &str = "tessera";

/// Finds the value of a custom property in a `customProperties` JSON list.
pub fn lookup<'a>(custom_properties: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    custom_properties?
        .as_array()?
        .iter()
        .find(|p| p.get("property").and_then(Value::as_str) == Some(name))
        .and_then(|p| p.get("value"))
}

/// Checks every `tessera…` custom property in a document tree.
/// `root` is the level of the document's top (`Contract` or `Product`).
pub fn check(file: &str, node: &Node, root: Level, diags: &mut Diagnostics) {
    walk(file, node, root, &FieldPath::default(), diags);
}

fn walk(file: &str, node: &Node, level: Level, path: &FieldPath, diags: &mut Diagnostics) {
    match &node.value {
        NodeValue::Map(entries) => {
            for (key, value) in entries {
                let child_path = path.key(&key.name);
                if key.name == "customProperties" {
                    check_list(file, value, level, &child_path, diags);
                    continue;
                }
                let child_level = match (level, key.name.as_str()) {
                    (Level::Contract, "servers") => Level::Server,
                    (Level::Product, "inputPorts") => Level::InputPort,
                    (Level::Contract, "schema") => Level::Other,
                    (Level::Other | Level::Column, "properties" | "items") => Level::Column,
                    _ => Level::Other,
                };
                // A list keeps its element level: servers[0] is a server.
                walk(file, value, child_level, &child_path, diags);
            }
        }
        NodeValue::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(file, item, level, &path.index(i), diags);
            }
        }
        _ => {}
    }
}

fn check_list(file: &str, list: &Node, level: Level, path: &FieldPath, diags: &mut Diagnostics) {
    let Some(items) = list.as_seq() else { return };
    for (i, item) in items.iter().enumerate() {
        let Some(name) = item.get("property").and_then(Node::as_str) else {
            continue;
        };
        if !name.starts_with(PREFIX) {
            continue;
        }
        let item_path = path.index(i);
        let Some(setting) = KNOWN.iter().find(|s| s.name == name) else {
            let help = match suggest(name, KNOWN.iter().map(|s| s.name)) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!(
                    "Tessera's settings are: {}",
                    KNOWN.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ),
            };
            diags.push(
                Diagnostic::error(
                    "unknown-setting",
                    file,
                    format!("unknown Tessera setting `{name}`"),
                )
                .at(item.get("property").map_or(item.loc, |n| n.loc))
                .with_path(item_path.key("property").as_str())
                .with_help(help),
            );
            continue;
        };
        if setting.level != level {
            diags.push(
                Diagnostic::error(
                    "misplaced-setting",
                    file,
                    format!(
                        "`{name}` belongs on {}, not {}",
                        setting.level.describe(),
                        level.describe()
                    ),
                )
                .at(item.loc)
                .with_path(item_path.as_str()),
            );
            continue;
        }
        if let Some(value) = item.get("value")
            && let Err(expected) = check_value(setting.kind, value)
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    file,
                    format!("`{name}` expects {expected}; got {}", describe(value)),
                )
                .at(value.loc)
                .with_path(item_path.key("value").as_str()),
            );
        }
    }
}

/// A cron pattern as `tesseraSchedule` takes it: five fields (`0 6 * * *`: minute hour
/// day-of-month month day-of-week), or six with seconds first (`*/30 * * * * *`), in UTC.
pub fn cron(pattern: &str) -> Result<croner::Cron, String> {
    let fields = pattern.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(format!("{fields} fields, not 5 (or 6 with seconds first)"));
    }
    pattern.parse::<croner::Cron>().map_err(|e| e.to_string())
}

fn describe(node: &Node) -> String {
    match &node.value {
        NodeValue::String(s) => format!("\"{s}\""),
        _ => node.kind().to_string(),
    }
}

fn check_value(kind: ValueKind, value: &Node) -> Result<(), String> {
    match (kind, &value.value) {
        (ValueKind::Bool, NodeValue::Bool(_)) => Ok(()),
        (ValueKind::Bool, _) => Err("true or false".into()),
        (ValueKind::Name, NodeValue::String(s)) if crate::names::is_identifier(s) => Ok(()),
        (ValueKind::Name, _) => Err("a name in lower_snake_case, e.g. customer".into()),
        (ValueKind::Char, NodeValue::String(s)) if s.chars().count() == 1 => Ok(()),
        (ValueKind::Char, _) => Err("a single character, e.g. \";\"".into()),
        (ValueKind::Enum(values), NodeValue::String(s)) if values.contains(&s.as_str()) => Ok(()),
        (ValueKind::Enum(values), _) => Err(format!("one of {}", values.join(", "))),
        (ValueKind::Count, NodeValue::Number(n)) if n.as_u64().is_some() => Ok(()),
        (ValueKind::Count, _) => Err("a whole number ≥ 0, e.g. 3".into()),
        (ValueKind::Cron, NodeValue::String(s)) => cron(s).map(|_| ()).map_err(|e| {
            format!("a cron pattern of five fields in UTC, e.g. \"0 6 * * *\" (every day at 06:00; six fields put seconds first) ({e})")
        }),
        (ValueKind::Cron, _) => Err("a cron pattern such as \"0 6 * * *\"".into()),
        (ValueKind::Date, NodeValue::String(s))
            if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
        {
            Ok(())
        }
        (ValueKind::Date, _) => Err("a date, YYYY-MM-DD, e.g. \"2027-03-31\"".into()),
        (ValueKind::Table, NodeValue::String(s))
            if s.split_once('.').is_some_and(|(d, p)| {
                crate::names::is_identifier(d) && crate::names::is_identifier(p)
            }) =>
        {
            Ok(())
        }
        (ValueKind::Table, _) => Err("a port as domain.port, e.g. crm.customers_v2".into()),
    }
}
