//! The shape of an ODCS v3 data contract (v3.0.x and v3.1.0), written from the official
//! JSON Schema `odcs-json-schema-v3.1.0.json` (which accepts v3.0.x documents too).
//! `tests/it/conformance.rs` checks it against the official schemas and examples.
//!
//! Where it differs from the official schema, knowingly:
//! - stricter: `apiVersion` v2.2.x is refused (Tessera reads v3); the `arguments` of a
//!   metric that Tessera reads are typed (`validValues` is a list, `pattern` a string);
//!   Tessera's own `tessera*` custom properties are checked (`custom.rs`).
//!   Also stricter, on meaning: a `pattern` (of a string property or a metric's
//!   arguments) must be a regex Tessera can run (Rust `regex` syntax: e.g. no look-around,
//!   no backreferences), and lower bounds may not exceed upper ones
//!   (`minLength`/`maxLength`, `minimum`/`maximum`, `mustBeBetween`). And integers are
//!   written without a fraction (`5`, not `5.0`, which JSON Schema counts as an integer).
//! - looser: the formats `date`, `date-time` and `uri` are not checked; the official
//!   schema declares them as annotations only, and validators do not assert them either.

use crate::diagnostic::{Diagnostic, Diagnostics};
use std::sync::LazyLock;

use crate::shape::{
    Doc, Field, Items, ObjectShape, Shape, TextForm, Variants, form_regex, opt, req,
};
use crate::yaml::{Node, NodeValue};

/// `apiVersion` values Tessera reads.
pub const API_VERSIONS: &[&str] = &["v3.1.0", "v3.0.2", "v3.0.1", "v3.0.0"];
/// The version Tessera writes.
pub const CURRENT_API_VERSION: &str = "v3.1.0";

pub const LOGICAL_TYPES: &[&str] = &[
    "string",
    "date",
    "timestamp",
    "time",
    "number",
    "integer",
    "object",
    "array",
    "boolean",
];

pub const METRICS: &[&str] = &[
    "nullValues",
    "missingValues",
    "invalidValues",
    "duplicateValues",
    "rowCount",
];

pub const OPERATORS: &[&str] = &[
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
];

const STRINGS: Shape = Shape::List(&Shape::String);

/// `StableId`: the `id` of servers, schema elements, rules, team members and the like.
pub static STABLE_ID_FORM: TextForm = TextForm {
    what: "an id of letters, digits, `_` and `-`",
    plural: "ids",
    regex: LazyLock::new(|| form_regex(r"^[A-Za-z0-9_-]+$")),
};
const STABLE_ID: Shape = Shape::Text(&STABLE_ID_FORM);

/// `ShorthandReference` (`table.column`) or `FullyQualifiedReference`
/// (`[file.yaml#]/schema/<name>/properties/<name>…`), the ends of a relationship.
pub static COLUMN_REFERENCE_FORM: TextForm = TextForm {
    what: "a column reference (`table.column`, or `schema/<table>/properties/<column>`)",
    plural: "column references",
    regex: LazyLock::new(|| {
        form_regex(concat!(
            r"^(?:[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*",
            r"|(?:(?:https?://)?[A-Za-z0-9._\-/]+\.yaml#)?/?[A-Za-z_][A-Za-z0-9_]*/[A-Za-z0-9_-]+",
            r"(?:/[A-Za-z_][A-Za-z0-9_]*/[A-Za-z0-9_-]+)*)$",
        ))
    }),
};

/// An `sftp` server's `location`.
pub static SFTP_LOCATION_FORM: TextForm = TextForm {
    what: "an sftp:// location",
    plural: "sftp:// locations",
    regex: LazyLock::new(|| form_regex(r"^sftp://")),
};
const TAGS: Shape = STRINGS;

pub static CUSTOM_PROPERTY: ObjectShape = ObjectShape::closed(
    "custom property",
    &[
        opt("id", STABLE_ID),
        req("property", Shape::String),
        req("value", Shape::Any),
        opt("description", Shape::String),
    ],
);
pub const CUSTOM_PROPERTIES: Shape = Shape::List(&Shape::Object(&CUSTOM_PROPERTY));

// Closed: the v3.1.0 schema's `AuthoritativeDefinitions` items say `additionalProperties: false`.
pub static AUTHORITATIVE_DEFINITION: ObjectShape = ObjectShape::closed(
    "authoritative definition",
    &[
        opt("id", STABLE_ID),
        req("url", Shape::String),
        req("type", Shape::String),
        opt("description", Shape::String),
    ],
);
pub const AUTHORITATIVE_DEFINITIONS: Shape = Shape::List(&Shape::Object(&AUTHORITATIVE_DEFINITION));

