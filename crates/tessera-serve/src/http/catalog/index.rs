//! What the catalog endpoints read, computed once per engine: product summaries, lookups
//! by name, filter indexes, the lineage graph and the search index. A request then does
//! work proportional to what it returns, never to the size of the mesh.
//!
//! ```text
//!  Shared::engine() ─▶ IndexCache (keyed by the Arc<Engine>; rebuilt when the server
//!                      loads a new engine) ─▶ MeshIndex::build (once, off the async
//!                      workers) ─▶ handlers
//!  the metadata store ─▶ Published (newest version per port, cached; re-read when the
//!                      store's runs change, checked at most every second)
//! ```
//!
//! Invariant: everything here comes from the mesh the engine loaded, except the
//! [`Published`] cache, whose only source is the metadata store.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tessera_catalog::{CatalogError, CatalogStore, PortKey, RunQuery, RunStatus};
use tessera_engine::Engine;
use tessera_model::Mesh;
use tessera_model::mesh::{InputTarget, Port, Product};
use tessera_model::odps::Team;
use tokio::sync::OnceCell;

use super::search::{Document, FieldText, SearchIndex};
use super::types::{
    ColumnOut, DomainSummary, InputOut, LineageEdge, LineageGraph, LineageNode, MatchField,
    MemberOut, NodeKind, PortBrief, ProductSummary, SlaOut, TeamOut,
};
use crate::error::ServeError;

/// The catalog's view of one engine's mesh.
pub(crate) struct MeshIndex {
    pub mesh: Arc<Mesh>,
    /// By name.
    pub domains: Vec<DomainSummary>,
    domain_pos: HashMap<String, usize>,
    /// By domain, then name (the mesh's order). `ports[].latest_version` and
    /// `last_published_at` are left empty: they come from the store per request.
    pub products: Vec<ProductSummary>,
    /// `<domain>/<product>` → position in `products`.
    product_pos: HashMap<String, usize>,
    /// `<domain>.<port>` → the position of its product.
    port_pos: HashMap<String, usize>,
    by_domain: HashMap<String, Vec<usize>>,
    by_status: HashMap<String, Vec<usize>>,
    /// Lowercased tag → products carrying it (on themselves or anything in them).
    by_tag: HashMap<String, Vec<usize>>,
    /// Per product: what it reads.
    inputs: Vec<Vec<InputEdge>>,
    /// Per product: who reads its ports.
    readers: Vec<Vec<ReadBy>>,
    pub search: SearchIndex,
    pub published: Published,
}

#[derive(Debug, Clone)]
struct InputEdge {
    input: String,
    upstream: Upstream,
    pinned: Option<u64>,
}

#[derive(Debug, Clone)]
enum Upstream {
    Port { product: usize, port: String },
    Source { domain: String, name: String },
}

#[derive(Debug, Clone)]
struct ReadBy {
    port: String,
    reader: usize,
    input: String,
    pinned: Option<u64>,
}

/// Which way a lineage graph goes from its product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Upstream,
    Downstream,
    Both,
}

impl Direction {
    pub(crate) fn parse(s: &str) -> Option<Direction> {
        match s {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::Both => "both",
        }
    }
}

/// Usernames of a team's owners: members with role `owner`, or every member when no member
/// has a role (as [`tessera_model::DomainConfig::owners`] decides for domains).
pub(crate) fn owners(team: &Team) -> Vec<String> {
    let owners: Vec<String> = team
        .members
        .iter()
        .filter(|m| {
            m.role
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("owner"))
        })
        .map(|m| m.username.clone())
        .collect();
    if owners.is_empty() && team.members.iter().all(|m| m.role.is_none()) {
        team.members.iter().map(|m| m.username.clone()).collect()
    } else {
        owners
    }
}

pub(crate) fn team_out(team: &Team) -> Option<TeamOut> {
    if team.name.is_none() && team.members.is_empty() {
        return None;
    }
    Some(TeamOut {
        name: team.name.clone(),
        members: team
            .members
            .iter()
            .map(|m| MemberOut {
                username: m.username.clone(),
                name: m.name.clone(),
                role: m.role.clone(),
            })
            .collect(),
    })
}

