//! Access policies in Cedar: the schema generated from the mesh, the entities (principals,
//! groups, domains, products, ports, columns), the policies of `policies/*.cedar`
//! validated against that schema, and decisions with the policies that made them.
//!
//! ```text
//! Tessera::Mesh::"mesh"
//!   └ Tessera::Domain::"crm"
//!       └ Tessera::Product::"crm/customers"
//!           └ Tessera::Port::"crm.customers"
//!               └ Tessera::Column::"crm.customers.email"
//! Tessera::User::"ana@example.com" in Tessera::Group::"crm_team"
//! ```
//!
//! Deny by default: a request no policy permits is denied, and any `forbid` that applies
//! wins over every `permit` (Cedar's semantics).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicyId, PolicySet, Request, Schema,
    ValidationMode, Validator,
};
use miette::Diagnostic as _;
use serde::Serialize;
use serde_json::{Value, json};
use tessera_model::{Diagnostic, Diagnostics, Location, Mesh};

use crate::principals::{AttrValue, Principals};

/// The actions policies decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read a port at all.
    Query,
    /// See a column's values as they are.
    ReadColumn,
    /// See a column's values masked.
    ReadColumnMasked,
    Publish,
    ApproveAccess,
    Erase,
    ReadAudit,
    /// Create, list and revoke the API tokens of other principals (the mesh). Managing
    /// one's own tokens needs no policy.
    ManageTokens,
}

impl Action {
    pub const ALL: &[Action] = &[
        Action::Query,
        Action::ReadColumn,
        Action::ReadColumnMasked,
        Action::Publish,
        Action::ApproveAccess,
        Action::Erase,
        Action::ReadAudit,
        Action::ManageTokens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Query => "query",
            Action::ReadColumn => "read_column",
            Action::ReadColumnMasked => "read_column_masked",
            Action::Publish => "publish",
            Action::ApproveAccess => "approve_access",
            Action::Erase => "erase",
            Action::ReadAudit => "read_audit",
            Action::ManageTokens => "manage_tokens",
        }
    }

    fn resource_types(self) -> &'static str {
        match self {
            Action::Query | Action::ApproveAccess => "[Port]",
            Action::ReadColumn | Action::ReadColumnMasked => "[Column]",
            Action::Publish => "[Product]",
            Action::Erase => "[Domain, Product, Port]",
            Action::ReadAudit | Action::ManageTokens => "[Mesh]",
        }
    }
}

/// What a decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Mesh,
    Domain(String),
    /// `domain/product`.
    Product(String),
    /// `domain.port`.
    Port(String),
    /// `domain.port` and the column.
    Column(String, String),
}

impl Resource {
    fn uid(&self) -> String {
        match self {
            Resource::Mesh => uid("Mesh", "mesh"),
            Resource::Domain(d) => uid("Domain", d),
            Resource::Product(p) => uid("Product", p),
            Resource::Port(p) => uid("Port", p),
            Resource::Column(p, c) => uid("Column", &format!("{p}.{c}")),
        }
    }
}

fn uid(kind: &str, id: &str) -> String {
    format!("Tessera::{kind}::{}", json!(id))
}

/// A policy as the user wrote it: where, and its `@id` if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// The `@id("…")` annotation, else `<file>:<line>`.
    pub id: String,
    pub file: String,
    pub line: usize,
    pub effect: &'static str,
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.id.starts_with(&self.file) {
            write!(f, "{} policy at {}", self.effect, self.id)
        } else {
            write!(
                f,
                "{} policy `{}` ({}:{})",
                self.effect, self.id, self.file, self.line
            )
        }
    }
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    /// The policies that decided: the permits that allowed it, or the forbids that denied
    /// it. Empty for a denial by default.
    pub policies: Vec<PolicyRef>,
    /// Evaluation errors (a policy that failed to evaluate is skipped, as Cedar does).
    pub errors: Vec<String>,
}

