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
    ],
);

static LINEAGE: ObjectShape = ObjectShape::closed(
    "lineage",
    &[opt("file", Shape::String), opt("url", Shape::String)],
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
    /// Where OpenLineage run events go; `None` (the default) sends none.
    pub lineage: Option<LineageConfig>,
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
            http: raw.server.http.unwrap_or_else(|| DEFAULT_HTTP.into()),
            pg: raw.server.pg.unwrap_or_else(|| DEFAULT_PG.into()),
            flight: raw.server.flight.unwrap_or_else(|| DEFAULT_FLIGHT.into()),
            lineage: raw.lineage,
        };
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
