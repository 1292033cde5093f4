//! What the catalog endpoints answer: plain, documented JSON shapes (each a `ToSchema`, so
//! the OpenAPI document describes exactly what is sent).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tessera_catalog::{CheckRecord, RunRecord, VersionRecord};
use utoipa::ToSchema;

/// A team as `domain.yaml` and `dataproduct.yaml` write it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TeamOut {
    pub name: Option<String>,
    pub members: Vec<MemberOut>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MemberOut {
    pub username: String,
    pub name: Option<String>,
    pub role: Option<String>,
}

/// A domain, with how many products it holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DomainSummary {
    pub name: String,
    pub description: Option<String>,
    /// Usernames of the owners: team members with role `owner`, or every member when no
    /// member has a role.
    pub owners: Vec<String>,
    pub team: Option<TeamOut>,
    pub product_count: usize,
    pub source_count: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DomainList {
    pub domains: Vec<DomainSummary>,
}

/// A domain with its products and sources.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DomainDetail {
    #[serde(flatten)]
    pub domain: DomainSummary,
    pub products: Vec<ProductBrief>,
    pub sources: Vec<SourceOut>,
}

/// A product named in a list: enough to link to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProductBrief {
    pub name: String,
    pub title: Option<String>,
    pub status: String,
}

/// A source a domain reads data from (a source contract with a `local` server).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SourceOut {
    pub name: String,
    /// The SQL table products read it as: `<domain>.<source>`.
    pub table: String,
    pub contract_id: String,
    pub description: Option<String>,
}

/// A port in a product list, with its newest published version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PortBrief {
    pub name: String,
    /// `<domain>.<port>`: how SQL names it.
    pub table: String,
    /// How it may be queried: `active`, `deprecated`, `draft` or `retired`.
    pub status: String,
    /// The newest Delta version; `null` before the first publish.
    pub latest_version: Option<i64>,
    pub published_at: Option<DateTime<Utc>>,
}

/// A product in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProductSummary {
    pub domain: String,
    /// The product's folder name.
    pub name: String,
    /// The descriptor's `id`.
    pub id: String,
    /// The descriptor's `name`.
    pub title: Option<String>,
    /// The descriptor's `description.purpose`.
    pub description: Option<String>,
    /// `proposed`, `draft`, `active`, `deprecated` or `retired` (or another word the
    /// descriptor uses).
    pub status: String,
    /// The descriptor's `version`.
    pub version: Option<String>,
    /// Usernames of the product's owners (team members with role `owner`, or every
    /// member when none has a role).
    pub owners: Vec<String>,
    pub team: Option<String>,
    /// Tags of the product and of everything in it (output ports, contracts, columns),
    /// sorted.
    pub tags: Vec<String>,
    pub ports: Vec<PortBrief>,
    /// When a port of it was last published.
    pub last_published_at: Option<DateTime<Utc>>,
}

/// A page of products.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProductList {
    /// Products matching the filters, in all pages.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub products: Vec<ProductSummary>,
}

/// A column of a port, from its contract.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PortColumn)]
pub(crate) struct ColumnOut {
    pub name: String,
    pub logical_type: Option<String>,
    pub physical_type: Option<String>,
    pub description: Option<String>,
    /// The contract's `classification` (`pii`, `contact`, …); mesh.yaml's `masking` says
    /// how governed queries mask it.
    pub classification: Option<String>,
    /// The kind of data subject the column identifies (`tesseraSubjectKey`).
    pub subject_key: Option<String>,
    pub tags: Vec<String>,
    pub required: bool,
    pub unique: bool,
    pub primary_key: bool,
}

/// An SLA property of a contract (`slaProperties`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SlaOut {
    pub property: String,
    #[schema(value_type = Object)]
    pub value: Value,
    pub unit: Option<String>,
    pub element: Option<String>,
}

/// A committed Delta version of a port.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct VersionOut {
    pub version: i64,
    pub committed_at: DateTime<Utc>,
    /// The run that committed it.
    pub run_id: String,
    pub rows: i64,
    /// The contract version the data was checked against.
    pub contract_version: String,
    pub content_hash: String,
}

impl From<VersionRecord> for VersionOut {
    fn from(v: VersionRecord) -> VersionOut {
        VersionOut {
            version: v.version,
            committed_at: v.committed_at,
            run_id: v.run_id,
            rows: v.rows,
            contract_version: v.contract_version,
            content_hash: v.content_hash,
        }
    }
}

