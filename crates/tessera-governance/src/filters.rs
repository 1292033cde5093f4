//! Row filters: `policies/row_filters.yaml`, predicates over a port's columns bound to the
//! principal's attributes.
//!
//! ```yaml
//! filters:
//!   - name: sales-regions
//!     ports: [crm.customers, marketing.customer_360]
//!     filter: country IN principal.regions
//!     except_groups: [privacy]        # members of these groups see every row
//! ```
//!
//! `principal.<attribute>` becomes a literal before the predicate is planned: a string
//! `'DE'`, a list `('DE', 'AT')` (an empty list `(NULL)`, which matches nothing), an
//! integer, or TRUE/FALSE. Several filters on one port all apply (AND).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};
use tessera_model::yaml::Node;
use tessera_model::{Diagnostics, Mesh};

use crate::principals::{AttrValue, Principal, Principals};
use crate::read::{Reader, join, suggest};

pub const FILE: &str = "policies/row_filters.yaml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowFilter {
    pub name: String,
    /// `domain.port` names.
    pub ports: Vec<String>,
    /// The predicate as written.
    pub filter: String,
    pub except_groups: Vec<String>,
    pub line: usize,
}

impl RowFilter {
    /// Whether the filter applies to this principal on this port.
    pub fn applies(&self, principal: &Principal, port: &str) -> bool {
        self.ports.iter().any(|p| p == port)
            && !principal
                .groups
                .iter()
                .any(|g| self.except_groups.contains(g))
    }

    /// The predicate with `principal.<attribute>` replaced by the principal's values.
    pub fn bind(&self, principal: &Principal) -> String {
        bind(&self.filter, principal)
    }
}

pub(crate) fn read(
    text: &str,
    mesh: &Mesh,
    principals: &Principals,
    diags: &mut Diagnostics,
) -> Vec<RowFilter> {
    let Some(root) = tessera_model::yaml::parse_into(FILE, text, diags) else {
        return Vec::new();
    };
    let mut r = Reader {
        file: FILE.to_string(),
        diags,
    };
    r.known_keys(&root, "", &["filters"]);
    let Some(list) = root.get("filters") else {
        return Vec::new();
    };
    let Some(items) = list.as_seq() else {
        r.error(Some(list), "filters", "expected a list of filters");
        return Vec::new();
    };
    let ports = port_columns(mesh);
    let mut out: Vec<RowFilter> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("filters[{i}]");
        r.known_keys(
            item,
            &path,
            &["name", "ports", "filter", "except_groups", "description"],
        );
        let field = |key: &str| item.get(key);
        let Some(name) = field("name").and_then(|n| r.string(n, &join(&path, "name"))) else {
            r.error(
                Some(item),
                &join(&path, "name"),
                "a row filter needs a name",
            );
            continue;
        };
        if out.iter().any(|f| f.name == name) {
            r.error(
                field("name"),
                &join(&path, "name"),
                format!("row filter `{name}` is declared twice"),
            );
        }
        let Some(filter_node) = field("filter") else {
            r.error(
                Some(item),
                &join(&path, "filter"),
                format!("row filter `{name}` has no `filter` predicate"),
            );
            continue;
        };
        let Some(filter) = r.string(filter_node, &join(&path, "filter")) else {
            continue;
        };
        let port_list = field("ports")
            .map(|n| r.strings(n, &join(&path, "ports")))
            .unwrap_or_default();
        if port_list.is_empty() {
            r.error(
                Some(item),
                &join(&path, "ports"),
                format!("row filter `{name}` names no ports"),
            );
        }
        let except_groups = field("except_groups")
            .map(|n| r.strings(n, &join(&path, "except_groups")))
            .unwrap_or_default();
        for g in &except_groups {
            if !principals.groups.contains_key(g) {
                r.error(
                    field("except_groups"),
                    &join(&path, "except_groups"),
                    format!("unknown group `{g}`"),
                );
            }
        }
        check_predicate(
            &mut r,
            &name,
            &filter,
            filter_node,
            &path,
            &port_list,
            &ports,
            principals,
            field("ports"),
        );
        out.push(RowFilter {
            name,
            ports: port_list,
            filter,
            except_groups,
            line: item.loc.line,
        });
    }
    out
}