static DESCRIPTION: ObjectShape = ObjectShape {
    name: "description",
    fields: &[
        opt("usage", Shape::String),
        opt("purpose", Shape::String),
        opt("limitations", Shape::String),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
    // Open in the official schema.
    open: true,
    variants: None,
    rule: None,
};

pub static ROLE: ObjectShape = ObjectShape::closed(
    "role",
    &[
        opt("id", STABLE_ID),
        req("role", Shape::String),
        opt("description", Shape::String),
        opt("access", Shape::String),
        opt("firstLevelApprovers", Shape::String),
        opt("secondLevelApprovers", Shape::String),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
);

pub static TEAM_MEMBER: ObjectShape = ObjectShape::closed(
    "team member",
    &[
        opt("id", STABLE_ID),
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

pub static TEAM: ObjectShape = ObjectShape::closed(
    "team",
    &[
        opt("id", STABLE_ID),
        opt("name", Shape::String),
        opt("description", Shape::String),
        opt("members", Shape::List(&Shape::Object(&TEAM_MEMBER))),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
    ],
);

static SUPPORT_ITEM: ObjectShape = ObjectShape::closed(
    "support channel",
    &[
        opt("id", STABLE_ID),
        req("channel", Shape::String),
        opt("url", Shape::String),
        opt("description", Shape::String),
        opt("tool", Shape::String),
        opt("scope", Shape::String),
        opt("invitationUrl", Shape::String),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
);

static PRICE: ObjectShape = ObjectShape::closed(
    "price",
    &[
        opt("id", STABLE_ID),
        opt("priceAmount", Shape::Number),
        opt("priceCurrency", Shape::String),
        opt("priceUnit", Shape::String),
    ],
);

static SLA_PROPERTY: ObjectShape = ObjectShape::closed(
    "SLA property",
    &[
        opt("id", STABLE_ID),
        req("property", Shape::String),
        req("value", Shape::Scalar),
        opt("valueExt", Shape::Scalar),
        opt("unit", Shape::String),
        opt("element", Shape::String),
        opt("driver", Shape::String),
        opt("description", Shape::String),
        opt("scheduler", Shape::String),
        opt("schedule", Shape::String),
    ],
);

// ---- servers: common fields plus the fields of each server type ----

const HOST: Field = opt("host", Shape::String);
const PORT: Field = opt("port", Shape::Integer);
const DATABASE: Field = opt("database", Shape::String);
const SCHEMA: Field = opt("schema", Shape::String);
const CATALOG: Field = opt("catalog", Shape::String);
const LOCATION: Field = opt("location", Shape::String);
const FORMAT: Field = opt("format", Shape::String);
const DELIMITER: Field = opt("delimiter", Shape::String);
const fn need(f: Field) -> Field {
    Field {
        required: true,
        ..f
    }
}

static SERVER_TYPES: Variants = Variants {
    key: "type",
    cases: &[
        ("api", &[need(LOCATION)]),
        (
            "athena",
            &[
                req("stagingDir", Shape::String),
                need(SCHEMA),
                CATALOG,
                opt("regionName", Shape::String),
            ],
        ),
        ("azure", &[need(LOCATION), need(FORMAT), DELIMITER]),
        (
            "bigquery",
            &[req("project", Shape::String), req("dataset", Shape::String)],
        ),
        ("clickhouse", &[need(HOST), need(PORT), need(DATABASE)]),
        ("databricks", &[HOST, need(CATALOG), need(SCHEMA)]),
        ("denodo", &[need(HOST), need(PORT), DATABASE]),
        ("dremio", &[need(HOST), need(PORT), SCHEMA]),
        ("duckdb", &[need(DATABASE), SCHEMA]),
        (
            "glue",
            &[
                req("account", Shape::String),
                need(DATABASE),
                LOCATION,
                FORMAT,
            ],
        ),
        (
            "cloudsql",
            &[need(HOST), need(PORT), need(DATABASE), need(SCHEMA)],
        ),
        ("db2", &[need(HOST), need(PORT), need(DATABASE), SCHEMA]),
        ("hive", &[need(HOST), PORT, need(DATABASE)]),
        ("impala", &[need(HOST), PORT, need(DATABASE)]),
        ("informix", &[need(HOST), PORT, need(DATABASE)]),
        ("zen", &[need(HOST), PORT, need(DATABASE)]),
        (
            "custom",
            &[
                opt("account", Shape::String),
                CATALOG,
                DATABASE,
                opt("dataset", Shape::String),
                DELIMITER,
                opt("endpointUrl", Shape::String),
                FORMAT,
                HOST,
                LOCATION,
                opt("path", Shape::String),
                PORT,
                opt("project", Shape::String),
                opt("region", Shape::String),
                opt("regionName", Shape::String),
                SCHEMA,
                opt("serviceName", Shape::String),
                opt("stagingDir", Shape::String),
                opt("warehouse", Shape::String),
                opt("stream", Shape::String),
            ],
        ),
        ("kafka", &[need(HOST), FORMAT]),
        ("kinesis", &[opt("region", Shape::String), FORMAT]),
        ("local", &[req("path", Shape::String), need(FORMAT)]),
        ("mysql", &[need(HOST), need(PORT), need(DATABASE)]),
        (
            "oracle",
            &[need(HOST), need(PORT), req("serviceName", Shape::String)],
        ),
        (
            "postgresql",
            &[need(HOST), need(PORT), need(DATABASE), need(SCHEMA)],
        ),
        (
            "postgres",
            &[need(HOST), need(PORT), need(DATABASE), need(SCHEMA)],
        ),
        ("presto", &[need(HOST), CATALOG, SCHEMA]),
        ("pubsub", &[req("project", Shape::String)]),
        (
            "redshift",
            &[
                HOST,
                need(DATABASE),
                need(SCHEMA),
                opt("region", Shape::String),
                opt("account", Shape::String),
            ],
        ),
        (
            "s3",
            &[
                need(LOCATION),
                opt("endpointUrl", Shape::String),
                FORMAT,
                DELIMITER,
            ],
        ),
        (
            "sftp",
            &[
                req("location", Shape::Text(&SFTP_LOCATION_FORM)),
                FORMAT,
                DELIMITER,
            ],
        ),
        (
            "snowflake",
            &[
                HOST,
                PORT,
                req("account", Shape::String),
                need(DATABASE),
                need(SCHEMA),
                opt("warehouse", Shape::String),
            ],
        ),
        (
            "sqlserver",
            &[need(HOST), PORT, need(DATABASE), need(SCHEMA)],
        ),
        ("synapse", &[need(HOST), need(PORT), need(DATABASE)]),
        (
            "trino",
            &[need(HOST), need(PORT), need(CATALOG), need(SCHEMA)],
        ),
        (
            "vertica",
            &[need(HOST), need(PORT), need(DATABASE), need(SCHEMA)],
        ),
    ],
};

pub const SERVER_TYPE_NAMES: &[&str] = &[
    "api",
    "athena",
    "azure",
    "bigquery",
    "clickhouse",
    "databricks",
    "denodo",
    "dremio",
    "duckdb",
    "glue",
    "cloudsql",
    "db2",
    "hive",
    "impala",
    "informix",
    "kafka",
    "kinesis",
    "local",
    "mysql",
    "oracle",
    "postgresql",
    "postgres",
    "presto",
    "pubsub",
    "redshift",
    "s3",
    "sftp",
    "snowflake",
    "sqlserver",
    "synapse",
    "trino",
    "vertica",
    "zen",
    "custom",
];

pub static SERVER: ObjectShape = ObjectShape {
    name: "server",
    fields: &[
        opt("id", STABLE_ID),
        req("server", Shape::String),
        req("type", Shape::Enum(SERVER_TYPE_NAMES)),
        opt("description", Shape::String),
        opt("environment", Shape::String),
        opt("roles", Shape::List(&Shape::Object(&ROLE))),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
    open: false,
    variants: Some(&SERVER_TYPES),
    rule: None,
};

// ---- quality rules ----

static QUALITY_RULE: ObjectShape = ObjectShape {
    name: "quality rule",
    fields: &[
        opt("id", STABLE_ID),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
        opt("businessImpact", Shape::String),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("description", Shape::String),
        opt(
            "dimension",
            Shape::Enum(&[
                "accuracy",
                "completeness",
                "conformity",
                "consistency",
                "coverage",
                "timeliness",
                "uniqueness",
            ]),
        ),
        opt("method", Shape::String),
        opt("name", Shape::String),
        opt("schedule", Shape::String),
        opt("scheduler", Shape::String),
        opt("severity", Shape::String),
        opt("tags", TAGS),
        opt("type", Shape::Enum(&["text", "library", "sql", "custom"])),
        opt("unit", Shape::String),
        // library
        opt("metric", Shape::Enum(METRICS)),
        opt("rule", Shape::String),
        opt("arguments", Shape::Object(&ARGUMENTS)),
        // sql
        opt("query", Shape::String),
        // custom
        opt("engine", Shape::String),
        opt(
            "implementation",
            Shape::Either(&[Shape::String, Shape::Object(&OPEN)]),
        ),
        // operators
        opt("mustBe", Shape::Any),
        opt("mustNotBe", Shape::Any),
        opt("mustBeGreaterThan", Shape::Number),
        opt("mustBeGreaterOrEqualTo", Shape::Number),
        opt("mustBeLessThan", Shape::Number),
        opt("mustBeLessOrEqualTo", Shape::Number),
        opt("mustBeBetween", RANGE),
        opt("mustNotBeBetween", RANGE),
    ],
    open: false,
    variants: None,
    rule: Some(quality_rule),
};

static OPEN: ObjectShape = ObjectShape {
    name: "mapping",
    fields: &[],
    open: true,
    variants: None,
    rule: None,
};

static ARGUMENTS: ObjectShape = ObjectShape {
    name: "metric arguments",
    fields: &[
        opt("missingValues", Shape::List(&Shape::Scalar)),
        opt("validValues", Shape::List(&Shape::Scalar)),
        opt("invalidValues", Shape::List(&Shape::Scalar)),
        opt("pattern", Shape::String),
        opt("properties", STRINGS),
    ],
    // Arguments are metric-specific and open in the standard.
    open: true,
    variants: None,
    rule: Some(check_pattern),
};

/// What kind of check a quality rule is, as the official v3.1.0 schema decides it: its
/// `type` when it says one; otherwise `library` when it names a `metric`, else `text`. (The
/// schema's `default: library` is only an annotation: a rule with a `query` but no `type`
/// is not a `sql` rule, and its `query` is not allowed.)
pub fn quality_kind(rule: &Node) -> &str {
    match rule.get("type").and_then(Node::as_str) {
        Some(t) => t,
        None if rule.get("metric").and_then(Node::as_str).is_some() => "library",
        // ODCS v3.0 named the metric `rule` (and made untyped rules library rules).
        None if rule.get("rule").and_then(Node::as_str).is_some() => "library",
        None => "text",
    }
}

/// The fields only some kinds of quality rule have (the schema's `DataQualityLibrary`,
/// `DataQualitySql` and `DataQualityCustom`), and those kinds. Comparisons come from
/// `DataQualityOperators`, which library and sql rules share.
fn kinds_having(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "metric" | "rule" | "arguments" => Some(&["library"]),
        "query" => Some(&["sql"]),
        "engine" | "implementation" => Some(&["custom"]),
        _ if OPERATORS.contains(&key) => Some(&["library", "sql"]),
        _ => None,
    }
}

fn quality_rule(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    let file = doc.file;
    let kind = quality_kind(node);
    if !["text", "library", "sql", "custom"].contains(&kind) {
        // A wrong `type` is reported by the field check; guessing further would only add noise.
        return;
    }
    // The schema applies the library fields when `type` is library *or* a metric is named,
    // so `type: sql` with a `metric` is both.
    let has_metric = node.get("metric").and_then(Node::as_str).is_some();
    let is = |k: &str| kind == k || (k == "library" && has_metric);
    for (key, _) in node.as_map().unwrap_or_default() {
        let Some(kinds) = kinds_having(&key.name) else {
            continue;
        };
        if kinds.iter().any(|k| is(k)) {
            continue;
        }
        diags.push(
            Diagnostic::error(
                "unknown-field",
                file,
                format!(
                    "`{}` is not a field of a `{kind}` quality rule; it belongs to {} rules",
                    key.name,
                    kinds.join(" and ")
                ),
            )
            .at(key.loc)
            .with_path(format!("{path}.{}", key.name))
            .with_help(format!(
                "set `type: {}`, or remove `{}`",
                kinds[0], key.name
            )),
        );
    }
    let missing = |key: &str, why: &str| {
        Diagnostic::error(
            "missing-field",
            file,
            format!("a `{kind}` quality rule needs `{key}` ({why})"),
        )
        .at(node.loc)
        .with_path(path)
    };
    if is("library") && node.get("metric").is_none() {
        let d = missing(
            "metric",
            "one of nullValues, missingValues, invalidValues, duplicateValues, rowCount",
        );
        let v3_0 = doc
            .root
            .get("apiVersion")
            .and_then(Node::as_str)
            .is_some_and(|v| v.starts_with("v3.0."));
        match node.get("rule") {
            // v3.0.x contracts name the metric `rule`; Tessera accepts v3.0.x, so it reads them.
            Some(rule) if v3_0 => diags.push(
                Diagnostic::warning(
                    "deprecated-field",
                    file,
                    "`rule` is the ODCS v3.0 name of `metric`; Tessera reads it as the metric",
                )
                .at(rule.loc)
                .with_path(format!("{path}.rule"))
                .with_help("ODCS v3.1 names it `metric`"),
            ),
            Some(_) => diags.push(d.with_help(
                "ODCS v3.1 names the metric `metric`; `rule` is its v3.0 name, deprecated",
            )),
            None => diags.push(d),
        }
    }
    if is("sql") && node.get("query").is_none() {
        diags.push(missing("query", "the SQL to run"));
    }
    if is("custom") {
        for key in ["engine", "implementation"] {
            if node.get(key).is_none() {
                diags.push(missing(key, "how the check runs"));
            }
        }
    }
    if !is("library") && !is("sql") {
        // Comparisons here were reported above as fields of another kind.
        return;
    }
    let operators: Vec<&str> = OPERATORS
        .iter()
        .copied()
        .filter(|op| node.get(op).is_some())
        .collect();
    if operators.len() > 1 {
        diags.push(
            Diagnostic::error(
                "conflicting-operators",
                file,
                format!(
                    "a quality rule takes one comparison; found {}",
                    operators.join(", ")
                ),
            )
            .at(node.loc)
            .with_path(path)
            .with_help("split it into one rule per comparison"),
        );
    } else if operators.is_empty() {
        diags.push(
            Diagnostic::error(
                "missing-operator",
                file,
                format!(
                    "a `{kind}` quality rule needs a comparison: one of {}",
                    OPERATORS.join(", ")
                ),
            )
            .at(node.loc)
            .with_path(path)
            .with_help("for example `mustBe: 0`"),
        );
    }
    // Length and distinctness are the shape's (`RANGE`); the order is meaning.
    for op in ["mustBeBetween", "mustNotBeBetween"] {
        if let Some([low, high]) = node.get(op).and_then(Node::as_seq)
            && let (Some(lo), Some(hi)) = (number(low), number(high))
            && lo > hi
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    file,
                    format!("`{op}` is [low, high], but {lo} > {hi}"),
                )
                .at(low.loc)
                .with_path(format!("{path}.{op}"))
                .with_help(format!("write [{hi}, {lo}]")),
            );
        }
    }
}

fn number(node: &Node) -> Option<f64> {
    match &node.value {
        NodeValue::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A lower bound above its upper bound (`minLength: 10, maxLength: 5`) can never hold.
fn bounds_in_order(
    node: &Node,
    [low, high]: [&str; 2],
    path: &str,
    file: &str,
    diags: &mut Diagnostics,
) {
    let (Some(lo_node), Some(hi_node)) = (node.get(low), node.get(high)) else {
        return;
    };
    if let (Some(lo), Some(hi)) = (number(lo_node), number(hi_node))
        && lo > hi
    {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                file,
                format!(
                    "`{low}` ({lo}) is greater than `{high}` ({hi}); no value can satisfy both"
                ),
            )
            .at(lo_node.loc)
            .with_path(format!("{path}.{low}")),
        );
    }
}

/// `[low, high]` of `mustBeBetween`/`mustNotBeBetween`.
const RANGE: Shape = Shape::Items(
    &Shape::Number,
    Items {
        min: 2,
        max: Some(2),
        unique: true,
    },
);

pub const QUALITY: Shape = Shape::List(&Shape::Object(&QUALITY_RULE));

// ---- schema: objects and their properties ----

/// A column reference (`table.column`) or a list of them, for composite keys.
const REFERENCES: Shape = Shape::Either(&[
    Shape::Text(&COLUMN_REFERENCE_FORM),
    Shape::Items(
        &Shape::Text(&COLUMN_REFERENCE_FORM),
        Items {
            min: 1,
            max: None,
            unique: false,
        },
    ),
]);

/// A relationship of a schema object (`RelationshipSchemaLevel`): `from` and `to` both.
static OBJECT_RELATIONSHIP: ObjectShape = ObjectShape {
    name: "relationship",
    fields: &[
        opt("type", Shape::Enum(&["foreignKey"])),
        req("from", REFERENCES),
        req("to", REFERENCES),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
    open: false,
    variants: None,
    rule: Some(object_relationship),
};

/// A relationship of a property (`RelationshipPropertyLevel`): it starts at the property,
/// so it has `to` and no `from`.
static PROPERTY_RELATIONSHIP: ObjectShape = ObjectShape {
    name: "relationship",
    fields: &[
        opt("type", Shape::Enum(&["foreignKey"])),
        opt("from", REFERENCES),
        req("to", REFERENCES),
        opt("customProperties", CUSTOM_PROPERTIES),
    ],
    open: false,
    variants: None,
    rule: Some(property_relationship),
};

fn object_relationship(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    let file = doc.file;
    let (Some(from), Some(to)) = (node.get("from"), node.get("to")) else {
        return;
    };
    if from.as_seq().is_some() != to.as_seq().is_some() {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                file,
                "`from` and `to` must both be one column or both be lists of columns",
            )
            .at(node.loc)
            .with_path(path)
            .with_help("for a composite key, list the columns on both sides in the same order"),
        );
    }
}

fn property_relationship(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    let file = doc.file;
    if node.get("from").is_some() {
        diags.push(
            Diagnostic::error(
                "unknown-field",
                file,
                "a property's relationship has no `from`: it starts at the property itself",
            )
            .at_opt(node.key_loc("from"))
            .with_path(format!("{path}.from"))
            .with_help("remove `from`, or move the relationship to the schema object"),
        );
    }
}

/// `logicalTypeOptions` with a rule for what a field list cannot say.
const fn options(
    name: &'static str,
    fields: &'static [Field],
    rule: fn(&Doc, &Node, &str, &mut Diagnostics),
) -> ObjectShape {
    ObjectShape {
        name,
        fields,
        open: false,
        variants: None,
        rule: Some(rule),
    }
}

static LTO_STRING: ObjectShape = options(
    "string options",
    &[
        opt("minLength", Shape::Count),
        opt("maxLength", Shape::Count),
        opt("pattern", Shape::String),
        opt("format", Shape::String),
    ],
    string_options,
);

fn string_options(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    bounds_in_order(node, ["minLength", "maxLength"], path, doc.file, diags);
    check_pattern(doc, node, path, diags);
}

/// Tessera checks a `pattern` on the data with Rust's `regex` syntax (DataFusion's
/// `regexp_like` uses the same crate): a pattern outside that syntax is a promise it cannot
/// check. Only the syntax is checked here (`regex-syntax`, linear in the pattern's length);
/// compiling, with its size limits, is the checks' business.
fn check_pattern(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    let Some(pattern) = node.get("pattern") else {
        return;
    };
    let Some(text) = pattern.as_str() else {
        return;
    };
    let (kind, at) = match regex_syntax::Parser::new().parse(text) {
        Ok(_) => return,
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), e.span().start.offset),
        Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), e.span().start.offset),
        Err(other) => (other.to_string(), 0),
    };
    let character = text.get(..at).map_or(0, |before| before.chars().count()) + 1;
    let help = if kind.contains("escape") && text.contains('\\') {
        "in YAML, single-quote the pattern ('\\d+') so its backslashes stay as written"
    } else {
        "Tessera uses Rust's regex syntax, as DataFusion does; it lacks e.g. look-around \
         and backreferences"
    };
    diags.push(
        Diagnostic::error(
            "invalid-pattern",
            doc.file,
            format!(
                "`pattern` is not a regular expression Tessera can check: {kind} \
                 (at character {character} of the pattern)"
            ),
        )
        .at(pattern.loc)
        .with_path(format!("{path}.pattern"))
        .with_help(help),
    );
}