/// The strings of a `tags` list in a document.
pub(crate) fn tags_of(document: &Value) -> Vec<String> {
    document
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A field of the descriptor's `description` (an object of `purpose`, `usage`,
/// `limitations`; leniently, plain text stands for the purpose).
pub(crate) fn description_part(document: &Value, part: &str) -> Option<String> {
    match document.get("description")? {
        Value::String(s) if part == "purpose" => Some(s.clone()),
        Value::Object(o) => o.get(part).and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// The descriptor's entry for an output port.
pub(crate) fn output_port_document<'a>(product: &'a Product, port: &str) -> Option<&'a Value> {
    product
        .descriptor
        .document
        .get("outputPorts")?
        .as_array()?
        .iter()
        .find(|o| o.get("name").and_then(Value::as_str) == Some(port))
}

/// A port's description: the descriptor's, else its contract's schema object's.
pub(crate) fn port_description(product: &Product, port: &Port) -> Option<String> {
    product
        .descriptor
        .output_ports
        .iter()
        .find(|o| o.name == port.name.as_str())
        .and_then(|o| o.description.clone())
        .or_else(|| {
            port.contract
                .as_ref()
                .and_then(|c| c.objects.first())
                .and_then(|o| o.description.clone())
        })
}

/// Tags of a port: the descriptor's for it and its contract's.
pub(crate) fn port_tags(product: &Product, port: &Port) -> Vec<String> {
    let mut tags: Vec<String> = output_port_document(product, port.name.as_str())
        .map(tags_of)
        .unwrap_or_default();
    if let Some(c) = &port.contract {
        tags.extend(tags_of(&c.document));
    }
    tags.sort();
    tags.dedup();
    tags
}

/// The port's columns: the properties of its contract's first schema object (as SQL sees
/// the port).
pub(crate) fn columns(port: &Port) -> Vec<ColumnOut> {
    let Some(object) = port.contract.as_ref().and_then(|c| c.objects.first()) else {
        return Vec::new();
    };
    object
        .properties
        .iter()
        .map(|p| ColumnOut {
            name: p.name.clone(),
            logical_type: p.logical_type.clone(),
            physical_type: p.physical_type.clone(),
            description: p.description.clone(),
            classification: p.classification.clone(),
            subject_key: p.subject_key().map(str::to_string),
            tags: p.tags.clone(),
            required: p.required,
            unique: p.unique,
            primary_key: p.primary_key,
        })
        .collect()
}

pub(crate) fn sla(port: &Port) -> Vec<SlaOut> {
    port.contract
        .iter()
        .flat_map(|c| &c.sla)
        .map(|s| SlaOut {
            property: s.property.clone(),
            value: s.value.clone(),
            unit: s.unit.clone(),
            element: s.element.clone(),
        })
        .collect()
}

impl MeshIndex {
    /// Everything the catalog precomputes for a mesh. Linear in its size.
    pub(crate) fn build(mesh: Arc<Mesh>) -> MeshIndex {
        let mut domains = Vec::new();
        let mut domain_pos = HashMap::new();
        for d in mesh.domains.values() {
            domain_pos.insert(d.name.to_string(), domains.len());
            domains.push(DomainSummary {
                name: d.name.to_string(),
                description: d.config.as_ref().and_then(|c| c.description.clone()),
                owners: d
                    .config
                    .as_ref()
                    .map(|c| c.owners().into_iter().map(str::to_string).collect())
                    .unwrap_or_default(),
                team: d.config.as_ref().and_then(|c| team_out(&c.team)),
                product_count: d.products.len(),
                source_count: d.sources.len(),
            });
        }

        let mut products = Vec::new();
        let mut product_pos = HashMap::new();
        let mut port_pos = HashMap::new();
        let mut by_domain: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_status: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_tag: HashMap<String, Vec<usize>> = HashMap::new();
        let mut documents = Vec::new();
        for p in mesh.products() {
            let i = products.len();
            let domain = p.domain.to_string();
            product_pos.insert(format!("{domain}/{}", p.name), i);
            for port in &p.ports {
                port_pos.insert(format!("{domain}.{}", port.name), i);
            }
            let document = &p.descriptor.document;
            let mut tags: BTreeSet<String> = tags_of(document).into_iter().collect();
            for port in &p.ports {
                tags.extend(port_tags(p, port));
                for c in columns(port) {
                    tags.extend(c.tags);
                }
            }
            let summary = ProductSummary {
                domain: domain.clone(),
                name: p.name.to_string(),
                id: p.descriptor.id.to_string(),
                title: p.descriptor.name.clone(),
                description: description_part(document, "purpose"),
                status: p.descriptor.status.clone(),
                version: document
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                owners: owners(&p.descriptor.team),
                team: p.descriptor.team.name.clone(),
                tags: tags.into_iter().collect(),
                ports: p
                    .ports
                    .iter()
                    .map(|port| PortBrief {
                        name: port.name.to_string(),
                        table: format!("{domain}.{}", port.name),
                        status: Engine::port_status(p, port).to_string(),
                        latest_version: None,
                        published_at: None,
                    })
                    .collect(),
                last_published_at: None,
            };
            by_domain.entry(domain.clone()).or_default().push(i);
            by_status.entry(summary.status.clone()).or_default().push(i);
            let lowered: BTreeSet<String> = summary.tags.iter().map(|t| t.to_lowercase()).collect();
            for t in lowered {
                by_tag.entry(t).or_default().push(i);
            }
            documents.push(search_document(p, &summary));
            products.push(summary);
        }

        let mut inputs: Vec<Vec<InputEdge>> = vec![Vec::new(); products.len()];
        let mut readers: Vec<Vec<ReadBy>> = vec![Vec::new(); products.len()];
        for edge in tessera_engine::lineage::edges(&mesh) {
            let Some(&down) = product_pos.get(&edge.downstream.reference().to_string()) else {
                continue;
            };
            let upstream = match &edge.upstream {
                InputTarget::Source(domain, name) => Upstream::Source {
                    domain: domain.to_string(),
                    name: name.to_string(),
                },
                InputTarget::Port(r, port) => {
                    let Some(&up) = product_pos.get(&r.to_string()) else {
                        continue;
                    };
                    readers[up].push(ReadBy {
                        port: port.to_string(),
                        reader: down,
                        input: edge.input.to_string(),
                        pinned: edge.pinned_version,
                    });
                    Upstream::Port {
                        product: up,
                        port: port.to_string(),
                    }
                }
            };
            inputs[down].push(InputEdge {
                input: edge.input.to_string(),
                upstream,
                pinned: edge.pinned_version,
            });
        }

        MeshIndex {
            search: SearchIndex::build(documents),
            mesh,
            domains,
            domain_pos,
            products,
            product_pos,
            port_pos,
            by_domain,
            by_status,
            by_tag,
            inputs,
            readers,
            published: Published::default(),
        }
    }

    pub(crate) fn domain(&self, name: &str) -> Option<&DomainSummary> {
        self.domain_pos.get(name).map(|i| &self.domains[*i])
    }

    /// The position of `<domain>/<product>` in [`Self::products`].
    pub(crate) fn product_position(&self, domain: &str, product: &str) -> Option<usize> {
        self.product_pos
            .get(&format!("{domain}/{product}"))
            .copied()
    }

    /// The mesh's product at a position of [`Self::products`].
    pub(crate) fn product(&self, i: usize) -> &Product {
        let s = &self.products[i];
        &self.mesh.domains[s.domain.as_str()].products[s.name.as_str()]
    }

    /// The product publishing `<domain>.<port>`, and the port.
    pub(crate) fn port(&self, domain: &str, port: &str) -> Option<(&Product, &Port)> {
        let i = *self.port_pos.get(&format!("{domain}.{port}"))?;
        let product = self.product(i);
        let port = product.ports.iter().find(|p| p.name.as_str() == port)?;
        Some((product, port))
    }

    /// The key of every port.
    pub(crate) fn port_keys(&self) -> Vec<PortKey> {
        self.products
            .iter()
            .flat_map(|p| {
                p.ports
                    .iter()
                    .map(|b| PortKey::new(&p.domain, &p.name, &b.name))
            })
            .collect()
    }

    /// Every `<domain>/<product>`, for suggestions.
    pub(crate) fn product_names(&self) -> impl Iterator<Item = String> + '_ {
        self.products
            .iter()
            .map(|p| format!("{}/{}", p.domain, p.name))
    }

    /// Every `<domain>.<port>`, for suggestions.
    pub(crate) fn port_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.port_pos.keys().map(String::as_str)
    }

    /// Every status some product has.
    pub(crate) fn statuses(&self) -> impl Iterator<Item = &str> + '_ {
        self.by_status.keys().map(String::as_str)
    }

    /// Positions of the products passing every filter, in order. Each filter is an index
    /// lookup; the smallest candidate list is walked.
    pub(crate) fn filter(
        &self,
        domain: Option<&str>,
        status: Option<&str>,
        tag: Option<&str>,
    ) -> Vec<usize> {
        let tag = tag.map(str::to_lowercase);
        let empty = Vec::new();
        let mut lists: Vec<&Vec<usize>> = Vec::new();
        if let Some(d) = domain {
            lists.push(self.by_domain.get(d).unwrap_or(&empty));
        }
        if let Some(s) = status {
            lists.push(self.by_status.get(s).unwrap_or(&empty));
        }
        if let Some(t) = &tag {
            lists.push(self.by_tag.get(t).unwrap_or(&empty));
        }
        let Some(smallest) = lists.iter().min_by_key(|l| l.len()) else {
            return (0..self.products.len()).collect();
        };
        smallest
            .iter()
            .copied()
            .filter(|i| {
                let p = &self.products[*i];
                domain.is_none_or(|d| p.domain == d)
                    && status.is_none_or(|s| p.status == s)
                    && tag
                        .as_ref()
                        .is_none_or(|t| p.tags.iter().any(|x| x.to_lowercase() == *t))
            })
            .collect()
    }

    /// The input ports of the product at `i`, and what each reads (`kind` `null` when
    /// its contract id resolves to nothing).
    pub(crate) fn inputs(&self, i: usize) -> Vec<InputOut> {
        self.product(i)
            .descriptor
            .input_ports
            .iter()
            .map(|input| {
                let edge = self.inputs[i].iter().find(|e| e.input == input.name);
                let (kind, table, product) = match edge.map(|e| &e.upstream) {
                    None => (None, None, None),
                    Some(Upstream::Source { domain, name }) => {
                        (Some("source"), Some(format!("{domain}.{name}")), None)
                    }
                    Some(Upstream::Port { product, port }) => {
                        let s = &self.products[*product];
                        (
                            Some("port"),
                            Some(format!("{}.{port}", s.domain)),
                            Some(format!("{}/{}", s.domain, s.name)),
                        )
                    }
                };
                InputOut {
                    name: input.name.clone(),
                    contract_id: input.contract_id.to_string(),
                    kind: kind.map(str::to_string),
                    table,
                    product,
                    pinned_version: input.pinned_version(),
                }
            })
            .collect()
    }

    /// The lineage of the product at `root`, `depth` products away at most.
    pub(crate) fn lineage(&self, root: usize, direction: Direction, depth: u32) -> LineageGraph {
        let mut graph = Graph::default();
        let root_id = graph.product(self, root, 0);
        graph.ports_of(self, root, 0);
        if matches!(direction, Direction::Upstream | Direction::Both) {
            let mut queue = VecDeque::from([(root, 0u32)]);
            let mut expanded = HashSet::from([root]);
            while let Some((p, d)) = queue.pop_front() {
                let product_id = product_id(&self.products[p]);
                for input in &self.inputs[p] {
                    let from = match &input.upstream {
                        Upstream::Source { domain, name } => graph.source(domain, name, d + 1),
                        Upstream::Port { product, port } => {
                            let up = graph.product(self, *product, d + 1);
                            let port_id = graph.port(self, *product, port, d + 1);
                            graph.edge(&up, &port_id, None, None);
                            if d + 1 < depth && expanded.insert(*product) {
                                queue.push_back((*product, d + 1));
                            }
                            port_id
                        }
                    };
                    graph.edge(&from, &product_id, Some(&input.input), input.pinned);
                }
            }
        }
        if matches!(direction, Direction::Downstream | Direction::Both) {
            let mut queue = VecDeque::from([(root, 0u32)]);
            let mut expanded = HashSet::from([root]);
            while let Some((p, d)) = queue.pop_front() {
                for read in &self.readers[p] {
                    let port_id = graph.port(self, p, &read.port, d);
                    let reader = graph.product(self, read.reader, d + 1);
                    graph.edge(&port_id, &reader, Some(&read.input), read.pinned);
                    if d + 1 < depth && expanded.insert(read.reader) {
                        graph.ports_of(self, read.reader, d + 1);
                        queue.push_back((read.reader, d + 1));
                    }
                }
            }
        }
        LineageGraph {
            root: root_id,
            direction: direction.as_str().into(),
            depth,
            nodes: graph.nodes,
            edges: graph.edges,
        }
    }
}