/// An output port: its contract's schema and promises, and its newest version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PortOut {
    pub domain: String,
    pub product: String,
    pub name: String,
    pub table: String,
    pub status: String,
    /// The port's description in the descriptor, else its contract's schema object's.
    pub description: Option<String>,
    /// The port's `type` in the descriptor (`table`, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub contract_id: Option<String>,
    pub contract_version: Option<String>,
    pub contract_status: Option<String>,
    /// `overwrite` or `append`.
    pub write_mode: Option<String>,
    pub columns: Vec<ColumnOut>,
    pub sla: Vec<SlaOut>,
    pub tags: Vec<String>,
    pub latest_version: Option<VersionOut>,
}

/// A port with its version history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PortDetail {
    #[serde(flatten)]
    pub port: PortOut,
    /// How many versions are recorded.
    pub version_count: usize,
    /// The newest versions, newest first (at most 20; `/versions` lists them all).
    pub versions: Vec<VersionOut>,
}

/// A port's versions, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct VersionList {
    pub domain: String,
    pub product: String,
    pub port: String,
    /// How many versions are recorded.
    pub total: usize,
    pub versions: Vec<VersionOut>,
}

/// An input port of a product and what it reads.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct InputOut {
    pub name: String,
    pub contract_id: String,
    /// `port` (another product's output port) or `source`; `null` when the contract id
    /// resolves to nothing in the mesh.
    pub kind: Option<String>,
    /// The table read: `<domain>.<port or source>`.
    pub table: Option<String>,
    /// The product that publishes it (`<domain>/<product>`), for a port.
    pub product: Option<String>,
    /// The pinned Delta version (`tesseraInputVersion`).
    pub pinned_version: Option<u64>,
}

/// A product page: its descriptor, ports with schemas, newest versions, last publish.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProductDetail {
    pub domain: String,
    pub name: String,
    pub id: String,
    pub title: Option<String>,
    pub status: String,
    pub version: Option<String>,
    /// `description.purpose`.
    pub description: Option<String>,
    /// `description.usage`.
    pub usage: Option<String>,
    /// `description.limitations`.
    pub limitations: Option<String>,
    pub owners: Vec<String>,
    pub team: Option<TeamOut>,
    pub tags: Vec<String>,
    pub inputs: Vec<InputOut>,
    pub ports: Vec<PortOut>,
    /// The newest successful publish run.
    pub last_publish: Option<RunOut>,
    /// The whole ODPS descriptor, as loaded.
    #[schema(value_type = Object)]
    pub descriptor: Value,
}

/// A build, test or publish run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunOut {
    pub id: String,
    /// `build`, `test` or `publish`.
    pub kind: String,
    pub domain: String,
    pub product: String,
    /// `running`, `succeeded`, `failed`, `skipped` or `interrupted`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub rows: Option<i64>,
    pub error: Option<String>,
    /// What the run did (per port: rows, versions), as the run recorded it.
    #[schema(value_type = Object)]
    pub summary: Value,
}

impl From<RunRecord> for RunOut {
    fn from(r: RunRecord) -> RunOut {
        RunOut {
            id: r.id,
            kind: r.kind.as_str().into(),
            domain: r.domain,
            product: r.product,
            status: r.status.as_str().into(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            rows: r.rows,
            error: r.error,
            summary: r.summary,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunList {
    pub runs: Vec<RunOut>,
}

/// One contract check of a run. The failing rows' samples the run recorded are data, not
/// metadata, and are not served here (governed queries read data).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CheckOut {
    pub port: String,
    pub name: String,
    pub kind: String,
    pub column: Option<String>,
    /// `error` blocks a publish; `warning` does not.
    pub severity: String,
    pub passed: bool,
    pub measured: Option<f64>,
    pub expected: String,
    pub failed_rows: Option<i64>,
    pub message: Option<String>,
}

impl From<CheckRecord> for CheckOut {
    fn from(c: CheckRecord) -> CheckOut {
        CheckOut {
            port: c.port,
            name: c.name,
            kind: c.kind,
            column: c.column,
            severity: c.severity,
            passed: c.passed,
            measured: c.measured.filter(|m| m.is_finite()),
            expected: c.expected,
            failed_rows: c.failed_rows,
            message: c.message,
        }
    }
}

/// A run and its checks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunDetail {
    #[serde(flatten)]
    pub run: RunOut,
    pub checks: Vec<CheckOut>,
}

/// The checks of a product's newest run that recorded any.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProductChecks {
    pub domain: String,
    pub product: String,
    /// The run the checks are from; `null` when no run of the product recorded checks.
    pub run: Option<RunOut>,
    pub checks: Vec<CheckOut>,
}

/// What a lineage node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NodeKind {
    /// A domain's source (files described by a source contract).
    Source,
    Product,
    /// An output port of a product.
    Port,
}