static LTO_DATE: ObjectShape = ObjectShape::closed(
    "date options",
    &[
        opt("format", Shape::String),
        opt("exclusiveMaximum", Shape::String),
        opt("maximum", Shape::String),
        opt("exclusiveMinimum", Shape::String),
        opt("minimum", Shape::String),
    ],
);
static LTO_TIMESTAMP: ObjectShape = ObjectShape::closed(
    "timestamp options",
    &[
        opt("format", Shape::String),
        opt("exclusiveMaximum", Shape::String),
        opt("maximum", Shape::String),
        opt("exclusiveMinimum", Shape::String),
        opt("minimum", Shape::String),
        opt("timezone", Shape::Boolean),
        opt("defaultTimezone", Shape::String),
    ],
);
static LTO_INTEGER: ObjectShape = options(
    "integer options",
    &[
        opt("multipleOf", Shape::Positive),
        opt("maximum", Shape::Number),
        opt("exclusiveMaximum", Shape::Number),
        opt("minimum", Shape::Number),
        opt("exclusiveMinimum", Shape::Number),
        opt(
            "format",
            Shape::Enum(&[
                "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128",
            ]),
        ),
    ],
    numeric_options,
);
static LTO_NUMBER: ObjectShape = options(
    "number options",
    &[
        opt("multipleOf", Shape::Positive),
        opt("maximum", Shape::Number),
        opt("exclusiveMaximum", Shape::Number),
        opt("minimum", Shape::Number),
        opt("exclusiveMinimum", Shape::Number),
        opt("format", Shape::Enum(&["f32", "f64"])),
    ],
    numeric_options,
);

