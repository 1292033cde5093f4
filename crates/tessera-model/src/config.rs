//! `mesh.yaml` and `domain.yaml`: Tessera's own small files (everything about products and
//! contracts is in the standards' files).

use std::net::SocketAddr;

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::odps::{TEAM, Team};
use crate::shape::{ObjectShape, Shape, opt, req};
use crate::yaml::{self, Node};

pub const DEFAULT_STORAGE_ROOT: &str = "./.tessera/data";
pub const DEFAULT_CATALOG_URL: &str = "sqlite://.tessera/catalog.db";
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
pub const DEFAULT_PG: &str = "127.0.0.1:5433";
pub const DEFAULT_FLIGHT: &str = "127.0.0.1:50051";

static STORAGE: ObjectShape = ObjectShape::closed("storage", &[opt("root", Shape::String)]);
static CATALOG: ObjectShape = ObjectShape::closed("catalog", &[opt("url", Shape::String)]);
static SERVER: ObjectShape = ObjectShape::closed(
    "server",
    &[
        opt("http", Shape::String),
        opt("pg", Shape::String),
        opt("flight", Shape::String),
        opt("anonymous", Shape::String),
        opt("max_connections", Shape::Count),
        opt("max_queries", Shape::Count),
        opt("idle_timeout", Shape::String),
        opt("max_request_size", Shape::String),
    ],
);

static LINEAGE: ObjectShape = ObjectShape::closed(
    "lineage",
    &[opt("file", Shape::String), opt("url", Shape::String)],
);

static QUERY: ObjectShape = ObjectShape::closed(
    "query",
    &[
        opt("memory_limit", Shape::String),
        opt("timeout", Shape::String),
        opt("max_rows", Shape::Count),
        opt("target_partitions", Shape::Count),
    ],
);

pub static MESH: ObjectShape = ObjectShape::closed(
    "mesh",
    &[
        req("name", Shape::String),
        opt("description", Shape::String),
        opt("storage", Shape::Object(&STORAGE)),
        opt("catalog", Shape::Object(&CATALOG)),
        opt("server", Shape::Object(&SERVER)),
        opt("lineage", Shape::Object(&LINEAGE)),
        opt("query", Shape::Object(&QUERY)),
        // Read and checked by governance (tessera-governance), with their locations.
        opt("purposes", Shape::Any),
        opt("masking", Shape::Any),
        opt("consent", Shape::Any),
        // Read and checked by the engine's privacy operations (`tessera vacuum`).
        opt("privacy", Shape::Any),
        // Read and checked by the engine's SLA monitoring (`tessera status`, `tessera serve`).
        opt("monitoring", Shape::Any),
    ],
);

pub static DOMAIN: ObjectShape = ObjectShape::closed(
    "domain",
    &[
        req("name", Shape::String),
        opt("description", Shape::String),
        opt("team", Shape::Object(&TEAM)),
    ],
);

/// `mesh.yaml`, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    pub name: String,
    pub description: Option<String>,
    /// Where output ports' Delta tables live: a folder (relative to the mesh root) or an
    /// object store URL.
    pub storage_root: String,
    /// The metadata store: `sqlite://…` or `postgres://…`.
    pub catalog_url: String,
    pub http: String,
    pub pg: String,
    pub flight: String,
    /// How `tessera serve` admits clients (`server:` beyond the addresses).
    pub serve: ServeSettings,
    /// Where OpenLineage run events go; `None` (the default) sends none.
    pub lineage: Option<LineageConfig>,
    /// Limits on each SQL query.
    pub query: QueryLimits,
}

/// `server:` in mesh.yaml, beyond the addresses: who may connect without a token and how
/// much the server takes on at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// The principal a request without credentials acts as; `None` (the default) refuses
    /// such requests with 401.
    pub anonymous: Option<String>,
    /// Open client connections across the three protocols (each refused beyond it).
    pub max_connections: usize,
    /// Statements running at once across the server; more wait their turn.
    pub max_queries: usize,
    /// A connection idle this long is closed (slow or abandoned clients).
    pub idle_timeout: std::time::Duration,
    /// The largest request body the HTTP API accepts (a query, a publish upload).
    pub max_request_size: u64,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            anonymous: None,
            max_connections: 256,
            max_queries: 16,
            idle_timeout: std::time::Duration::from_secs(300),
            max_request_size: 16 << 20,
        }
    }
}