fn product_id(p: &ProductSummary) -> String {
    format!("product:{}/{}", p.domain, p.name)
}

/// A lineage graph being built: each node and edge once, in the order first reached
/// (breadth first, so a node's depth is its shortest distance).
#[derive(Default)]
struct Graph {
    nodes: Vec<LineageNode>,
    edges: Vec<LineageEdge>,
    seen: HashSet<String>,
    seen_edges: HashSet<(String, String)>,
}

impl Graph {
    fn node(&mut self, node: LineageNode) -> String {
        let id = node.id.clone();
        if self.seen.insert(id.clone()) {
            self.nodes.push(node);
        }
        id
    }

    fn product(&mut self, index: &MeshIndex, p: usize, depth: u32) -> String {
        let s = &index.products[p];
        self.node(LineageNode {
            id: product_id(s),
            kind: NodeKind::Product,
            domain: s.domain.clone(),
            name: s.name.clone(),
            product: None,
            table: None,
            status: Some(s.status.clone()),
            depth,
        })
    }

    fn port(&mut self, index: &MeshIndex, p: usize, port: &str, depth: u32) -> String {
        let s = &index.products[p];
        let status = s
            .ports
            .iter()
            .find(|b| b.name == port)
            .map(|b| b.status.clone());
        self.node(LineageNode {
            id: format!("port:{}.{port}", s.domain),
            kind: NodeKind::Port,
            domain: s.domain.clone(),
            name: port.to_string(),
            product: Some(format!("{}/{}", s.domain, s.name)),
            table: Some(format!("{}.{port}", s.domain)),
            status,
            depth,
        })
    }