impl Verdict {
    /// "permitted by …", "forbidden by …" or "no policy permits it (deny by default)".
    pub fn explain(&self) -> String {
        let list = || {
            self.policies
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.allowed {
            format!("permitted by {}", list())
        } else if self.policies.is_empty() {
            "no policy permits it (deny by default)".to_string()
        } else {
            format!("forbidden by {}", list())
        }
    }
}

/// The policies, with the schema and entities they are evaluated against.
#[derive(Debug)]
pub struct Policies {
    schema: Schema,
    policies: PolicySet,
    entities: Entities,
    refs: BTreeMap<String, PolicyRef>,
    /// The generated Cedar schema, for `tessera policy schema` and docs.
    pub schema_text: String,
}

impl Policies {
    pub(crate) fn load(
        mesh: &Mesh,
        principals: &Principals,
        diags: &mut Diagnostics,
    ) -> Option<Policies> {
        let schema_text = schema_text(principals);
        let schema = match Schema::from_cedarschema_str(&schema_text) {
            Ok((schema, _)) => schema,
            Err(e) => {
                diags.push(Diagnostic::error(
                    "policy-schema",
                    crate::principals::FILE,
                    format!("the Cedar schema generated from the mesh does not parse: {e}"),
                ));
                return None;
            }
        };
        let mut policies = PolicySet::new();
        let mut refs = BTreeMap::new();
        let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
        let before = diags.error_count();
        for file in &mesh.governance_files {
            if !file.path.ends_with(".cedar") {
                continue;
            }
            let Ok(text) = std::str::from_utf8(&file.bytes) else {
                diags.push(Diagnostic::error(
                    "invalid-encoding",
                    file.path.clone(),
                    "a policy file must be UTF-8",
                ));
                continue;
            };
            load_file(
                &file.path,
                text,
                &mut policies,
                &mut refs,
                &mut sources,
                diags,
            );
        }
        if diags.error_count() > before {
            return None;
        }
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        for e in result.validation_errors() {
            let id = e.policy_id().to_string();
            let (file, text) = sources.get(&id).cloned().unwrap_or_default();
            let loc = e
                .labels()
                .and_then(|mut l| l.next())
                .map(|l| Location::of_offset(&text, l.offset()));
            let mut d = Diagnostic::error("invalid-policy", file, e.to_string()).at_opt(loc);
            if let Some(help) = e.help() {
                d = d.with_help(help.to_string());
            }
            diags.push(d);
        }
        if diags.error_count() > before {
            return None;
        }
        let entities =
            match Entities::from_json_value(entities_json(mesh, principals), Some(&schema)) {
                Ok(e) => e,
                Err(e) => {
                    diags.push(Diagnostic::error(
                        "policy-entities",
                        crate::principals::FILE,
                        format!("the mesh's entities do not fit the generated Cedar schema: {e}"),
                    ));
                    return None;
                }
            };
        Some(Policies {
            schema,
            policies,
            entities,
            refs,
            schema_text,
        })
    }

    /// Every policy, as written.
    pub fn refs(&self) -> impl Iterator<Item = &PolicyRef> {
        self.refs.values()
    }

    /// Decides whether `principal` may do `action` on `resource` with this context:
    /// `context.purpose`, `context.basis`, and `context.granted` — the ports (`domain.port`)
    /// the principal holds an approved, unexpired access request on for this purpose.
    pub fn decide(
        &self,
        principal: &str,
        action: Action,
        resource: &Resource,
        purpose: &str,
        basis: &str,
        granted: &BTreeSet<String>,
    ) -> Verdict {
        let deny = |why: String| Verdict {
            allowed: false,
            policies: Vec::new(),
            errors: vec![why],
        };
        let parse = |text: String| EntityUid::from_str(&text).ok();
        let (Some(p), Some(a), Some(r)) = (
            parse(uid("User", principal)),
            parse(format!("Tessera::Action::{}", json!(action.as_str()))),
            parse(resource.uid()),
        ) else {
            return deny("a name in the request is not a valid Cedar entity id".into());
        };
        let context = match Context::from_json_value(
            json!({
                "purpose": purpose,
                "basis": basis,
                "granted": granted
                    .iter()
                    .map(|port| json!({ "__entity": { "type": "Tessera::Port", "id": port } }))
                    .collect::<Vec<_>>(),
            }),
            Some((&self.schema, &a)),
        ) {
            Ok(c) => c,
            Err(e) => return deny(e.to_string()),
        };
        let request = match Request::new(p, a, r, context, Some(&self.schema)) {
            Ok(r) => r,
            Err(e) => return deny(e.to_string()),
        };
        let response = Authorizer::new().is_authorized(&request, &self.policies, &self.entities);
        let policies = response
            .diagnostics()
            .reason()
            .filter_map(|id| self.refs.get(&id.to_string()).cloned())
            .collect();
        Verdict {
            allowed: response.decision() == Decision::Allow,
            policies,
            errors: response
                .diagnostics()
                .errors()
                .map(|e| e.to_string())
                .collect(),
        }
    }
}

fn load_file(
    path: &str,
    text: &str,
    into: &mut PolicySet,
    refs: &mut BTreeMap<String, PolicyRef>,
    sources: &mut BTreeMap<String, (String, String)>,
    diags: &mut Diagnostics,
) {
    let parsed = match PolicySet::from_str(text) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors.iter() {
                let loc = e
                    .labels()
                    .and_then(|mut l| l.next())
                    .map(|l| Location::of_offset(text, l.offset()));
                let mut d = Diagnostic::error("invalid-policy", path.to_string(), e.to_string())
                    .at_opt(loc);
                if let Some(help) = e.help() {
                    d = d.with_help(help.to_string());
                }
                diags.push(d);
            }
            return;
        }
    };
    if parsed.templates().next().is_some() {
        diags.push(
            Diagnostic::error(
                "invalid-policy",
                path.to_string(),
                "policy templates (?principal, ?resource) are not supported yet",
            )
            .with_help("write the policy for each principal or group, or use a group"),
        );
        return;
    }
    let starts = statement_starts(text);
    let mut list: Vec<_> = parsed.policies().collect();
    // `policy0`, `policy1`, … in source order.
    list.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    for (i, policy) in list.into_iter().enumerate() {
        let line = starts
            .get(i)
            .map(|&o| Location::of_offset(text, o).line)
            .unwrap_or(1);
        let id = policy
            .annotation("id")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{path}:{line}"));
        if refs.contains_key(&id) {
            diags.push(
                Diagnostic::error(
                    "invalid-policy",
                    path.to_string(),
                    format!("policy id `{id}` is used twice"),
                )
                .at(Location::new(line, 1))
                .with_help("give each policy its own @id(\"…\")"),
            );
            continue;
        }
        let effect = match policy.effect() {
            cedar_policy::Effect::Permit => "permit",
            cedar_policy::Effect::Forbid => "forbid",
        };
        let renamed = policy.new_id(PolicyId::new(id.clone()));
        if let Err(e) = into.add(renamed) {
            diags.push(Diagnostic::error(
                "invalid-policy",
                path.to_string(),
                e.to_string(),
            ));
            continue;
        }
        sources.insert(id.clone(), (path.to_string(), text.to_string()));
        refs.insert(
            id.clone(),
            PolicyRef {
                id,
                file: path.to_string(),
                line,
                effect,
            },
        );
    }
}