fn numeric_options(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    bounds_in_order(node, ["minimum", "maximum"], path, doc.file, diags);
}

static LTO_OBJECT: ObjectShape = options(
    "object options",
    &[
        opt("maxProperties", Shape::Count),
        opt("minProperties", Shape::Count),
        opt(
            "required",
            Shape::Items(
                &Shape::String,
                Items {
                    min: 1,
                    max: None,
                    unique: true,
                },
            ),
        ),
    ],
    |doc, node, path, diags| {
        bounds_in_order(
            node,
            ["minProperties", "maxProperties"],
            path,
            doc.file,
            diags,
        );
    },
);
static LTO_ARRAY: ObjectShape = options(
    "array options",
    &[
        opt("maxItems", Shape::Count),
        opt("minItems", Shape::Count),
        opt("uniqueItems", Shape::Boolean),
    ],
    |doc, node, path, diags| {
        bounds_in_order(node, ["minItems", "maxItems"], path, doc.file, diags);
    },
);

/// A static (not a const) so that properties can nest properties.
static PROPERTY_SHAPE: Shape = Shape::Object(&PROPERTY);

static BY_LOGICAL_TYPE: Variants = Variants {
    key: "logicalType",
    cases: &[
        (
            "string",
            &[opt("logicalTypeOptions", Shape::Object(&LTO_STRING))],
        ),
        (
            "date",
            &[opt("logicalTypeOptions", Shape::Object(&LTO_DATE))],
        ),
        (
            "timestamp",
            &[opt("logicalTypeOptions", Shape::Object(&LTO_TIMESTAMP))],
        ),
        (
            "time",
            &[opt("logicalTypeOptions", Shape::Object(&LTO_TIMESTAMP))],
        ),
        (
            "integer",
            &[opt("logicalTypeOptions", Shape::Object(&LTO_INTEGER))],
        ),
        (
            "number",
            &[opt("logicalTypeOptions", Shape::Object(&LTO_NUMBER))],
        ),
        (
            "object",
            &[
                opt("logicalTypeOptions", Shape::Object(&LTO_OBJECT)),
                opt("properties", Shape::List(&PROPERTY_SHAPE)),
            ],
        ),
        (
            "array",
            &[
                opt("logicalTypeOptions", Shape::Object(&LTO_ARRAY)),
                opt("items", Shape::Object(&ITEMS)),
            ],
        ),
    ],
};