    /// A product's output ports, with the edges product → port.
    fn ports_of(&mut self, index: &MeshIndex, p: usize, depth: u32) {
        let product = product_id(&index.products[p]);
        for b in &index.products[p].ports {
            let port = self.port(index, p, &b.name, depth);
            self.edge(&product, &port, None, None);
        }
    }

    fn source(&mut self, domain: &str, name: &str, depth: u32) -> String {
        self.node(LineageNode {
            id: format!("source:{domain}.{name}"),
            kind: NodeKind::Source,
            domain: domain.to_string(),
            name: name.to_string(),
            product: None,
            table: Some(format!("{domain}.{name}")),
            status: None,
            depth,
        })
    }

    fn edge(&mut self, from: &str, to: &str, input: Option<&str>, pinned: Option<u64>) {
        if self.seen_edges.insert((from.to_string(), to.to_string())) {
            self.edges.push(LineageEdge {
                from: from.to_string(),
                to: to.to_string(),
                input: input.map(str::to_string),
                pinned_version: pinned,
            });
        }
    }
}

/// A product's searchable texts.
fn search_document(p: &Product, summary: &ProductSummary) -> Document {
    let field = |field, port: Option<&str>, column: Option<&str>, text: &str| FieldText {
        field,
        port: port.map(str::to_string),
        column: column.map(str::to_string),
        text: text.to_string(),
    };
    let mut fields = vec![field(MatchField::ProductName, None, None, p.name.as_str())];
    if let Some(title) = summary
        .title
        .as_ref()
        .filter(|t| !t.eq_ignore_ascii_case(p.name.as_str()))
    {
        fields.push(field(MatchField::Title, None, None, title));
    }
    for part in ["purpose", "usage", "limitations"] {
        if let Some(text) = description_part(&p.descriptor.document, part) {
            fields.push(field(MatchField::Description, None, None, &text));
        }
    }
    for tag in tags_of(&p.descriptor.document) {
        fields.push(field(MatchField::Tag, None, None, &tag));
    }
    for port in &p.ports {
        let name = port.name.as_str();
        fields.push(field(MatchField::PortName, Some(name), None, name));
        if let Some(d) = port_description(p, port) {
            fields.push(field(MatchField::PortDescription, Some(name), None, &d));
        }
        for tag in port_tags(p, port) {
            fields.push(field(MatchField::Tag, Some(name), None, &tag));
        }
        for c in columns(port) {
            let column = Some(c.name.as_str());
            fields.push(field(MatchField::ColumnName, Some(name), column, &c.name));
            if let Some(d) = &c.description {
                fields.push(field(MatchField::ColumnDescription, Some(name), column, d));
            }
            for tag in &c.tags {
                fields.push(field(MatchField::Tag, Some(name), column, tag));
            }
        }
    }
    Document {
        fields,
        exact: vec![p.descriptor.id.to_string()],
    }
}