/// Byte offsets where each `;`-terminated statement of a Cedar file starts (its first
/// character that is not blank or a comment), skipping strings and comments.
fn statement_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    let mut in_statement = false;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b';' => in_statement = false,
            c if c.is_ascii_whitespace() => {}
            _ => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
            }
        }
        i += 1;
    }
    starts
}

/// The Cedar schema of a mesh: fixed entity types, plus the principals' attributes.
pub fn schema_text(principals: &Principals) -> String {
    let mut user_attrs = String::from("kind: String, owns: Set<String>");
    for (name, kind) in &principals.attributes {
        let _ = write!(user_attrs, ", {name}: {}", kind.cedar_type());
    }
    let mut s = String::from(
        "// Generated by Tessera from the mesh and policies/principals.yaml. Do not edit.\n\
         namespace Tessera {\n",
    );
    let _ = writeln!(s, "  entity Group;");
    let _ = writeln!(s, "  entity User in [Group] = {{ {user_attrs} }};");
    let _ = writeln!(s, "  entity Mesh;");
    let _ = writeln!(s, "  entity Domain in [Mesh] = {{ name: String }};");
    let _ = writeln!(
        s,
        "  entity Product in [Domain] = {{ domain: String, name: String, status: String, tags: Set<String> }};"
    );
    let _ = writeln!(
        s,
        "  entity Port in [Product] = {{ domain: String, product: String, name: String, status: String, tags: Set<String>, has_subject_key: Bool, subject_keys: Set<String> }};"
    );
    let _ = writeln!(
        s,
        "  entity Column in [Port] = {{ domain: String, product: String, port: String, name: String, classification: String, tags: Set<String>, is_subject_key: Bool, subject_key: String }};"
    );
    // `granted`: the ports the principal holds an approved, unexpired access request on
    // for this purpose (docs/access.md); `resource in context.granted` holds for such a
    // port and for its columns.
    let _ = writeln!(
        s,
        "  type Ctx = {{ purpose: String, basis: String, granted: Set<Port> }};"
    );
    for action in Action::ALL {
        let _ = writeln!(
            s,
            "  action {} appliesTo {{ principal: [User], resource: {}, context: Ctx }};",
            action.as_str(),
            action.resource_types()
        );
    }
    s.push_str("}\n");
    s
}

fn attr_json(v: &AttrValue) -> Value {
    match v {
        AttrValue::String(s) => json!(s),
        AttrValue::Strings(list) => json!(list),
        AttrValue::Long(n) => json!(n),
        AttrValue::Bool(b) => json!(b),
    }
}