/// The fields every property (and array item) has: SchemaElement + SchemaBaseProperty.
macro_rules! property_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            opt("id", STABLE_ID),
            opt("physicalType", Shape::String),
            opt("description", Shape::String),
            opt("businessName", Shape::String),
            opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
            opt("tags", TAGS),
            opt("customProperties", CUSTOM_PROPERTIES),
            opt("primaryKey", Shape::Boolean),
            opt("primaryKeyPosition", Shape::Integer),
            opt("logicalType", Shape::Enum(LOGICAL_TYPES)),
            opt("logicalTypeOptions", Shape::Object(&OPEN)),
            opt("physicalName", Shape::String),
            opt("required", Shape::Boolean),
            opt("unique", Shape::Boolean),
            opt("partitioned", Shape::Boolean),
            opt("partitionKeyPosition", Shape::Integer),
            opt("classification", Shape::String),
            opt("encryptedName", Shape::String),
            opt("transformSourceObjects", STRINGS),
            opt("transformLogic", Shape::String),
            opt("transformDescription", Shape::String),
            opt("examples", Shape::List(&Shape::Any)),
            opt("criticalDataElement", Shape::Boolean),
            opt("relationships", Shape::List(&Shape::Object(&PROPERTY_RELATIONSHIP))),
            opt("quality", QUALITY),
        ]
    };
}