/// `query:` in mesh.yaml: the limits every SQL query runs under, on every interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Bytes of memory a query's operators may hold (DataFusion's memory pool); sorts,
    /// aggregates and joins that can spill to disk do so before failing.
    pub memory_limit: u64,
    pub timeout: std::time::Duration,
    /// Rows a result returned to a caller (a terminal, a client) may have; exports to a
    /// file are not capped.
    pub max_rows: u64,
    /// Parallelism of each query; 0 means one per CPU core.
    pub target_partitions: usize,
}

pub const DEFAULT_MEMORY_LIMIT: &str = "4GiB";
pub const DEFAULT_TIMEOUT: &str = "5m";
pub const DEFAULT_MAX_ROWS: u64 = 100_000;

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_limit: parse_size(DEFAULT_MEMORY_LIMIT).expect("the default parses"),
            timeout: parse_duration(DEFAULT_TIMEOUT).expect("the default parses"),
            max_rows: DEFAULT_MAX_ROWS,
            target_partitions: 0,
        }
    }
}

/// A size such as `512MiB`, `4GiB`, `2GB` or `1048576` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return None,
    };
    let bytes = number * factor as f64;
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A duration such as `30s`, `5m`, `1h`, `1500ms` or `1m30s`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = std::time::Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.checked_mul(60)?),
            "h" => std::time::Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
    }
    (!total.is_zero()).then_some(total)
}

/// `lineage:` in mesh.yaml: OpenLineage run events appended to a file (one JSON per line,
/// relative to the mesh root) or POSTed to an HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LineageConfig {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawMesh {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    catalog: RawCatalog,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    lineage: Option<LineageConfig>,
    #[serde(default)]
    query: RawQuery,
}
#[derive(Deserialize, Default)]
struct RawQuery {
    memory_limit: Option<String>,
    timeout: Option<String>,
    max_rows: Option<u64>,
    target_partitions: Option<usize>,
}
#[derive(Deserialize, Default)]
struct RawStorage {
    root: Option<String>,
}
#[derive(Deserialize, Default)]
struct RawCatalog {
    url: Option<String>,
}
#[derive(Deserialize, Default)]
struct RawServer {
    http: Option<String>,
    pg: Option<String>,
    flight: Option<String>,
    anonymous: Option<String>,
    max_connections: Option<usize>,
    max_queries: Option<usize>,
    idle_timeout: Option<String>,
    max_request_size: Option<String>,
}

const STORAGE_SCHEMES: &[&str] = &["file", "s3", "s3a", "gs", "az", "abfs", "abfss", "memory"];

impl MeshConfig {
    pub fn parse(file: &str, text: &str) -> (Option<MeshConfig>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let Some(node) = yaml::parse_into(file, text, &mut diags) else {
            return (None, diags);
        };
        crate::shape::check(file, &node, &Shape::Object(&MESH), &mut diags);
        // Values are checked even when a key is misspelt, so one run shows every problem;
        // a document whose types are wrong cannot be read, and its errors say why.
        let Ok(raw) = serde_json::from_value::<RawMesh>(node.to_json()) else {
            return (None, diags);
        };
        let config = MeshConfig {
            name: raw.name,
            description: raw.description,
            storage_root: raw
                .storage
                .root
                .unwrap_or_else(|| DEFAULT_STORAGE_ROOT.into()),
            catalog_url: raw
                .catalog
                .url
                .unwrap_or_else(|| DEFAULT_CATALOG_URL.into()),
            http: raw
                .server
                .http
                .clone()
                .unwrap_or_else(|| DEFAULT_HTTP.into()),
            pg: raw.server.pg.clone().unwrap_or_else(|| DEFAULT_PG.into()),
            flight: raw
                .server
                .flight
                .clone()
                .unwrap_or_else(|| DEFAULT_FLIGHT.into()),
            serve: ServeSettings::default(),
            lineage: raw.lineage,
            query: QueryLimits::default(),
        };
        let mut config = config;
        config.query = query_limits(file, &node, &raw.query, &mut diags);
        config.serve = serve_settings(file, &node, &raw.server, &mut diags);
        config.check_values(file, &node, &mut diags);
        if diags.has_errors() {
            return (None, diags);
        }
        (Some(config), diags)
    }