fn entity(kind: &str, id: &str, attrs: Value, parents: Vec<(&str, String)>) -> Value {
    json!({
        "uid": { "type": format!("Tessera::{kind}"), "id": id },
        "attrs": attrs,
        "parents": parents
            .into_iter()
            .map(|(k, id)| json!({ "type": format!("Tessera::{k}"), "id": id }))
            .collect::<Vec<_>>(),
    })
}

/// Every entity of the mesh, as Cedar's entity JSON.
fn entities_json(mesh: &Mesh, principals: &Principals) -> Value {
    let mut out = vec![entity("Mesh", "mesh", json!({}), vec![])];
    let mut owns: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, domain) in &mesh.domains {
        if let Some(config) = &domain.config {
            for owner in config.owners() {
                owns.entry(owner).or_default().insert(name.as_str());
            }
        }
        out.push(entity(
            "Domain",
            name.as_str(),
            json!({ "name": name.as_str() }),
            vec![("Mesh", "mesh".into())],
        ));
        for (pname, product) in &domain.products {
            let product_id = format!("{name}/{pname}");
            let status = product.descriptor.status.clone();
            out.push(entity(
                "Product",
                &product_id,
                json!({ "domain": name.as_str(), "name": pname.as_str(), "status": status, "tags": product_tags(product) }),
                vec![("Domain", name.to_string())],
            ));
            for port in &product.ports {
                let table = format!("{name}.{}", port.name);
                let columns = port
                    .contract
                    .as_ref()
                    .and_then(|c| c.objects.first())
                    .map(|o| o.properties.as_slice())
                    .unwrap_or_default();
                let subject_keys: BTreeSet<&str> =
                    columns.iter().filter_map(|c| c.subject_key()).collect();
                let tags: Vec<&str> = port
                    .contract
                    .as_ref()
                    .and_then(|c| c.document.get("tags"))
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                out.push(entity(
                    "Port",
                    &table,
                    json!({
                        "domain": name.as_str(), "product": pname.as_str(), "name": port.name.as_str(),
                        "status": status, "tags": tags,
                        "has_subject_key": !subject_keys.is_empty(), "subject_keys": subject_keys,
                    }),
                    vec![("Product", product_id.clone())],
                ));
                for c in columns {
                    out.push(entity(
                        "Column",
                        &format!("{table}.{}", c.name),
                        json!({
                            "domain": name.as_str(), "product": pname.as_str(), "port": port.name.as_str(),
                            "name": c.name, "classification": c.classification.clone().unwrap_or_default(),
                            "tags": c.tags, "is_subject_key": c.subject_key().is_some(),
                            "subject_key": c.subject_key().unwrap_or_default(),
                        }),
                        vec![("Port", table.clone())],
                    ));
                }
            }
        }
    }
    for group in principals.groups.keys() {
        out.push(entity("Group", group, json!({}), vec![]));
    }
    for p in principals.principals.values() {
        let mut attrs = serde_json::Map::new();
        attrs.insert("kind".into(), json!(p.kind.as_str()));
        attrs.insert(
            "owns".into(),
            json!(owns.get(p.id.as_str()).cloned().unwrap_or_default()),
        );
        for (k, v) in &p.attributes {
            attrs.insert(k.clone(), attr_json(v));
        }
        out.push(entity(
            "User",
            &p.id,
            Value::Object(attrs),
            p.groups.iter().map(|g| ("Group", g.clone())).collect(),
        ));
    }
    Value::Array(out)
}

fn product_tags(product: &tessera_model::mesh::Product) -> Vec<String> {
    product
        .descriptor
        .document
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_start_after_comments_and_strings() {
        let text = "// a comment; with a semicolon\npermit(principal, action, resource)\n  when { \"a;b\" == \"a;b\" };\n\n@id(\"x\")\nforbid(principal, action, resource);\n";
        let starts = statement_starts(text);
        let lines: Vec<usize> = starts
            .iter()
            .map(|&o| Location::of_offset(text, o).line)
            .collect();
        assert_eq!(lines, [2, 5]);
    }

    #[test]
    fn every_action_is_declared_in_the_schema_on_its_resources() {
        let text = schema_text(&Principals::default());
        for action in Action::ALL {
            let line = format!(
                "action {} appliesTo {{ principal: [User], resource: {}, context: Ctx }};",
                action.as_str(),
                action.resource_types()
            );
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert!(
            text.contains("action manage_tokens appliesTo { principal: [User], resource: [Mesh]")
        );
        assert!(Schema::from_cedarschema_str(&text).is_ok(), "{text}");
    }
}