pub static PROPERTY: ObjectShape = ObjectShape {
    name: "schema property",
    fields: property_fields!(req("name", Shape::String)),
    open: false,
    variants: Some(&BY_LOGICAL_TYPE),
    rule: Some(options_need_a_logical_type),
};

static ITEMS: ObjectShape = ObjectShape {
    name: "array items",
    fields: property_fields!(
        opt("name", Shape::String),
        opt("properties", Shape::List(&PROPERTY_SHAPE))
    ),
    open: false,
    variants: Some(&BY_LOGICAL_TYPE),
    rule: Some(options_need_a_logical_type),
};

/// Which options a property may have depends on its `logicalType`. Without one, the
/// official schema applies the option lists of every type at once (its `if` clauses do not
/// require `logicalType`), and no option is in all of them: only `{}` passes.
fn options_need_a_logical_type(doc: &Doc, node: &Node, path: &str, diags: &mut Diagnostics) {
    let file = doc.file;
    let Some(options) = node.get("logicalTypeOptions") else {
        return;
    };
    if node.get("logicalType").is_some() || options.as_map().is_none_or(<[_]>::is_empty) {
        return;
    }
    diags.push(
        Diagnostic::error(
            "missing-field",
            file,
            "`logicalTypeOptions` needs a `logicalType`: which options apply depends on it",
        )
        .at_opt(node.key_loc("logicalTypeOptions"))
        .with_path(format!("{path}.logicalTypeOptions"))
        .with_help(format!(
            "add `logicalType:` (one of {})",
            LOGICAL_TYPES.join(", ")
        )),
    );
}