    fn check_values(&self, file: &str, node: &Node, diags: &mut Diagnostics) {
        let at = |path: &[&str]| node.pointer(path).map(|n| n.loc);
        if self.name.trim().is_empty() {
            diags.push(
                Diagnostic::error("invalid-value", file, "the mesh needs a name")
                    .at_opt(at(&["name"]))
                    .with_path("name"),
            );
        }
        let url = &self.catalog_url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    file,
                    format!("metadata store URL \"{url}\" is neither sqlite: nor postgres://"),
                )
                .at_opt(at(&["catalog", "url"]))
                .with_path("catalog.url")
                .with_help(format!(
                    "for example `{DEFAULT_CATALOG_URL}` or `postgres://user@host/db`"
                )),
            );
        }
        if let Some((scheme, _)) = self.storage_root.split_once("://")
            && !STORAGE_SCHEMES.contains(&scheme)
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    file,
                    format!("storage root scheme `{scheme}` is not supported"),
                )
                .at_opt(at(&["storage", "root"]))
                .with_path("storage.root")
                .with_help(format!(
                    "use a folder or one of {}",
                    STORAGE_SCHEMES
                        .iter()
                        .map(|s| format!("{s}://"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        if let Some(l) = &self.lineage {
            if l.file.is_some() && l.url.is_some() {
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        file,
                        "lineage names both a file and a url; choose one",
                    )
                    .at_opt(at(&["lineage"]))
                    .with_path("lineage"),
                );
            }
            if let Some(u) = &l.url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        file,
                        format!("lineage url \"{u}\" is not an http:// or https:// URL"),
                    )
                    .at_opt(at(&["lineage", "url"]))
                    .with_path("lineage.url")
                    .with_help("e.g. http://localhost:5000/api/v1/lineage (Marquez)"),
                );
            }
        }
        for (key, value) in [
            ("http", &self.http),
            ("pg", &self.pg),
            ("flight", &self.flight),
        ] {
            if value.parse::<SocketAddr>().is_err() {
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        file,
                        format!("\"{value}\" is not a listen address"),
                    )
                    .at_opt(at(&["server", key]))
                    .with_path(format!("server.{key}"))
                    .with_help("write IP:port, e.g. 127.0.0.1:8080"),
                );
            }
        }
    }
}

fn serve_settings(
    file: &str,
    node: &Node,
    raw: &RawServer,
    diags: &mut Diagnostics,
) -> ServeSettings {
    let mut settings = ServeSettings::default();
    let bad = |key: &str, message: String, help: &str| {
        Diagnostic::error("invalid-value", file, message)
            .at_opt(node.pointer(&["server", key]).map(|n| n.loc))
            .with_path(format!("server.{key}"))
            .with_help(help.to_string())
    };
    match raw.anonymous.as_deref().map(str::trim) {
        Some("") => diags.push(bad(
            "anonymous",
            "`anonymous` names no principal".into(),
            "name the principal (declared in policies/principals.yaml) that requests without a token act as, or remove the key to refuse them",
        )),
        Some(p) => settings.anonymous = Some(p.to_string()),
        None => {}
    }
    for (key, value, slot) in [
        (
            "max_connections",
            raw.max_connections,
            &mut settings.max_connections,
        ),
        ("max_queries", raw.max_queries, &mut settings.max_queries),
    ] {
        match value {
            Some(0) => diags.push(bad(
                key,
                format!("{key} must be at least 1"),
                "e.g. 256 connections, 16 queries",
            )),
            Some(n) => *slot = n,
            None => {}
        }
    }
    if let Some(text) = &raw.idle_timeout {
        match parse_duration(text) {
            Some(d) if !d.is_zero() => settings.idle_timeout = d,
            _ => diags.push(bad(
                "idle_timeout",
                format!("\"{text}\" is not a positive duration"),
                "write e.g. 30s, 5m or 1h",
            )),
        }
    }
    if let Some(text) = &raw.max_request_size {
        match parse_size(text) {
            Some(bytes) if bytes >= 1024 => settings.max_request_size = bytes,
            _ => diags.push(bad(
                "max_request_size",
                format!("\"{text}\" is not a size of at least 1KiB"),
                "write a number and a unit, e.g. 16MiB",
            )),
        }
    }
    settings
}