/// Every port's contract columns, by `domain.port`.
fn port_columns(mesh: &Mesh) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (d, domain) in &mesh.domains {
        for product in domain.products.values() {
            for port in &product.ports {
                let cols = port
                    .contract
                    .as_ref()
                    .and_then(|c| c.objects.first())
                    .map(|o| o.properties.iter().map(|p| p.name.clone()).collect())
                    .unwrap_or_default();
                out.insert(format!("{d}.{}", port.name), cols);
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn check_predicate(
    r: &mut Reader,
    name: &str,
    filter: &str,
    node: &Node,
    path: &str,
    port_list: &[String],
    ports: &BTreeMap<String, BTreeSet<String>>,
    principals: &Principals,
    ports_node: Option<&Node>,
) {
    let fpath = join(path, "filter");
    let tokens = match Tokenizer::new(&GenericDialect {}, filter).tokenize() {
        Ok(t) => t,
        Err(e) => {
            r.error(
                Some(node),
                &fpath,
                format!("row filter `{name}` does not parse: {e}"),
            );
            return;
        }
    };
    let bound = bind_tokens(&tokens, &|_| Some(String::from("NULL")));
    if let Err((e, _)) = tessera_model::sql::check_syntax(&format!("SELECT 1 WHERE {bound}")) {
        r.error(
            Some(node),
            &fpath,
            format!("row filter `{name}` is not a SQL predicate: {e}"),
        );
        return;
    }
    let mut columns = BTreeSet::new();
    let significant: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut i = 0;
    while i < significant.len() {
        if let Token::Word(w) = significant[i] {
            let next = significant.get(i + 1);
            if w.quote_style.is_none()
                && w.value.eq_ignore_ascii_case("principal")
                && next == Some(&&Token::Period)
            {
                if let Some(Token::Word(attr)) = significant.get(i + 2)
                    && !principals.attributes.contains_key(&attr.value)
                {
                    let known: Vec<&str> =
                        principals.attributes.keys().map(String::as_str).collect();
                    let help = suggest(&attr.value, known.iter().copied())
                        .map(|s| format!("did you mean `principal.{s}`?"))
                        .unwrap_or_else(|| format!("principals have: {}", known.join(", ")));
                    r.error_help(
                        Some(node),
                        &fpath,
                        format!(
                            "row filter `{name}` uses principal.{}, an attribute no principal has",
                            attr.value
                        ),
                        help,
                    );
                }
                i += 3;
                continue;
            }
            let is_call = next == Some(&&Token::LParen);
            if (w.keyword == Keyword::NoKeyword || w.quote_style.is_some()) && !is_call {
                columns.insert(w.value.clone());
            }
        }
        i += 1;
    }
    for port in port_list {
        let Some(have) = ports.get(port) else {
            let help = suggest(port, ports.keys().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "write <domain>.<port>".into());
            r.error_help(
                ports_node,
                &join(path, "ports"),
                format!("row filter `{name}` names port `{port}`, which the mesh does not have"),
                help,
            );
            continue;
        };
        for c in &columns {
            if !have.contains(c) {
                r.error_help(
                    Some(node),
                    &fpath,
                    format!("row filter `{name}` reads column `{c}`, which {port} does not have"),
                    format!(
                        "{port} has: {}",
                        have.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
}

fn literal(v: &AttrValue) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    match v {
        AttrValue::String(s) => quote(s),
        AttrValue::Strings(list) if list.is_empty() => "(NULL)".into(),
        AttrValue::Strings(list) => format!(
            "({})",
            list.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
        ),
        AttrValue::Long(n) => n.to_string(),
        AttrValue::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
    }
}

fn bind(filter: &str, principal: &Principal) -> String {
    match Tokenizer::new(&GenericDialect {}, filter).tokenize() {
        Ok(tokens) => bind_tokens(&tokens, &|attr| principal.attributes.get(attr).map(literal)),
        // Checked at load; a filter that does not parse matches nothing.
        Err(_) => "FALSE".into(),
    }
}

/// Renders tokens back to text with every `principal.<attr>` replaced by `value(attr)`
/// (NULL when the principal has no such attribute).
fn bind_tokens(tokens: &[Token], value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Word(w) = &tokens[i]
            && w.quote_style.is_none()
            && w.value.eq_ignore_ascii_case("principal")
            && tokens.get(i + 1) == Some(&Token::Period)
            && let Some(Token::Word(attr)) = tokens.get(i + 2)
        {
            out.push_str(&value(&attr.value).unwrap_or_else(|| "NULL".into()));
            i += 3;
            continue;
        }
        out.push_str(&tokens[i].to_string());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principals::PrincipalKind;

    fn principal(attrs: &[(&str, AttrValue)]) -> Principal {
        Principal {
            id: "bob".into(),
            kind: PrincipalKind::User,
            name: None,
            groups: vec![],
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn principal_attributes_become_literals() {
        let p = principal(&[
            (
                "regions",
                AttrValue::Strings(vec!["DE".into(), "O'Hara".into()]),
            ),
            ("level", AttrValue::Long(3)),
        ]);
        assert_eq!(
            bind(
                "country IN principal.regions AND tier <= principal.level",
                &p
            ),
            "country IN ('DE', 'O''Hara') AND tier <= 3"
        );
        let none = principal(&[("regions", AttrValue::Strings(vec![]))]);
        assert_eq!(
            bind("country IN principal.regions", &none),
            "country IN (NULL)"
        );
        // A string that merely contains the words is left alone.
        assert_eq!(
            bind("note = 'principal.regions'", &p),
            "note = 'principal.regions'"
        );
        assert_eq!(bind("x = principal.unknown", &p), "x = NULL");
    }
}