pub static SCHEMA_OBJECT: ObjectShape = ObjectShape::closed(
    "schema object",
    &[
        opt("id", STABLE_ID),
        req("name", Shape::String),
        opt("physicalType", Shape::String),
        opt("description", Shape::String),
        opt("businessName", Shape::String),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
        opt("tags", TAGS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("logicalType", Shape::Enum(&["object"])),
        opt("physicalName", Shape::String),
        opt("dataGranularityDescription", Shape::String),
        opt("properties", Shape::List(&PROPERTY_SHAPE)),
        opt(
            "relationships",
            Shape::List(&Shape::Object(&OBJECT_RELATIONSHIP)),
        ),
        opt("quality", QUALITY),
    ],
);

pub static CONTRACT: ObjectShape = ObjectShape::closed(
    "data contract",
    &[
        req("version", Shape::String),
        req("kind", Shape::Enum(&["DataContract"])),
        req("apiVersion", Shape::Enum(API_VERSIONS)),
        req("id", Shape::String),
        opt("name", Shape::String),
        opt("tenant", Shape::String),
        opt("tags", TAGS),
        req("status", Shape::String),
        opt("servers", Shape::List(&Shape::Object(&SERVER))),
        opt("dataProduct", Shape::String),
        opt("description", Shape::Object(&DESCRIPTION)),
        opt("domain", Shape::String),
        opt("schema", Shape::List(&Shape::Object(&SCHEMA_OBJECT))),
        opt("support", Shape::List(&Shape::Object(&SUPPORT_ITEM))),
        opt("price", Shape::Object(&PRICE)),
        opt(
            "team",
            Shape::Either(&[
                Shape::Object(&TEAM),
                Shape::List(&Shape::Object(&TEAM_MEMBER)),
            ]),
        ),
        opt("roles", Shape::List(&Shape::Object(&ROLE))),
        opt("slaDefaultElement", Shape::String),
        opt("slaProperties", Shape::List(&Shape::Object(&SLA_PROPERTY))),
        opt("authoritativeDefinitions", AUTHORITATIVE_DEFINITIONS),
        opt("customProperties", CUSTOM_PROPERTIES),
        opt("contractCreatedTs", Shape::String),
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_compile_and_match_what_the_standard_means() {
        assert!(STABLE_ID_FORM.matches("order_id-2"));
        assert!(!STABLE_ID_FORM.matches("order id"));
        assert!(!STABLE_ID_FORM.matches(""));
        for reference in [
            "orders.order_id",
            "schema/orders/properties/order_id",
            "/schema/orders/properties/address/properties/street",
            "other.yaml#/schema/orders/properties/order_id",
            "https://example.com/c.yaml#schema/orders/properties/order_id",
        ] {
            assert!(COLUMN_REFERENCE_FORM.matches(reference), "{reference}");
        }
        for not_a_reference in ["orders", "orders.order id", "a.b.c", "", "schema/orders/"] {
            assert!(
                !COLUMN_REFERENCE_FORM.matches(not_a_reference),
                "{not_a_reference}"
            );
        }
        assert!(SFTP_LOCATION_FORM.matches("sftp://host/path"));
        assert!(!SFTP_LOCATION_FORM.matches("/srv/exports"));
    }
}