/// The newest version of each port, read from the metadata store and kept until a run
/// of its product may have changed it.
///
/// Versions are recorded by runs (and by the reconciliation when an engine opens, which
/// makes a new index). So at most every [`Published::RECHECK`] the store's newest runs and
/// its running runs are compared with the last look; the products of runs that started or
/// finished since are forgotten, and read again when next asked for. A publish by another
/// process shows within about a second of its run finishing; in between, a list reads the
/// store only for ports not yet cached. [`Published::warm`] fills the cache when an index
/// is built.
#[derive(Default)]
pub(crate) struct Published {
    state: Mutex<PublishedState>,
}

type Latest = Option<(i64, DateTime<Utc>)>;

#[derive(Default)]
struct PublishedState {
    /// Bumped whenever entries are forgotten, so that a read begun before does not store
    /// what it read.
    generation: u64,
    checked: Option<Instant>,
    marker: Option<Marker>,
    latest: HashMap<PortKey, Latest>,
}

/// What the store's runs looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Marker {
    /// The newest run: its id and status.
    newest: Option<(String, RunStatus)>,
    /// The running runs: id, domain, product.
    running: Vec<(String, String, String)>,
}

impl Published {
    const RECHECK: Duration = Duration::from_secs(1);
    /// Runs read to find those started since the last look; with more, all is forgotten.
    const WINDOW: u32 = 64;

