//! YAML text → a tree of [`Node`]s that remember where they came from.
//!
//! ```text
//!  bytes ──decode──▶ &str ──granit events──▶ Node tree (value + location per node/key)
//!                                               │
//!                                               ├─▶ structure check (shape.rs): errors with file:line:col
//!                                               └─▶ serde_json::Value (lossless, key order kept)
//! ```
//!
//! Scalars are resolved with the YAML 1.2 core schema, so `2022-10-03` stays the string it
//! looks like (YAML 1.1 loaders turn it into a date), and `yes`/`no` are strings.
//!
//! Untrusted input is bounded: the text size, nesting depth and the number of nodes after
//! alias expansion are limited (a "billion laughs" document is refused, not expanded), and
//! duplicate keys are errors. Nothing here panics on any input.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::diagnostic::{Diagnostic, Location};

/// Largest text accepted, in bytes.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may have once aliases are expanded.
pub const MAX_NODES: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    /// Where the node starts.
    pub loc: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub loc: Location,
}

impl Node {
    /// The JSON type name, for messages ("expected a string, got a mapping").
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(n) if n.is_f64() => "a number",
            NodeValue::Number(_) => "an integer",
            NodeValue::String(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The location of `key` itself (not its value) in a mapping.
    pub fn key_loc(&self, key: &str) -> Option<Location> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k.loc)
    }

    /// Follows a path of keys and indexes (`["schema", "0", "name"]`).
    pub fn pointer(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self;
        for step in path {
            node = match &node.value {
                NodeValue::Map(_) => node.get(step)?,
                NodeValue::Seq(items) => items.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Converts to JSON, losing nothing but locations.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k.name.clone(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }

    fn size(&self) -> usize {
        match &self.value {
            NodeValue::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            NodeValue::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + v.size()).sum::<usize>(),
            _ => 1,
        }
    }

    /// Levels of collections: 0 for a scalar, 1 for a list of scalars.
    fn height(&self) -> usize {
        match &self.value {
            NodeValue::Seq(items) => 1 + items.iter().map(Node::height).max().unwrap_or(0),
            NodeValue::Map(entries) => {
                1 + entries.iter().map(|(_, v)| v.height()).max().unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// An anchored node, with what an alias to it costs: its size (counted against
/// [`MAX_NODES`]) and height (so an alias cannot nest deeper than [`MAX_DEPTH`]).
#[derive(Debug)]
struct Anchored {
    node: Node,
    size: usize,
    height: usize,
}

impl Anchored {
    fn new(node: &Node) -> Self {
        Self {
            node: node.clone(),
            size: node.size(),
            height: node.height(),
        }
    }
}

/// Turns file bytes into text, refusing what is not UTF-8 YAML with a reason.
pub fn decode<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    if bytes.len() > MAX_BYTES {
        return Err(Diagnostic::error(
            "file-too-large",
            file,
            format!(
                "file is {} bytes; the limit is {MAX_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(Diagnostic::error(
            "encoding",
            file,
            "file is UTF-16 encoded; Tessera reads UTF-8",
        )
        .with_help("save the file as UTF-8 (without a byte-order mark)"));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            if let Some(pos) = text.find('\0') {
                return Err(Diagnostic::error(
                    "encoding",
                    file,
                    "file contains a NUL byte; it looks binary, not like YAML text",
                )
                .at(Location::of_offset(text, pos)));
            }
            Ok(text)
        }
        Err(e) => {
            let valid = e.valid_up_to();
            // The prefix is valid UTF-8 by definition.
            let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            Err(Diagnostic::error(
                "encoding",
                file,
                format!(
                    "file is not valid UTF-8 (invalid byte 0x{:02X})",
                    bytes[valid]
                ),
            )
            .at(Location::of_offset(prefix, prefix.len()))
            .with_help("save the file as UTF-8"))
        }
    }
}

/// Parses one YAML document. `file` is only used in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<Node, Diagnostic> {
    if text.len() > MAX_BYTES {
        return Err(Diagnostic::error(
            "file-too-large",
            file,
            format!(
                "file is {} bytes; the limit is {MAX_BYTES} bytes",
                text.len()
            ),
        ));
    }
    let options = granit_parser::options! {
        // The builder refuses documents deeper than MAX_DEPTH in total; the parser counts
        // flow and block nesting separately, so its own limits are only a safety net.
        flow_nesting_limit: 2 * MAX_DEPTH,
        block_nesting_limit: 2 * MAX_DEPTH,
    };
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut builder = Builder {
        file,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
    };
    while let Some(next) = parser.next_event() {
        match next {
            Ok((event, span)) => {
                if builder.event(event, span)? {
                    break;
                }
            }
            Err(e) => {
                let mark = e.marker();
                let info = e.info().to_ascii_lowercase();
                let code = if info.contains("nesting") || info.contains("recursion") {
                    "yaml-too-deep"
                } else {
                    "yaml-syntax"
                };
                return Err(
                    Diagnostic::error(code, file, format!("invalid YAML: {}", e.info()))
                        .at(Location::new(mark.line(), mark.col() + 1))
                        .with_help_opt(syntax_help(&e.info())),
                );
            }
        }
    }
    builder.root.ok_or_else(|| {
        Diagnostic::error("empty-file", file, "file is empty; expected a YAML mapping")
            .at(Location::new(1, 1))
    })
}

fn syntax_help(info: &str) -> Option<String> {
    let info = info.to_ascii_lowercase();
    if info.contains("tab") {
        Some("YAML indents with spaces; replace the tab characters with spaces".into())
    } else if info.contains("nesting") || info.contains("recursion") {
        Some(format!(
            "documents may nest at most {MAX_DEPTH} levels deep"
        ))
    } else {
        None
    }
}

enum Frame {
    Seq {
        loc: Location,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        loc: Location,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        key: Option<Key>,
        seen: HashMap<String, Location>,
    },
}

struct Builder<'f> {
    file: &'f str,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

fn loc_of(span: &Span) -> Location {
    Location::new(span.start.line(), span.start.col() + 1)
}

impl Builder<'_> {
    fn err(&self, code: &'static str, loc: Location, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, self.file, msg).at(loc)
    }

    fn count(&mut self, n: usize, loc: Location) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self
                .err(
                    "yaml-too-large",
                    loc,
                    format!("document has more than {MAX_NODES} nodes once aliases are expanded"),
                )
                .with_help("this looks like a YAML alias bomb; write the values out instead"));
        }
        Ok(())
    }

    /// Refuses a collection that would nest deeper than [`MAX_DEPTH`], counting block and
    /// flow collections together (so whatever parses here can be written back and re-read).
    /// Aliases count by the height of what they stand for.
    fn enter(&self, loc: Location) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.too_deep(loc));
        }
        Ok(())
    }

    fn too_deep(&self, loc: Location) -> Diagnostic {
        self.err(
            "yaml-too-deep",
            loc,
            format!("collections nest more than {MAX_DEPTH} levels deep here"),
        )
        .with_help("flatten the structure; no contract or product needs this depth")
    }

    /// Handles one event; returns true when parsing should stop.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool, Diagnostic> {
        let loc = loc_of(&span);
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(true),
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 && self.root.is_some() {
                    return Err(self
                        .err(
                            "yaml-multiple-documents",
                            loc,
                            "a second YAML document starts here; each file holds one",
                        )
                        .with_help(
                            "remove the `---` separator and what follows, or split the file",
                        ));
                }
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    return Err(self.err("yaml-syntax", loc, "alias refers to an unknown anchor"));
                };
                let (size, height) = (anchored.size, anchored.height);
                let mut node = anchored.node.clone();
                self.count(size, loc)?;
                if self.stack.len() + height > MAX_DEPTH {
                    return Err(self.too_deep(loc));
                }
                node.loc = loc;
                self.finish(node)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, loc)?;
                let value = self.scalar(&text, style, tag.as_deref(), loc)?;
                let node = Node { value, loc };
                if anchor != 0 {
                    self.anchors.insert(anchor, Anchored::new(&node));
                }
                self.finish(node)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.count(1, loc)?;
                self.enter(loc)?;
                self.check_collection_tag(tag.as_deref(), "seq", loc)?;
                self.stack.push(Frame::Seq {
                    loc,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(_, anchor, tag) => {
                self.count(1, loc)?;
                self.enter(loc)?;
                self.check_collection_tag(tag.as_deref(), "map", loc)?;
                self.stack.push(Frame::Map {
                    loc,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(self.err("yaml-syntax", loc, "unbalanced collection end"));
                };
                let (node, anchor) = match frame {
                    Frame::Seq { loc, anchor, items } => (
                        Node {
                            value: NodeValue::Seq(items),
                            loc,
                        },
                        anchor,
                    ),
                    Frame::Map {
                        loc,
                        anchor,
                        entries,
                        ..
                    } => (
                        Node {
                            value: NodeValue::Map(entries),
                            loc,
                        },
                        anchor,
                    ),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, Anchored::new(&node));
                }
                self.finish(node)?;
            }
            // Comments, anchor metadata and other presentation events carry no data.
            _ => {}
        }
        Ok(false)
    }

    fn check_collection_tag(
        &self,
        tag: Option<&granit_parser::Tag>,
        expected: &str,
        loc: Location,
    ) -> Result<(), Diagnostic> {
        match tag {
            None => Ok(()),
            Some(t) if t.is_yaml_core_schema_tag(expected) => Ok(()),
            Some(t) => Err(self
                .err(
                    "yaml-tag",
                    loc,
                    format!("unsupported YAML tag `{}`", t.original()),
                )
                .with_help("Tessera reads plain YAML data; remove the tag")),
        }
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&granit_parser::Tag>,
        loc: Location,
    ) -> Result<NodeValue, Diagnostic> {
        let resolved = match tag {
            Some(tag) => match tag.core_suffix() {
                Some("str") => NodeValue::String(text.to_string()),
                Some(kind @ ("int" | "float" | "bool" | "null")) => {
                    let value = resolve_plain(text);
                    let ok = matches!(
                        (kind, &value),
                        ("int", NodeValue::Number(_))
                            | ("float", NodeValue::Number(_))
                            | ("bool", NodeValue::Bool(_))
                            | ("null", NodeValue::Null)
                    );
                    if !ok {
                        return Err(self.err(
                            "yaml-tag",
                            loc,
                            format!("`{text}` is not a valid !!{kind}"),
                        ));
                    }
                    value
                }
                _ => {
                    return Err(self
                        .err(
                            "yaml-tag",
                            loc,
                            format!("unsupported YAML tag `{}`", tag.original()),
                        )
                        .with_help("Tessera reads plain YAML data; remove the tag"));
                }
            },
            None if style == ScalarStyle::Plain => resolve_plain(text),
            None => NodeValue::String(text.to_string()),
        };
        if let NodeValue::String(s) = &resolved
            && style == ScalarStyle::Plain
            && is_non_finite(s)
        {
            return Err(self
                .err(
                    "yaml-number",
                    loc,
                    format!("`{s}` is not a finite number and cannot be represented in JSON"),
                )
                .with_help("quote it if you mean the text"));
        }
        Ok(resolved)
    }

    /// Puts a completed node into its parent (or makes it the root).
    fn finish(&mut self, node: Node) -> Result<(), Diagnostic> {
        let file = self.file;
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries, key, seen, ..
            }) => {
                let Some(k) = key.take() else {
                    let name = match node.value {
                        NodeValue::String(s) => s,
                        NodeValue::Bool(b) => b.to_string(),
                        NodeValue::Number(n) => n.to_string(),
                        NodeValue::Null => "null".to_string(),
                        NodeValue::Seq(_) | NodeValue::Map(_) => {
                            return Err(Diagnostic::error(
                                "yaml-complex-key",
                                file,
                                "a list or mapping cannot be used as a key",
                            )
                            .at(node.loc));
                        }
                    };
                    if let Some(first) = seen.get(&name) {
                        return Err(Diagnostic::error(
                            "yaml-duplicate-key",
                            file,
                            format!(
                                "duplicate key `{name}` (first defined at line {})",
                                first.line
                            ),
                        )
                        .at(node.loc)
                        .with_help("each key may appear once in a mapping; remove or merge one"));
                    }
                    seen.insert(name.clone(), node.loc);
                    *key = Some(Key {
                        name,
                        loc: node.loc,
                    });
                    return Ok(());
                };
                entries.push((k, node));
                Ok(())
            }
        }
    }
}