/// A node of a lineage graph.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LineageNode {
    /// `source:<domain>.<source>`, `product:<domain>/<product>` or `port:<domain>.<port>`.
    pub id: String,
    pub kind: NodeKind,
    pub domain: String,
    /// The source's, product's or port's name.
    pub name: String,
    /// The product a port belongs to (`<domain>/<product>`).
    pub product: Option<String>,
    /// A source's or port's SQL table (`<domain>.<name>`).
    pub table: Option<String>,
    /// A product's status, or a port's (how it may be queried).
    pub status: Option<String>,
    /// Products away from the one asked about (0 for it and its ports).
    pub depth: u32,
}

/// An edge of a lineage graph: data flows from `from` to `to` (a source or port is read
/// by a product; a product publishes its ports).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LineageEdge {
    pub from: String,
    pub to: String,
    /// For an input edge: the input port's name in the reading product's descriptor.
    pub input: Option<String>,
    /// For an input edge: the Delta version the input is pinned to.
    pub pinned_version: Option<u64>,
}

/// The lineage of one product, up- and/or downstream.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LineageGraph {
    /// The product asked about: `product:<domain>/<product>`.
    pub root: String,
    pub direction: String,
    pub depth: u32,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
}

/// Where a search term was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MatchField {
    /// The product's folder name or its descriptor `id`.
    ProductName,
    /// The descriptor's `name`.
    Title,
    PortName,
    /// A tag of the product, a port, a contract or a column.
    Tag,
    ColumnName,
    /// The product's `description` (purpose, usage, limitations).
    Description,
    PortDescription,
    ColumnDescription,
}

/// One reason a product matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SearchMatch {
    pub field: MatchField,
    /// The port, for a port, column or tag match inside one.
    pub port: Option<String>,
    /// The column, for a column match.
    pub column: Option<String>,
    /// The matched text (a window of a long description).
    pub snippet: String,
}

/// A product that matched, best first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SearchHit {
    pub domain: String,
    pub product: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: String,
    /// Higher is better; comparable within one response only.
    pub score: f32,
    /// What matched, best first (at most three).
    pub matches: Vec<SearchMatch>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SearchResults {
    pub query: String,
    /// Products that matched (the hits are the best `limit` of them).
    pub total: usize,
    pub hits: Vec<SearchHit>,
}

/// `GET /api/v1/ports/{domain}/{port}/diff`: a published version's contract → the served one.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PortDiff {
    /// `domain.port`.
    pub port: String,
    /// The Delta version whose contract is the old side.
    pub published_version: i64,
    pub old_contract_version: String,
    pub new_contract_version: String,
    /// Whether any change breaks consumers.
    pub breaking: bool,
    /// Whether a publish would be allowed: no breaking change, or a new major version.
    pub allowed: bool,
    /// Why a publish would be refused.
    pub refusal: Option<String>,
    /// The audit log window the consumers come from.
    pub since_days: usize,
    /// Breaking changes first.
    pub changes: Vec<DiffChange>,
    /// The consumers of each breaking change.
    pub consumers: Vec<ChangeConsumers>,
}

/// One change of a contract.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DiffChange {
    /// `breaking` or `non_breaking`.
    pub impact: String,
    /// A stable code: `column_removed`, `type_changed`, `sla_weakened`, ….
    pub kind: String,
    /// Where: `object.column.field`, `sla.latency`, ….
    pub path: String,
    pub reason: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<&tessera_model::diff::Change> for DiffChange {
    fn from(c: &tessera_model::diff::Change) -> DiffChange {
        DiffChange {
            impact: match c.impact {
                tessera_model::diff::Impact::Breaking => "breaking",
                tessera_model::diff::Impact::NonBreaking => "non_breaking",
            }
            .into(),
            kind: c.kind.into(),
            path: c.path.clone(),
            reason: c.reason.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
        }
    }
}

/// Who a breaking change would break.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeConsumers {
    pub path: String,
    pub consumers: Vec<ConsumerOut>,
}

/// A principal whose queries read what changed, or a product whose SQL does.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsumerOut {
    /// `principal` or `product`.
    pub kind: String,
    pub name: String,
    pub columns: Vec<String>,
    /// Queries in the window (0 for a product).
    pub reads: u64,
    pub last_read: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<tessera_engine::evolution::ChangeImpact> for ChangeConsumers {
    fn from(i: tessera_engine::evolution::ChangeImpact) -> ChangeConsumers {
        ChangeConsumers {
            path: i.path,
            consumers: i
                .consumers
                .into_iter()
                .map(|c| ConsumerOut {
                    kind: c.kind.into(),
                    name: c.name,
                    columns: c.columns,
                    reads: c.reads,
                    last_read: c.last_read,
                })
                .collect(),
        }
    }
}
