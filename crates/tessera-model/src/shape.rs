//! Structure checking: does a YAML tree have the shape a standard promises?
//!
//! A [`Shape`] is a small, static description of a document — the keys each object may
//! have, their types, which are required, which strings come from a fixed list. The
//! checker walks a located [`Node`] tree against it and reports *every* problem with the
//! file, line, column and field path, suggesting the nearest valid key for a typo.
//!
//! The shapes of ODCS and ODPS (`odcs.rs`, `odps.rs`) are written from the official JSON
//! Schemas; conformance tests check both against those schemas and their examples. We keep
//! our own description instead of running the JSON Schemas at run time because JSON Schema
//! errors for `oneOf`/`unevaluatedProperties` say little about *which key is misspelt*.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::{Diagnostic, Diagnostics, suggest};
use crate::yaml::{Node, NodeValue};

#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Anything at all.
    Any,
    /// A string, number, boolean or null (not a list or mapping).
    Scalar,
    String,
    /// A string from a fixed list.
    Enum(&'static [&'static str]),
    Integer,
    /// An integer >= 0 (a length, a count).
    Count,
    Number,
    /// A number > 0 (`multipleOf`).
    Positive,
    Boolean,
    /// A string of a given form (an id, a column reference).
    Text(&'static TextForm),
    List(&'static Shape),
    /// A list with bounds on its length, and perhaps without repeated items.
    Items(&'static Shape, Items),
    Object(&'static ObjectShape),
    /// One of several shapes, chosen by the value's type (e.g. a team object or a list of members).
    Either(&'static [Shape]),
}

/// `minItems`, `maxItems` and `uniqueItems` of a list.
#[derive(Debug, Clone, Copy)]
pub struct Items {
    pub min: usize,
    pub max: Option<usize>,
    pub unique: bool,
}

/// A form strings must have, from a `pattern` of the official schema.
#[derive(Debug)]
pub struct TextForm {
    /// What such a string is, in messages ("an id of letters, digits, `_` and `-`").
    pub what: &'static str,
    /// Many of them, in messages ("ids").
    pub plural: &'static str,
    pub regex: LazyLock<Regex>,
}

impl TextForm {
    pub fn matches(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// Builds a [`TextForm`]'s regex. The patterns are constants, compiled by a unit test
/// (`shape::tests::text_forms_compile`), so the `expect` cannot fire on user input.
pub fn form_regex(pattern: &'static str) -> Regex {
    Regex::new(pattern).expect("a TextForm's pattern is a valid regex")
}

/// The keys of one kind of object.
#[derive(Debug)]
pub struct ObjectShape {
    /// What the object is called in messages ("schema property", "server").
    pub name: &'static str,
    pub fields: &'static [Field],
    /// When true, keys not listed are allowed and not checked.
    pub open: bool,
    /// Extra or overriding fields chosen by the value of one key (`type` of a server,
    /// `logicalType` of a property).
    pub variants: Option<&'static Variants>,
    /// Rules a field list cannot express (e.g. "a library rule needs `metric`").
    pub rule: Option<fn(&Doc, &Node, &str, &mut Diagnostics)>,
}

#[derive(Debug)]
pub struct Variants {
    pub key: &'static str,
    pub cases: &'static [(&'static str, &'static [Field])],
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub shape: Shape,
    pub required: bool,
}

/// An optional field.
pub const fn opt(key: &'static str, shape: Shape) -> Field {
    Field {
        key,
        shape,
        required: false,
    }
}

/// A required field.
pub const fn req(key: &'static str, shape: Shape) -> Field {
    Field {
        key,
        shape,
        required: true,
    }
}

impl ObjectShape {
    pub const fn closed(name: &'static str, fields: &'static [Field]) -> Self {
        Self {
            name,
            fields,
            open: false,
            variants: None,
            rule: None,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Any => f.write_str("any value"),
            Shape::Scalar => f.write_str("a string, number, boolean or null"),
            Shape::String => f.write_str("a string"),
            Shape::Enum([only]) => write!(f, "\"{only}\""),
            Shape::Enum(values) => write!(f, "one of {}", values.join(", ")),
            Shape::Integer => f.write_str("an integer"),
            Shape::Count => f.write_str("a whole number, 0 or more"),
            Shape::Number => f.write_str("a number"),
            Shape::Positive => f.write_str("a number greater than 0"),
            Shape::Boolean => f.write_str("a boolean (true or false)"),
            Shape::Text(form) => f.write_str(form.what),
            Shape::List(item) => write!(f, "a list of {}", item.noun()),
            Shape::Items(item, Items { min, max, unique }) => {
                let count = match (min, max) {
                    (min, Some(max)) if min == max => format!("{min} "),
                    (0, None) => String::new(),
                    (1, None) if !unique => {
                        return write!(f, "a non-empty list of {}", item.noun());
                    }
                    (min, None) => format!("at least {min} "),
                    (min, Some(max)) => format!("{min} to {max} "),
                };
                let distinct = if *unique { "distinct " } else { "" };
                write!(f, "a list of {count}{distinct}{}", item.noun())
            }
            Shape::Object(o) => write!(f, "a mapping ({})", o.name),
            Shape::Either(options) => {
                let parts: Vec<String> = options.iter().map(|s| s.to_string()).collect();
                f.write_str(&parts.join(" or "))
            }
        }
    }
}

impl Shape {
    fn noun(&self) -> String {
        match self {
            Shape::Object(o) => format!("{}s", o.name),
            Shape::String | Shape::Enum(_) => "strings".into(),
            Shape::Integer | Shape::Count => "integers".into(),
            Shape::Number | Shape::Positive => "numbers".into(),
            Shape::Text(form) => form.plural.into(),
            Shape::Boolean => "booleans".into(),
            other => format!("({other})"),
        }
    }

    /// Whether a value's type fits this shape at the top level (used to choose an `Either` arm).
    fn fits(&self, node: &Node) -> bool {
        match (self, &node.value) {
            (Shape::Any, _) => true,
            (Shape::Scalar, v) => !matches!(v, NodeValue::Seq(_) | NodeValue::Map(_)),
            (Shape::String | Shape::Enum(_) | Shape::Text(_), NodeValue::String(_)) => true,
            (Shape::Integer | Shape::Count, NodeValue::Number(n)) => n.is_i64() || n.is_u64(),
            (Shape::Number | Shape::Positive, NodeValue::Number(_)) => true,
            (Shape::Boolean, NodeValue::Bool(_)) => true,
            (Shape::List(_) | Shape::Items(..), NodeValue::Seq(_)) => true,
            (Shape::Object(_), NodeValue::Map(_)) => true,
            (Shape::Either(options), _) => options.iter().any(|o| o.fits(node)),
            _ => false,
        }
    }
}

/// A path of keys and indexes, rendered `schema[0].properties[2].logicalType`.
#[derive(Debug, Clone, Default)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn key(&self, key: &str) -> FieldPath {
        if self.0.is_empty() {
            FieldPath(key.to_string())
        } else {
            FieldPath(format!("{}.{key}", self.0))
        }
    }

    pub fn index(&self, i: usize) -> FieldPath {
        let mut s = self.0.clone();
        let _ = write!(s, "[{i}]");
        FieldPath(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks `node` against `shape`, adding every problem found to `diags`.
/// The document being checked, for rules that look beyond one object (e.g. at `apiVersion`).
pub struct Doc<'a> {
    pub file: &'a str,
    pub root: &'a Node,
}

pub fn check(file: &str, node: &Node, shape: &Shape, diags: &mut Diagnostics) {
    let doc = Doc { file, root: node };
    check_at(&doc, node, shape, &FieldPath::default(), diags);
}

fn type_error(file: &str, node: &Node, shape: &Shape, path: &FieldPath) -> Diagnostic {
    let got = match &node.value {
        NodeValue::String(s) => format!("the string \"{}\"", truncate(s, 40)),
        _ => node.kind().to_string(),
    };
    let help = match (&node.value, shape) {
        (NodeValue::String(s), Shape::Boolean)
            if matches!(s.as_str(), "yes" | "no" | "on" | "off") =>
        {
            Some(format!("YAML 1.2 reads `{s}` as text; write true or false"))
        }
        (NodeValue::String(_), Shape::Integer | Shape::Count | Shape::Number | Shape::Positive) => {
            Some("remove the quotes to make it a number".to_string())
        }
        (NodeValue::Number(n), Shape::Integer | Shape::Count) => n
            .as_f64()
            // Beyond 2^53 a float no longer says which integer was meant.
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| format!("Tessera reads integers written without a fraction; write {x:.0}")),
        (
            NodeValue::Number(_) | NodeValue::Bool(_),
            Shape::String | Shape::Enum(_) | Shape::Text(_),
        ) => Some("quote the value to make it a string".to_string()),
        _ => None,
    };
    Diagnostic::error("wrong-type", file, format!("expected {shape}, got {got}"))
        .at(node.loc)
        .with_path(path.as_str())
        .with_help_opt(help)
}

/// What makes two list items the same for `uniqueItems`: JSON equality, with numbers
/// compared by value (`1` and `1.0` are one number).
fn identity(node: &Node) -> String {
    fn canonical(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => (x as i64).into(),
                _ => value.clone(),
            },
            serde_json::Value::Array(items) => items.iter().map(canonical).collect(),
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => other.clone(),
        }
    }
    canonical(&node.to_json()).to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

fn check_at(doc: &Doc, node: &Node, shape: &Shape, path: &FieldPath, diags: &mut Diagnostics) {
    let file = doc.file;
    match shape {
        Shape::Any => {}
        Shape::Enum(values) => match &node.value {
            NodeValue::String(s) if values.contains(&s.as_str()) => {}
            NodeValue::String(s) => {
                let hint =
                    suggest(s, values.iter().copied()).map(|k| format!("did you mean `{k}`?"));
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        file,
                        format!("expected {shape}; got \"{}\"", truncate(s, 40)),
                    )
                    .at(node.loc)
                    .with_path(path.as_str())
                    .with_help_opt(hint),
                );
            }
            _ => diags.push(type_error(file, node, shape, path)),
        },
        Shape::List(item) => match &node.value {
            NodeValue::Seq(items) => {
                for (i, child) in items.iter().enumerate() {
                    check_at(doc, child, item, &path.index(i), diags);
                }
            }
            _ => diags.push(type_error(file, node, shape, path)),
        },
        Shape::Items(item, bounds) => match &node.value {
            NodeValue::Seq(items) => {
                let n = items.len();
                if n < bounds.min || bounds.max.is_some_and(|max| n > max) {
                    diags.push(
                        Diagnostic::error(
                            "invalid-value",
                            file,
                            match n {
                                0 => format!("expected {shape}; the list is empty"),
                                n => format!("expected {shape}; the list has {n}"),
                            },
                        )
                        .at(node.loc)
                        .with_path(path.as_str()),
                    );
                }
                let mut seen = HashSet::new();
                for (i, child) in items.iter().enumerate() {
                    check_at(doc, child, item, &path.index(i), diags);
                    if bounds.unique && !seen.insert(identity(child)) {
                        diags.push(
                            Diagnostic::error(
                                "invalid-value",
                                file,
                                format!(
                                    "{} is repeated; the items must be distinct",
                                    child.to_json()
                                ),
                            )
                            .at(child.loc)
                            .with_path(path.index(i).as_str()),
                        );
                    }
                }
            }
            _ => diags.push(type_error(file, node, shape, path)),
        },
        Shape::Count | Shape::Positive => match &node.value {
            NodeValue::Number(n) if shape.fits(node) => {
                let ok = match shape {
                    Shape::Count => n.as_u64().is_some(),
                    _ => n.as_f64().is_some_and(|x| x > 0.0),
                };
                if !ok {
                    diags.push(
                        Diagnostic::error(
                            "invalid-value",
                            file,
                            format!("expected {shape}; got {n}"),
                        )
                        .at(node.loc)
                        .with_path(path.as_str()),
                    );
                }
            }
            _ => diags.push(type_error(file, node, shape, path)),
        },
        Shape::Text(form) => match &node.value {
            NodeValue::String(s) if form.matches(s) => {}
            NodeValue::String(s) => diags.push(
                Diagnostic::error(
                    "invalid-value",
                    file,
                    format!("expected {shape}; got \"{}\"", truncate(s, 40)),
                )
                .at(node.loc)
                .with_path(path.as_str()),
            ),
            _ => diags.push(type_error(file, node, shape, path)),
        },
        Shape::Object(object) => check_object(doc, node, object, path, diags),
        Shape::Either(options) => match options.iter().find(|o| o.fits(node)) {
            Some(chosen) => check_at(doc, node, chosen, path, diags),
            None => diags.push(type_error(file, node, shape, path)),
        },
        _ if shape.fits(node) => {}
        _ => diags.push(type_error(file, node, shape, path)),
    }
}

fn check_object(
    doc: &Doc,
    node: &Node,
    object: &'static ObjectShape,
    path: &FieldPath,
    diags: &mut Diagnostics,
) {
    let file = doc.file;
    let Some(entries) = node.as_map() else {
        diags.push(type_error(file, node, &Shape::Object(object), path));
        return;
    };
    // The fields in force. With a known discriminator (`type: local`) the variant's fields
    // come first and override the base; without one, the base fields hold and any variant's
    // keys are allowed, none required.
    let mut fields: Vec<Field> = Vec::new();
    let add = |fields: &mut Vec<Field>, f: Field| {
        if !fields.iter().any(|g| g.key == f.key) {
            fields.push(f);
        }
    };
    let chosen = object.variants.and_then(|variants| {
        let value = node.get(variants.key).and_then(Node::as_str)?;
        variants.cases.iter().find(|(case, _)| *case == value)
    });
    if let Some((_, case_fields)) = chosen {
        case_fields.iter().for_each(|f| add(&mut fields, *f));
    }
    object.fields.iter().for_each(|f| add(&mut fields, *f));
    if let (None, Some(variants)) = (chosen, object.variants) {
        for (_, case_fields) in variants.cases {
            for f in case_fields.iter() {
                add(
                    &mut fields,
                    Field {
                        required: false,
                        ..*f
                    },
                );
            }
        }
    }

    for (key, value) in entries {
        match fields.iter().find(|f| f.key == key.name) {
            Some(field) => check_at(doc, value, &field.shape, &path.key(&key.name), diags),
            None if object.open => {}
            None => {
                let known: Vec<&str> = fields.iter().map(|f| f.key).collect();
                let help = match suggest(&key.name, known.iter().copied()) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("{} fields are: {}", object.name, known.join(", ")),
                };
                diags.push(
                    Diagnostic::error(
                        "unknown-field",
                        file,
                        format!("unknown field `{}` in {}", key.name, object.name),
                    )
                    .at(key.loc)
                    .with_path(path.key(&key.name).as_str())
                    .with_help(help),
                );
            }
        }
    }
    for f in fields.iter().filter(|f| f.required) {
        if node.get(f.key).is_none() {
            diags.push(
                Diagnostic::error(
                    "missing-field",
                    file,
                    format!(
                        "{} is missing required field `{}` ({})",
                        object.name, f.key, f.shape
                    ),
                )
                .at(node.loc)
                .with_path(path.as_str()),
            );
        }
    }
    if let Some(rule) = object.rule {
        rule(doc, node, path.as_str(), diags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    static INNER: ObjectShape = ObjectShape::closed(
        "column",
        &[req("name", Shape::String), opt("size", Shape::Integer)],
    );
    static OUTER: ObjectShape = ObjectShape::closed(
        "table",
        &[
            req("name", Shape::String),
            opt("kind", Shape::Enum(&["view", "table"])),
            opt("columns", Shape::List(&Shape::Object(&INNER))),
            opt(
                "team",
                Shape::Either(&[Shape::Object(&INNER), Shape::List(&Shape::String)]),
            ),
        ],
    );

    fn run(text: &str) -> String {
        let node = yaml::parse("t.yaml", text).unwrap();
        let mut diags = Diagnostics::new();
        check("t.yaml", &node, &Shape::Object(&OUTER), &mut diags);
        diags.to_string()
    }

    #[test]
    fn reports_every_problem_with_location_and_path() {
        let out = run("nam: x\nkind: vew\ncolumns:\n  - name: a\n    size: '3'\n  - siz: 4\n");
        assert_eq!(
            out,
            "t.yaml:1:1: error[unknown-field]: nam: unknown field `nam` in table\n  help: did you mean `name`?\n\
             t.yaml:2:7: error[invalid-value]: kind: expected one of view, table; got \"vew\"\n  help: did you mean `view`?\n\
             t.yaml:5:11: error[wrong-type]: columns[0].size: expected an integer, got the string \"3\"\n  help: remove the quotes to make it a number\n\
             t.yaml:6:5: error[unknown-field]: columns[1].siz: unknown field `siz` in column\n  help: did you mean `size`?\n\
             t.yaml:6:5: error[missing-field]: columns[1]: column is missing required field `name` (a string)\n\
             t.yaml:1:1: error[missing-field]: table is missing required field `name` (a string)\n"
        );
    }

    #[test]
    fn either_picks_the_arm_by_type() {
        assert_eq!(run("name: t\nteam: [a, b]\n"), "");
        assert_eq!(run("name: t\nteam: {name: x}\n"), "");
        assert!(
            run("name: t\nteam: 3\n").contains("expected a mapping (column) or a list of strings")
        );
    }
}