fn is_non_finite(s: &str) -> bool {
    matches!(
        s.trim_start_matches(['+', '-']),
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
    )
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        _ => {}
    }
    if let Some(n) = resolve_int(text) {
        return NodeValue::Number(n);
    }
    if is_float(text)
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return NodeValue::Number(n);
    }
    NodeValue::String(text.to_string())
}

fn resolve_int(text: &str) -> Option<Number> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(rest) = digits.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = digits.strip_prefix("0o") {
        (8, rest)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix != 10 && text.starts_with(['-', '+']) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok();
    match (neg, magnitude) {
        (false, Some(m)) => Some(Number::from(m)),
        (true, Some(m)) if m <= i64::MAX as u64 + 1 => {
            Some(Number::from((m as i128).wrapping_neg() as i64))
        }
        // Too large for 64 bits: keep it as a (lossy) float rather than refusing the file.
        _ => text.parse::<f64>().ok().and_then(Number::from_f64),
    }
}

fn is_float(text: &str) -> bool {
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        }
    };
    mantissa_ok && exponent_ok
}

/// [`parse`], recording a syntax error in `diags` instead of returning it.
pub fn parse_into(file: &str, text: &str, diags: &mut crate::Diagnostics) -> Option<Node> {
    parse(file, text).map_err(|d| diags.push(d)).ok()
}