fn query_limits(file: &str, node: &Node, raw: &RawQuery, diags: &mut Diagnostics) -> QueryLimits {
    let mut limits = QueryLimits::default();
    let bad = |key: &str, message: String, help: &str| {
        Diagnostic::error("invalid-value", file, message)
            .at_opt(node.pointer(&["query", key]).map(|n| n.loc))
            .with_path(format!("query.{key}"))
            .with_help(help.to_string())
    };
    if let Some(text) = &raw.memory_limit {
        match parse_size(text) {
            Some(bytes) if bytes >= 1 << 20 => limits.memory_limit = bytes,
            Some(_) => diags.push(bad(
                "memory_limit",
                format!("memory limit \"{text}\" is below 1MiB"),
                "a query needs at least a few MiB; e.g. 512MiB or 4GiB",
            )),
            None => diags.push(bad(
                "memory_limit",
                format!("\"{text}\" is not a size"),
                "write a number and a unit, e.g. 512MiB, 4GiB or 2GB",
            )),
        }
    }
    if let Some(text) = &raw.timeout {
        match parse_duration(text) {
            Some(d) => limits.timeout = d,
            None => diags.push(bad(
                "timeout",
                format!("\"{text}\" is not a duration"),
                "write e.g. 30s, 5m, 1h or 1m30s",
            )),
        }
    }
    if let Some(rows) = raw.max_rows {
        if rows == 0 {
            diags.push(bad(
                "max_rows",
                "max_rows must be at least 1".into(),
                "the cap on rows returned to a caller, e.g. 100000",
            ));
        } else {
            limits.max_rows = rows;
        }
    }
    if let Some(p) = raw.target_partitions {
        limits.target_partitions = p;
    }
    limits
}

/// `domains/<name>/domain.yaml`.
#[derive(Debug, Clone)]
pub struct DomainConfig {
    pub name: String,
    pub description: Option<String>,
    pub team: Team,
    pub node: Node,
}

#[derive(Deserialize)]
struct RawDomain {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    team: Option<Team>,
}

impl DomainConfig {
    pub fn parse(file: &str, text: &str) -> (Option<DomainConfig>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let Some(node) = yaml::parse_into(file, text, &mut diags) else {
            return (None, diags);
        };
        crate::shape::check(file, &node, &Shape::Object(&DOMAIN), &mut diags);
        if diags.has_errors() {
            return (None, diags);
        }
        let Some(raw) =
            yaml::read_typed::<RawDomain>(file, &node.to_json(), "domain.yaml", &mut diags)
        else {
            return (None, diags);
        };
        (
            Some(DomainConfig {
                name: raw.name,
                description: raw.description,
                team: raw.team.unwrap_or_default(),
                node,
            }),
            diags,
        )
    }

    /// Usernames of the domain's owners: team members with role `owner`, or every member
    /// when no member has a role.
    pub fn owners(&self) -> Vec<&str> {
        let members = &self.team.members;
        let owners: Vec<&str> = members
            .iter()
            .filter(|m| {
                m.role
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case("owner"))
            })
            .map(|m| m.username.as_str())
            .collect();
        if owners.is_empty() && members.iter().all(|m| m.role.is_none()) {
            members.iter().map(|m| m.username.as_str()).collect()
        } else {
            owners
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes_and_durations_parse_with_units() {
        assert_eq!(parse_size("4GiB"), Some(4 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_size("1.5gib"), Some(3 << 29));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        for bad in ["", "GiB", "4 parsecs", "-1GiB", "0"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "5", "m", "5 minutes", "0s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_limits_default_and_are_checked_where_written() {
        let (config, diags) = MeshConfig::parse("mesh.yaml", "name: m\n");
        assert!(!diags.has_errors());
        assert_eq!(config.unwrap().query, QueryLimits::default());

        let text = "name: m\nquery:\n  memory_limit: 1GiB\n  timeout: 90s\n  max_rows: 50\n";
        let (config, _) = MeshConfig::parse("mesh.yaml", text);
        let q = config.unwrap().query;
        assert_eq!(
            (q.memory_limit, q.timeout, q.max_rows),
            (1 << 30, Duration::from_secs(90), 50)
        );

        let text = "name: m\nquery:\n  memory_limit: lots\n  timeout: 5 minutes\n  max_rows: 0\n";
        let (config, diags) = MeshConfig::parse("mesh.yaml", text);
        assert!(config.is_none());
        let found: Vec<_> = diags
            .iter()
            .map(|d| {
                (
                    d.path.clone().unwrap_or_default(),
                    d.location.map(|l| l.line),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("query.memory_limit".to_string(), Some(3)),
                ("query.timeout".to_string(), Some(4)),
                ("query.max_rows".to_string(), Some(5)),
            ]
        );
    }
}