    /// Forgets what runs may have changed since the last look (at most every RECHECK).
    async fn refresh(&self, catalog: &dyn CatalogStore) -> Result<(), CatalogError> {
        let due = {
            let state = self.state.lock().expect("cache lock is never poisoned");
            state.checked.is_none_or(|t| t.elapsed() >= Self::RECHECK)
        };
        if !due {
            return Ok(());
        }
        let newest = catalog
            .runs(&RunQuery {
                limit: Some(Self::WINDOW),
                ..Default::default()
            })
            .await?;
        let running = catalog
            .runs(&RunQuery {
                status: Some(RunStatus::Running),
                ..Default::default()
            })
            .await?;
        let marker = Marker {
            newest: newest.first().map(|r| (r.id.clone(), r.status)),
            running: running
                .into_iter()
                .map(|r| (r.id, r.domain, r.product))
                .collect(),
        };
        let mut state = self.state.lock().expect("cache lock is never poisoned");
        state.checked = Some(Instant::now());
        let Some(old) = state.marker.replace(marker.clone()) else {
            return Ok(());
        };
        if old == marker {
            return Ok(());
        }
        state.generation += 1;
        // Products of runs that started since, or were running and are no longer.
        let mut changed: HashSet<(String, String)> = HashSet::new();
        let mut reached = old.newest.is_none();
        for r in &newest {
            if old.newest.as_ref().is_some_and(|(id, _)| *id == r.id) {
                changed.insert((r.domain.clone(), r.product.clone()));
                reached = true;
                break;
            }
            changed.insert((r.domain.clone(), r.product.clone()));
        }
        if !reached {
            state.latest.clear();
            return Ok(());
        }
        for (id, domain, product) in &old.running {
            if !marker.running.iter().any(|(i, ..)| i == id) {
                changed.insert((domain.clone(), product.clone()));
            }
        }
        state
            .latest
            .retain(|k, _| !changed.contains(&(k.domain.clone(), k.product.clone())));
        Ok(())
    }