/// Reads the typed view `T` of a document that passed its structure check. A failure here
/// is a bug (the shape and the struct disagree), reported as such rather than a panic.
pub fn read_typed<T: serde::de::DeserializeOwned>(
    file: &str,
    document: &Value,
    what: &str,
    diags: &mut crate::Diagnostics,
) -> Option<T> {
    T::deserialize(document)
        .map_err(|e| {
            diags.push(Diagnostic::error(
                "internal",
                file,
                format!("{what} passed the structure check but could not be read: {e}"),
            ))
        })
        .ok()
}

/// Writes a JSON value back as YAML. Parsing the output gives the same value.
pub fn to_yaml(value: &Value) -> String {
    // Serialising a serde_json::Value cannot fail: every key is a string.
    serde_saphyr::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        parse("t.yaml", text).map(|n| n.to_json()).unwrap()
    }

    fn err(text: &str) -> String {
        parse("t.yaml", text).unwrap_err().to_string()
    }

    #[test]
    fn resolves_scalars_with_the_yaml_1_2_core_schema() {
        let v = json(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: 2022-10-03\ng: yes\nh: '1'\ni: 0x1F\nj: 1e3\nk: .5\nl: v1.0\n",
        );
        assert_eq!(
            v,
            serde_json::json!({"a":1,"b":-2,"c":1.5,"d":true,"e":null,"f":"2022-10-03","g":"yes","h":"1","i":31,"j":1000.0,"k":0.5,"l":"v1.0"})
        );
    }

    #[test]
    fn keeps_key_order() {
        let v = json("z: 1\na: 2\nm: 3\n");
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn records_locations_of_keys_and_values() {
        let n = parse("t.yaml", "a:\n  - x: 1\n    y: two\n").unwrap();
        let y = n.pointer(&["a", "0", "y"]).unwrap();
        assert_eq!(y.loc, Location::new(3, 8));
        assert_eq!(
            n.pointer(&["a", "0"]).unwrap().key_loc("y"),
            Some(Location::new(3, 5))
        );
    }

    #[test]
    fn duplicate_keys_are_errors_naming_both_lines() {
        assert_eq!(
            err("a: 1\nb: 2\na: 3\n"),
            "t.yaml:3:1: error[yaml-duplicate-key]: duplicate key `a` (first defined at line 1)\n  help: each key may appear once in a mapping; remove or merge one"
        );
    }

    #[test]
    fn alias_bombs_are_refused_not_expanded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(err(&text).contains("yaml-too-large"), "{}", err(&text));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&text).contains("yaml-too-deep"), "{}", err(&text));
        let block: String = (0..200)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        assert!(err(&block).contains("yaml-too-deep"), "{}", err(&block));
    }

    /// Block and flow nesting count together, so a document that parses can be written back
    /// (in block style) and parsed again. Found by fuzzing the contract round trip.
    fn nested(block: usize, flow: usize) -> String {
        let mut text: String = (0..block)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        text.push_str(&"  ".repeat(block));
        text.push_str(&format!("{}1{}\n", "[".repeat(flow), "]".repeat(flow)));
        text
    }

    /// An alias stands for its whole anchored tree, so it nests as deep as the tree does:
    /// chained anchors used to build trees thousands of levels deep.
    #[test]
    fn aliases_count_towards_the_depth_limit() {
        let deep_anchor = format!("a: &x {}1{}\n", "[".repeat(40), "]".repeat(40));
        let text = format!("{deep_anchor}b: {}*x{}\n", "[".repeat(30), "]".repeat(30));
        assert!(err(&text).contains("yaml-too-deep"), "{}", err(&text));
        let shallow = format!("{deep_anchor}b: {}*x{}\n", "[".repeat(10), "]".repeat(10));
        let node = parse("f", &shallow).unwrap();
        assert_eq!(
            parse("f", &to_yaml(&node.to_json())).unwrap().to_json(),
            node.to_json()
        );
        let mut chain = String::from("a0: &a0 [1]\n");
        for i in 1..100 {
            chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        assert!(err(&chain).contains("yaml-too-deep"), "{}", err(&chain));
    }

    #[test]
    fn depth_counts_block_and_flow_together() {
        let too_deep = err(&nested(40, 40));
        assert!(too_deep.contains("yaml-too-deep"), "{too_deep}");
        let deepest = parse("f", &nested(MAX_DEPTH / 2, MAX_DEPTH / 2)).unwrap();
        let written = to_yaml(&deepest.to_json());
        let again = parse("f", &written).unwrap();
        assert_eq!(again.to_json(), deepest.to_json());
    }

    #[test]
    fn empty_files_tabs_and_multiple_documents_are_errors() {
        assert!(err("").contains("empty-file"));
        assert!(err("# only a comment\n").contains("empty-file"));
        assert!(err("a:\n\tb: 1\n").contains("yaml-syntax"));
        assert!(err("a: 1\n---\nb: 2\n").contains("yaml-multiple-documents"));
        assert!(err("a: .inf\n").contains("yaml-number"));
        assert!(err("a: !custom x\n").contains("yaml-tag"));
    }

    #[test]
    fn decode_rejects_binary_and_non_utf8() {
        assert!(
            decode("f", b"a: \xff\xfe")
                .unwrap_err()
                .to_string()
                .contains("not valid UTF-8")
        );
        assert!(
            decode("f", b"\xff\xfea\0")
                .unwrap_err()
                .to_string()
                .contains("UTF-16")
        );
        assert!(
            decode("f", b"a\0b")
                .unwrap_err()
                .to_string()
                .contains("NUL")
        );
        assert_eq!(decode("f", b"\xEF\xBB\xBFa: 1").unwrap(), "a: 1");
    }

    #[test]
    fn yaml_written_back_parses_to_the_same_value() {
        let text = "s: '2022-10-03'\nt: 'true'\nn: '12'\nnull_text: 'null'\nf: 1.0\nlist: [a, 'b: c', '- d']\nnested: {x: '', y: ~}\nmulti: \"line1\\nline2\\n\"\n";
        let v = json(text);
        let back = to_yaml(&v);
        assert_eq!(json(&back), v, "written back:\n{back}");
    }
}
