//! `policies/principals.yaml`: who may use the mesh.
//!
//! ```yaml
//! groups:
//!   analysts: { description: Marketing analysts }
//! users:
//!   ana@example.com:
//!     name: Ana Ruiz
//!     groups: [crm_team]
//!     attributes: { regions: [DE, AT], department: crm }
//! service_accounts:
//!   mailer:
//!     description: The e-mail service
//!     groups: [activation]
//! ```
//!
//! Attributes are strings, lists of strings, integers or booleans; one attribute has one
//! type across all principals. A principal without an attribute others have reads it as
//! empty (`""`, `[]`, `0`, `false`), so policies and row filters need no `has` checks and a
//! missing region matches nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tessera_model::Diagnostics;
use tessera_model::yaml::{Node, NodeValue};

use crate::read::{Reader, join};

pub const FILE: &str = "policies/principals.yaml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    String(String),
    Strings(Vec<String>),
    Long(i64),
    Bool(bool),
}

impl AttrValue {
    pub fn kind(&self) -> AttrKind {
        match self {
            AttrValue::String(_) => AttrKind::String,
            AttrValue::Strings(_) => AttrKind::Strings,
            AttrValue::Long(_) => AttrKind::Long,
            AttrValue::Bool(_) => AttrKind::Bool,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttrKind {
    String,
    Strings,
    Long,
    Bool,
}

impl AttrKind {
    pub fn cedar_type(self) -> &'static str {
        match self {
            AttrKind::String => "String",
            AttrKind::Strings => "Set<String>",
            AttrKind::Long => "Long",
            AttrKind::Bool => "Bool",
        }
    }

    pub fn empty(self) -> AttrValue {
        match self {
            AttrKind::String => AttrValue::String(String::new()),
            AttrKind::Strings => AttrValue::Strings(Vec::new()),
            AttrKind::Long => AttrValue::Long(0),
            AttrKind::Bool => AttrValue::Bool(false),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            AttrKind::String => "a string",
            AttrKind::Strings => "a list of strings",
            AttrKind::Long => "an integer",
            AttrKind::Bool => "a boolean",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ServiceAccount,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service_account",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Every declared attribute, filled with the empty value where this principal has none.
    pub attributes: BTreeMap<String, AttrValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Principals {
    pub groups: BTreeMap<String, Option<String>>,
    pub principals: BTreeMap<String, Principal>,
    /// Every attribute some principal has, with its type.
    pub attributes: BTreeMap<String, AttrKind>,
}

impl Principals {
    pub fn get(&self, id: &str) -> Option<&Principal> {
        self.principals.get(id)
    }

    pub(crate) fn read(text: &str, diags: &mut Diagnostics) -> Principals {
        let Some(root) = tessera_model::yaml::parse_into(FILE, text, diags) else {
            return Principals::default();
        };
        let mut r = Reader {
            file: FILE.to_string(),
            diags,
        };
        let mut out = Principals::default();
        r.known_keys(&root, "", &["groups", "users", "service_accounts"]);
        if let Some(node) = root.get("groups") {
            for (name, value) in r.map(node, "groups") {
                let path = join("groups", name);
                r.known_keys(value, &path, &["description"]);
                let description = value
                    .get("description")
                    .and_then(|d| r.string(d, &join(&path, "description")));
                out.groups.insert(name.to_string(), description);
            }
        }
        let mut located: Vec<(Principal, BTreeMap<String, &Node>)> = Vec::new();
        for (section, kind) in [
            ("users", PrincipalKind::User),
            ("service_accounts", PrincipalKind::ServiceAccount),
        ] {
            let Some(node) = root.get(section) else {
                continue;
            };
            for (id, value) in r.map(node, section) {
                let path = join(section, id);
                if located.iter().any(|(p, _)| p.id == id) {
                    r.error(
                        Some(value),
                        &path,
                        format!("principal `{id}` is declared twice"),
                    );
                    continue;
                }
                if id.trim().is_empty() || id.contains('"') {
                    r.error(
                        Some(value),
                        &path,
                        format!("`{id}` is not a usable principal id"),
                    );
                    continue;
                }
                r.known_keys(
                    value,
                    &path,
                    &["name", "description", "groups", "attributes"],
                );
                let name = value
                    .get("name")
                    .or_else(|| value.get("description"))
                    .and_then(|n| r.string(n, &join(&path, "name")));
                let mut groups = Vec::new();
                if let Some(g) = value.get("groups") {
                    for (i, group) in r.strings(g, &join(&path, "groups")).into_iter().enumerate() {
                        if !out.groups.contains_key(&group) {
                            let known: Vec<&str> = out.groups.keys().map(String::as_str).collect();
                            let help = crate::read::suggest(&group, known.iter().copied())
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| "declare it under `groups:`".to_string());
                            r.error_help(
                                g.as_seq().and_then(|s| s.get(i)).or(Some(g)),
                                &format!("{path}.groups[{i}]"),
                                format!("unknown group `{group}`"),
                                help,
                            );
                        } else {
                            groups.push(group);
                        }
                    }
                }
                let mut attributes = BTreeMap::new();
                let mut nodes = BTreeMap::new();
                if let Some(a) = value.get("attributes") {
                    let apath = join(&path, "attributes");
                    for (attr, v) in r.map(a, &apath) {
                        let vpath = join(&apath, attr);
                        if !is_identifier(attr) {
                            r.error_help(
                                Some(v),
                                &vpath,
                                format!("attribute name `{attr}` is not an identifier"),
                                "use letters, digits and _ (policies write principal.<name>)",
                            );
                            continue;
                        }
                        if let Some(value) = attr_value(&mut r, v, &vpath) {
                            attributes.insert(attr.to_string(), value);
                            nodes.insert(attr.to_string(), v);
                        }
                    }
                }
                located.push((
                    Principal {
                        id: id.to_string(),
                        kind,
                        name,
                        groups,
                        attributes,
                    },
                    nodes,
                ));
            }
        }
        // One type per attribute, the first seen.
        for (p, nodes) in &located {
            for (attr, value) in &p.attributes {
                match out.attributes.get(attr) {
                    None => {
                        out.attributes.insert(attr.clone(), value.kind());
                    }
                    Some(kind) if *kind != value.kind() => r.error(
                        nodes.get(attr).copied(),
                        &format!("{}.attributes.{attr}", p.id),
                        format!(
                            "attribute `{attr}` of `{}` is {}, but other principals have {}",
                            p.id,
                            value.kind().noun(),
                            kind.noun()
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
        for (mut p, _) in located {
            for (attr, kind) in &out.attributes {
                match p.attributes.get(attr) {
                    Some(v) if v.kind() == *kind => {}
                    _ => {
                        p.attributes.insert(attr.clone(), kind.empty());
                    }
                }
            }
            out.principals.insert(p.id.clone(), p);
        }
        out
    }
}

fn attr_value(r: &mut Reader, node: &Node, path: &str) -> Option<AttrValue> {
    match &node.value {
        NodeValue::String(s) => Some(AttrValue::String(s.clone())),
        NodeValue::Bool(b) => Some(AttrValue::Bool(*b)),
        NodeValue::Number(n) if n.is_i64() => n.as_i64().map(AttrValue::Long),
        NodeValue::Seq(items) => {
            let mut out = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                match &item.value {
                    NodeValue::String(s) => {
                        out.insert(s.clone());
                    }
                    NodeValue::Number(n) => {
                        out.insert(n.to_string());
                    }
                    _ => r.error(
                        Some(item),
                        &format!("{path}[{i}]"),
                        format!("a list attribute holds strings, got {}", item.kind()),
                    ),
                }
            }
            Some(AttrValue::Strings(out.into_iter().collect()))
        }
        _ => {
            r.error(
                Some(node),
                path,
                format!(
                    "an attribute is a string, a list of strings, an integer or a boolean, got {}",
                    node.kind()
                ),
            );
            None
        }
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