    /// The newest version and its commit time of each of `keys` (`None`: unpublished).
    pub(crate) async fn latest(
        &self,
        catalog: &dyn CatalogStore,
        keys: &[PortKey],
    ) -> Result<HashMap<PortKey, Latest>, CatalogError> {
        self.refresh(catalog).await?;
        let (mut found, missing, generation) = {
            let state = self.state.lock().expect("cache lock is never poisoned");
            let mut found = HashMap::new();
            let mut missing = Vec::new();
            for k in keys {
                match state.latest.get(k) {
                    Some(v) => {
                        found.insert(k.clone(), *v);
                    }
                    None => missing.push(k.clone()),
                }
            }
            (found, missing, state.generation)
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let read = futures::future::try_join_all(missing.iter().map(|k| catalog.latest_version(k)))
            .await?;
        let mut state = self.state.lock().expect("cache lock is never poisoned");
        for (k, v) in missing.into_iter().zip(read) {
            let v = v.map(|v| (v.version, v.committed_at));
            if state.generation == generation {
                state.latest.insert(k.clone(), v);
            }
            found.insert(k, v);
        }
        Ok(found)
    }

    /// Reads every port's newest version into the cache, a few at a time (so that lists
    /// do not wait for the store after a reload).
    pub(crate) async fn warm(&self, catalog: &dyn CatalogStore, keys: Vec<PortKey>) {
        for chunk in keys.chunks(64) {
            if let Err(e) = self.latest(catalog, chunk).await {
                tracing::warn!("could not read the ports' newest versions: {e}");
                return;
            }
        }
    }
}

/// The catalog's index of the engine the server serves now (and of the one before, for
/// requests that began before a reload). Built on first use, once, off the async workers.
#[derive(Default)]
pub(crate) struct IndexCache {
    slots: Mutex<Vec<(Weak<Engine>, IndexCell)>>,
}

/// An index being built, or built.
type IndexCell = Arc<OnceCell<Arc<MeshIndex>>>;

impl IndexCache {
    pub(crate) async fn get(&self, engine: &Arc<Engine>) -> Result<Arc<MeshIndex>, ServeError> {
        let cell = {
            let mut slots = self
                .slots
                .lock()
                .expect("index cache lock is never poisoned");
            // A live Weak keeps its allocation, so a pointer match is the same engine.
            match slots
                .iter()
                .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(engine)))
            {
                Some((_, cell)) => cell.clone(),
                None => {
                    slots.retain(|(w, _)| w.strong_count() > 0);
                    if slots.len() >= 2 {
                        slots.remove(0);
                    }
                    let cell = Arc::new(OnceCell::new());
                    slots.push((Arc::downgrade(engine), cell.clone()));
                    cell
                }
            }
        };
        let index = cell
            .get_or_try_init(|| async {
                let mesh = engine.mesh.clone();
                let index = tokio::task::spawn_blocking(move || Arc::new(MeshIndex::build(mesh)))
                    .await
                    .map_err(ServeError::internal)?;
                let (warming, catalog) = (index.clone(), engine.catalog.clone());
                tokio::spawn(async move {
                    let keys = warming.port_keys();
                    warming.published.warm(catalog.as_ref(), keys).await;
                });
                Ok::<_, ServeError>(index)
            })
            .await?;
        Ok(index.clone())
    }
}
