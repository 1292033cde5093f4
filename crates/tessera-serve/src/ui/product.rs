//! `/products/{domain}/{product}`: everything about one product on one page — what it is
//! and who owns it, its ports' schemas, versions and contract changes, its checks with
//! their history, its lineage drawn, a governed sample of each port, and how to connect.
//!
//! The sample is `SELECT * FROM <domain>.<port> LIMIT 10` run as the viewer through
//! `Shared::session` + `Shared::run` — the HTTP query API's path — so it is governed and
//! audited like any query: masked columns arrive masked, absent ones are absent, and a
//! refusal is the engine's message, naming the deciding policy.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use maud::{Markup, html};
use tessera_engine::Engine;
use tessera_engine::query::ColumnInfo;
use tessera_model::mesh::{Port, Product};

use super::svg::{RunChecks, check_history, lineage};
use super::{Ctx, Endpoints, Nav, Viewer, ago, badge, empty, raw, when};
use crate::error::{ErrorKind, ServeError};
use crate::http::catalog::index::Direction;
use crate::http::catalog::types::{CheckOut, PortOut, ProductDetail, VersionOut};
use crate::http::catalog::{latest_checks, product_detail, runs_with_checks};
use crate::state::Shared;

/// Rows in a sample.
const SAMPLE_ROWS: usize = 10;
/// Runs in the check history chart.
const HISTORY_RUNS: usize = 12;
/// Versions listed per port, and contract diffs computed between them at most.
const VERSIONS: usize = 10;
const DIFFS: usize = 4;

/// A port's sample as the viewer may see it.
enum Sample {
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
        notices: Vec<String>,
    },
    Refused(ServeError),
    NoPurpose,
    Unpublished,
}

/// Runs the sample query as the viewer, through the API's query path.
async fn sample(shared: &Arc<Shared>, viewer: &Viewer, table: &str, published: bool) -> Sample {
    if !published {
        return Sample::Unpublished;
    }
    if viewer.purpose.is_none() && viewer.purposes.len() > 1 {
        return Sample::NoPurpose;
    }
    let run = async {
        let session = shared.session(&viewer.caller, viewer.purpose.as_deref(), "http")?;
        let sql = format!("SELECT * FROM {table} LIMIT {SAMPLE_ROWS}");
        let mut rows = shared.run(&session, &sql, "http").await?;
        let notices = rows.notices();
        let schema = rows.schema();
        let mut batches: Vec<RecordBatch> = Vec::new();
        while let Some(b) = rows.next().await {
            batches.push(b?);
        }
        Ok::<_, ServeError>((schema, batches, notices))
    };
    match run.await {
        Err(e) => Sample::Refused(e),
        Ok((schema, batches, notices)) => {
            let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
            let options = FormatOptions::default();
            let mut rows = Vec::new();
            for b in &batches {
                let formatters: Vec<_> = b
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect();
                for r in 0..b.num_rows() {
                    rows.push(
                        formatters
                            .iter()
                            .zip(b.columns())
                            .map(|(f, c)| match f {
                                Ok(_) if c.is_null(r) => None,
                                Ok(f) => Some(f.value(r).to_string()),
                                Err(_) => Some("(not displayable)".into()),
                            })
                            .collect(),
                    );
                }
            }
            Sample::Rows {
                columns,
                rows,
                notices,
            }
        }
    }
}

/// One contract change between two published versions of a port.
struct Change {
    breaking: bool,
    path: String,
    reason: String,
}

/// Contract changes between consecutive published versions whose contract version differs
/// (newest first), and the served contract's changes since the newest version.
async fn history(
    engine: &Engine,
    p: &Product,
    port: &Port,
    versions: &[VersionOut],
) -> (Vec<(i64, i64, String, String, Vec<Change>)>, Vec<Change>) {
    let changes = |d: &tessera_model::diff::ContractDiff| {
        d.changes
            .iter()
            .map(|c| Change {
                breaking: c.impact == tessera_model::diff::Impact::Breaking,
                path: c.path.clone(),
                reason: c.reason.clone(),
            })
            .collect::<Vec<_>>()
    };
    let mut steps = Vec::new();
    // `versions` is newest first.
    for pair in versions.windows(2) {
        let (new, old) = (&pair[0], &pair[1]);
        if new.contract_version == old.contract_version {
            continue;
        }
        if steps.len() >= DIFFS {
            break;
        }
        let (Ok(Some((_, a))), Ok(Some((_, b)))) = (
            tessera_engine::evolution::published_contract(engine, p, port, Some(old.version)).await,
            tessera_engine::evolution::published_contract(engine, p, port, Some(new.version)).await,
        ) else {
            continue;
        };
        let d = tessera_model::diff::diff(&a, &b);
        steps.push((
            old.version,
            new.version,
            old.contract_version.clone(),
            new.contract_version.clone(),
            changes(&d),
        ));
    }
    let pending = match (&port.contract, versions.first()) {
        (Some(served), Some(_)) => {
            match tessera_engine::evolution::published_contract(engine, p, port, None).await {
                Ok(Some((_, old))) => changes(&tessera_model::diff::diff(&old, served)),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    (steps, pending)
}

/// The hosts and ports the snippets use: the host the browser reached us by, the ports
/// the protocols listen on.
struct Connect {
    host: String,
    http: String,
    pg: Option<u16>,
    flight: Option<u16>,
}

fn connect(headers: &HeaderMap, endpoints: Option<&Endpoints>) -> Connect {
    let http = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080")
        .to_string();
    let host = if http.starts_with('[') {
        http.split_once(']')
            .map(|(h, _)| format!("{h}]"))
            .unwrap_or(http.clone())
    } else {
        http.split(':').next().unwrap_or(&http).to_string()
    };
    let endpoints = endpoints.copied().unwrap_or_default();
    Connect {
        host,
        http,
        pg: endpoints.pg.map(|a| a.port()),
        flight: endpoints.flight.map(|a| a.port()),
    }
}

fn snippets(c: &Connect, principal: &str, purpose: Option<&str>, table: &str) -> Markup {
    let purpose = purpose.unwrap_or("<purpose>");
    let user = super::encode(principal).replace('/', "%2F");
    let sql = format!("SELECT * FROM {table} LIMIT 10");
    let psql = c.pg.map(|port| {
        format!(
            "# password: your token\npsql \"postgresql://{user}@{}:{port}/mesh?options=-c%20tessera.purpose%3D{purpose}\" \\\n     -c \"{sql}\"",
            c.host
        )
    });
    let psycopg = c.pg.map(|port| {
        format!(
            "import os, psycopg\nconn = psycopg.connect(host=\"{}\", port={port}, dbname=\"mesh\",\n    user=\"{principal}\", password=os.environ[\"TESSERA_TOKEN\"],\n    options=\"-c tessera.purpose={purpose}\")\nrows = conn.execute(\"{sql}\").fetchall()",
            c.host
        )
    });
    let adbc = c.flight.map(|port| {
        format!(
            "import os\nimport adbc_driver_flightsql.dbapi as flightsql\nconn = flightsql.connect(\"grpc://{}:{port}\", db_kwargs={{\n    \"username\": \"{principal}\", \"password\": os.environ[\"TESSERA_TOKEN\"],\n    \"adbc.flight.sql.rpc.call_header.tessera-purpose\": \"{purpose}\"}})\ncur = conn.cursor()\ncur.execute(\"SELECT * FROM {table}\")\ntable = cur.fetch_arrow_table()  # a pyarrow.Table",
            c.host
        )
    });
    let curl = format!(
        "curl -H \"Authorization: Bearer $TESSERA_TOKEN\" -H \"Tessera-Purpose: {purpose}\" \\\n     -d '{{\"sql\": \"{sql}\"}}' http://{}/api/v1/query",
        c.http
    );
    let block = |title: &str, text: Option<String>, off: &str| {
        html! {
            div.snippet {
                h4 { (title) }
                @match text {
                    Some(t) => pre { code { (t) } },
                    None => p.muted { (off) },
                }
            }
        }
    };
    html! {
        div.snippets {
            (block("psql", psql, "The PostgreSQL listener is off on this server."))
            (block("Python — psycopg", psycopg, "The PostgreSQL listener is off on this server."))
            (block("Python — ADBC / pyarrow (Flight SQL)", adbc, "The Flight SQL listener is off on this server."))
            (block("HTTP API — curl", Some(curl), ""))
        }
        p.small { "Your token is not shown here: export it as " code { "TESSERA_TOKEN" } ". "
            "Each protocol is governed the same way as this page." }
    }
}

fn schema_table(port: &PortOut, governed: Option<&[ColumnInfo]>) -> Markup {
    html! {
        div.scroll {
            table.schema {
                thead { tr {
                    th scope="col" { "Column" } th scope="col" { "Type" } th scope="col" { "Description" }
                    th scope="col" { "Classification" } th scope="col" { "Subject key" }
                } }
                tbody {
                    @for c in &port.columns {
                        tr {
                            td { code { (c.name) }
                                @if c.primary_key { " " span.tag title="primary key" { "PK" } }
                                @if c.required { " " span.tag title="required: never NULL" { "required" } } }
                            td { (c.logical_type.as_deref().or(c.physical_type.as_deref()).unwrap_or("—")) }
                            td { (c.description.as_deref().unwrap_or("")) }
                            td { @if let Some(k) = &c.classification { span.tag.classified { (k) } }
                                @if let Some(info) = governed.and_then(|g| g.iter().find(|i| i.name == c.name)) {
                                    @if let Some(m) = &info.masked { " " span.small { "you see it masked (" (m) ")" } }
                                } }
                            td { @if let Some(k) = &c.subject_key { (k) } }
                        }
                    }
                }
            }
        }
    }
}

fn sample_markup(s: &Sample, governed: Option<&tessera_engine::query::TableEntry>) -> Markup {
    let masked = |name: &str| {
        governed
            .and_then(|g| g.column(name))
            .and_then(|c| c.masked.clone())
    };
    html! {
        @match s {
            Sample::Unpublished => (empty("Not published yet: no rows to show.")),
            Sample::NoPurpose => p.notice { "Choose a purpose (top right) to see a sample: what you may see depends on why you read." },
            Sample::Refused(e) => {
                div.refusal role="alert" {
                    strong { @if e.kind == ErrorKind::NotPermitted { "Refused by policy. " } @else { "Could not read a sample. " } }
                    (e.message)
                }
            }
            Sample::Rows { columns, rows, notices } => {
                @for n in notices { p.notice { (n) } }
                @if rows.is_empty() { (empty("The query returned no rows (the port is empty, or row filters leave you none).")) }
                @else {
                    div.scroll {
                        table.sample {
                            thead { tr { @for c in columns {
                                th scope="col" { (c) @if let Some(m) = masked(c) { br; span.mask-label { "masked: " (m) } } }
                            } } }
                            tbody { @for r in rows { tr { @for (v, c) in r.iter().zip(columns) {
                                @let m = masked(c);
                                td class=[m.as_ref().map(|_| "masked")] title=[m.as_ref().map(|m| format!("masked ({m})"))] {
                                    @match v { Some(v) => (v), None => span.null { "NULL" } }
                                }
                            } } } }
                        }
                    }
                }
                @if let Some(g) = governed {
                    @if !g.hidden.is_empty() {
                        p.small { "Not shown to you: "
                            @for (i, h) in g.hidden.iter().enumerate() { @if i > 0 { "; " } code { (h.name) } " — " (h.why) } }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn port_section(
    d: &ProductDetail,
    port: &PortOut,
    versions: &[VersionOut],
    steps: &[(i64, i64, String, String, Vec<Change>)],
    pending: &[Change],
    s: &Sample,
    governed: Option<&tessera_engine::query::TableEntry>,
    viewer: &Viewer,
    conn: &Connect,
    watch: &Watch,
) -> Markup {
    let id = format!("port-{}", port.name);
    html! {
        section.port id=(id) aria-labelledby={ (id) "-h" } {
            h3 id={ (id) "-h" } { "Port " code { (port.table) } " " (badge(&port.status)) }
            @if let Some(text) = &port.description { p { (text) } }
            p.meta {
                @if let Some(v) = &port.contract_version { "contract " (port.contract_id.as_deref().unwrap_or("")) " v" (v) " · " }
                @if let Some(m) = &port.write_mode { (m) " · " }
                @match &port.latest_version { Some(v) => { "version " (v.version) ", " (v.rows) " rows, published " span title=(when(&v.committed_at)) { (ago(&v.committed_at)) } }, None => "never published" }
            }
            @if !port.tags.is_empty() { p { @for t in &port.tags { span.tag { (t) } " " } } }
            h4 { "Schema" }
            (schema_table(port, governed.map(|g| g.columns.as_slice())))
            @if let Some(note) = &watch.deprecation { (note) }
            @if let Some(h) = &watch.health {
                h4 id={ (id) "-slas" } { "Service levels " (badge(h.state.as_str())) }
                table.compact {
                    thead { tr { th scope="col" { "SLA" } th scope="col" { "Promise" } th scope="col" { "Now" } th scope="col" { "State" } th scope="col" { "Why" } } }
                    tbody { @for c in &h.checks { tr {
                        td { code { (c.property) } @if let Some(e) = &c.element { span.small { " (" (e) ")" } } }
                        td { (c.target) }
                        td { (c.shown) }
                        td { (badge(c.state.as_str())) }
                        td.small { (c.detail) }
                    } } }
                }
            } @else if !port.sla.is_empty() {
                h4 id={ (id) "-slas" } { "Service levels (contract)" }
                ul.plain { @for s in &port.sla { li { code { (s.property) } ": " (s.value) @if let Some(u) = &s.unit { " " (u) } @if let Some(e) = &s.element { span.small { " (" (e) ")" } } } } }
            }
            h4 { "Sample — as you see it" }
            (sample_markup(s, governed))
            details.request open[matches!(s, Sample::Refused(e) if e.kind == ErrorKind::NotPermitted)] {
                summary { "Request access to " (port.table) }
                form method="post" action="/access" {
                    input type="hidden" name="action" value="request";
                    input type="hidden" name="port" value=(port.table);
                    input type="hidden" name="next" value={ "/products/" (d.domain) "/" (d.name) };
                    div.field {
                        label for={ (id) "-purpose" } { "Purpose" }
                        select id={ (id) "-purpose" } name="purpose" required {
                            @for p in &viewer.purposes { option value=(p) selected[viewer.purpose.as_deref() == Some(p.as_str())] { (p) } }
                        }
                    }
                    div.field.grow {
                        label for={ (id) "-why" } { "Justification" }
                        textarea id={ (id) "-why" } name="justification" required rows="3" maxlength="2000"
                            placeholder="What you will use it for, and for how long" {}
                    }
                    button.primary type="submit" { "Request access" }
                }
            }
            h4 { "Versions" }
            @if versions.is_empty() { (empty("No published versions yet.")) }
            @else {
                table.compact {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Published" } th scope="col" { "Rows" } th scope="col" { "Contract" } } }
                    tbody { @for v in versions { tr {
                        td { (v.version) } td { (when(&v.committed_at)) } td { (v.rows) } td { (v.contract_version) }
                    } } }
                }
            }
            @if !pending.is_empty() {
                h4 { "Contract changes not yet published" }
                (change_list(pending))
                @if !watch.impact.is_empty() {
                    div.notice role="note" {
                        p { strong { "Consumer impact. " } "These breaking changes would break who read the changed columns in the last 30 days:" }
                        ul.plain { @for i in &watch.impact {
                            li { code { (i.path) } " — "
                                @if i.consumers.is_empty() { span.muted { "no one read it" } }
                                @else { @for (n, c) in i.consumers.iter().enumerate() {
                                    @if n > 0 { ", " }
                                    (c.name) @if c.kind == "principal" { span.small { " (" (c.reads) " " @if c.reads == 1 { "query" } @else { "queries" } ")" } } @else { span.small { " (product)" } }
                                } }
                            }
                        } }
                    }
                }
            }
            @for (from, to, a, b, changes) in steps {
                h4 { "Contract " (a) " → " (b) span.small { " (versions " (from) " → " (to) ")" } }
                @if changes.is_empty() { p.small { "Only the version number changed." } } @else { (change_list(changes)) }
            }
            h4 { "How to connect" }
            (snippets(conn, &viewer.caller.principal, viewer.purpose.as_deref(), &port.table))
        }
    }
}

/// What the product page shows of a port's watch: its SLAs now, its deprecation, and whom
/// its unpublished breaking changes would break.
struct Watch {
    health: Option<tessera_engine::sla::PortHealth>,
    deprecation: Option<Markup>,
    impact: Vec<tessera_engine::evolution::ChangeImpact>,
}

async fn watch(
    engine: &Engine,
    p: &Product,
    port: &Port,
    table: &str,
    health: Option<&[tessera_engine::sla::PortHealth]>,
    pending: &[Change],
) -> Watch {
    let since = chrono::Utc::now() - chrono::Duration::days(30);
    let health = health.and_then(|all| all.iter().find(|h| h.table == table).cloned());
    let contract = port.contract.as_ref();
    let deprecation = if Engine::port_status(p, port) == "deprecated" {
        let consumers = tessera_engine::evolution::port_consumers(engine, table, since)
            .await
            .unwrap_or_default();
        Some(html! {
            div.notice role="note" {
                p { strong { "Deprecated. " }
                    @match contract.and_then(|c| c.sunset()) { Some(day) => { "It will be retired on " strong { (day) } "." }, None => "It may stop being served." }
                    @if let Some(r) = contract.and_then(|c| c.replacement()) { " Use " code { (r) } " instead." }
                }
                p.small {
                    @if consumers.is_empty() { "No one used it in the last 30 days." }
                    @else { "Still used in the last 30 days by: "
                        @for (n, c) in consumers.iter().enumerate() {
                            @if n > 0 { ", " }
                            (c.name) @if c.kind == "principal" { " (" (c.reads) ")" } @else { " (product)" }
                        }
                    }
                }
            }
        })
    } else {
        None
    };
    let mut impact = Vec::new();
    if pending.iter().any(|c| c.breaking)
        && let Some(served) = contract
        && let Ok(Some((_, old))) =
            tessera_engine::evolution::published_contract(engine, p, port, None).await
    {
        let d = tessera_model::diff::diff(&old, served);
        impact = tessera_engine::evolution::consumers(engine, table, &d, since)
            .await
            .unwrap_or_default();
    }
    Watch {
        health,
        deprecation,
        impact,
    }
}

fn change_list(changes: &[Change]) -> Markup {
    html! {
        ul.changes { @for c in changes {
            li { @if c.breaking { (badge("breaking")) } @else { span.badge.plain { "compatible" } } " " code { (c.path) } " — " (c.reason) }
        } }
    }
}

fn checks_table(checks: &[CheckOut]) -> Markup {
    html! {
        div.scroll {
            table.compact {
                thead { tr { th scope="col" { "Port" } th scope="col" { "Check" } th scope="col" { "Severity" } th scope="col" { "Result" } th scope="col" { "Measured / expected" } } }
                tbody { @for c in checks { tr {
                    td { code { (c.port) } } td { (c.name) @if let Some(col) = &c.column { span.small { " (" (col) ")" } } }
                    td { (c.severity) }
                    td { @if c.passed { (badge("passed")) } @else { (badge("failed")) @if let Some(n) = c.failed_rows { " " (n) " rows" } } }
                    td { @if let Some(m) = c.measured { (m) " / " } (c.expected) }
                } } }
            }
        }
    }
}

async fn body(ctx: &Ctx, domain: &str, product: &str) -> Result<(String, Markup), ServeError> {
    let Ctx {
        engine,
        index,
        viewer,
        shared,
        headers,
        endpoints,
    } = ctx;
    let d = product_detail(engine, index, domain, product).await?;
    let i = index
        .product_position(domain, product)
        .expect("product_detail found it");
    let p = index.product(i);
    let store =
        |e: tessera_catalog::CatalogError| ServeError::internal(format!("metadata store: {e}"));
    let (check_run, checks) = latest_checks(engine, p).await?;
    // The check history: the newest finished runs, oldest first.
    let mut history_runs: Vec<RunChecks> = runs_with_checks(engine, p, 50, HISTORY_RUNS)
        .await?
        .into_iter()
        .map(|(r, c)| RunChecks {
            label: r.started_at.format("%m-%d %H:%M").to_string(),
            passed: c.iter().filter(|c| c.passed).count(),
            failed: c.iter().filter(|c| !c.passed).count(),
        })
        .collect();
    history_runs.reverse();
    let graph = index.lineage(i, Direction::Both, 3);
    // The governed view of each port (masks, hidden columns) and its sample.
    // The tables as the next statement sees them: with the access grants in force now.
    let tables = match shared.session(&viewer.caller, viewer.purpose.as_deref(), "http") {
        Ok(session) => session.current_tables().await.ok(),
        Err(_) => None,
    };
    let conn = connect(headers, endpoints.as_ref());
    let health = crate::monitor::current(shared).await.ok().map(|(_, p)| p);
    let mut ports = Vec::new();
    for (port_out, port) in d.ports.iter().zip(&p.ports) {
        let mut versions: Vec<VersionOut> = engine
            .catalog
            .versions(&Engine::port_key(p, port))
            .await
            .map_err(store)?
            .into_iter()
            .map(VersionOut::from)
            .collect();
        versions.reverse();
        versions.truncate(VERSIONS);
        let (steps, pending) = history(engine, p, port, &versions).await;
        let watch = watch(
            engine,
            p,
            port,
            &port_out.table,
            health.as_ref().map(|h| h.as_slice()),
            &pending,
        )
        .await;
        let s = sample(shared, viewer, &port_out.table, !versions.is_empty()).await;
        let governed = tables
            .as_ref()
            .and_then(|t| t.get(&d.domain, port_out.name.as_str()).cloned());
        ports.push(port_section(
            &d,
            port_out,
            &versions,
            &steps,
            &pending,
            &s,
            governed.as_deref(),
            viewer,
            &conn,
            &watch,
        ));
    }
    let title = d.title.clone().unwrap_or_else(|| d.name.clone());
    let support: Vec<(String, String)> = d
        .descriptor
        .get("support")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some((
                        s.get("channel")?.as_str()?.to_string(),
                        s.get("url")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let markup = html! {
        p.crumbs { a href="/" { "Home" } " / " a href={ "/domains/" (d.domain) } { (d.domain) } " / product" }
        h1 { (title) " " (badge(&d.status)) }
        p.meta { code { (d.domain) "/" (d.name) } @if let Some(v) = &d.version { " · version " (v) } " · id " code { (d.id) } }
        @if !d.tags.is_empty() { p { @for t in &d.tags { span.tag { (t) } " " } } }
        div.columns {
            div {
                @if let Some(text) = &d.description { p.lead { (text) } } @else { (empty("No description.")) }
                @if let Some(text) = &d.usage { h4 { "Usage" } p { (text) } }
                @if let Some(text) = &d.limitations { h4 { "Limitations" } p { (text) } }
            }
            dl.facts {
                dt { "Owners" } dd { @if d.owners.is_empty() { span.muted { "none declared" } } @else { (d.owners.join(", ")) } }
                @if let Some(team) = &d.team { @if let Some(n) = &team.name { dt { "Team" } dd { (n) } } }
                dt { "Support" }
                dd { @if support.is_empty() { span.muted { "no support channel declared" } }
                    @for (channel, url) in &support { (channel) ": " @if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("mailto:") { a href=(url) { (url) } } @else { (url) } br; } }
                dt { "Last publish" }
                dd { @match &d.last_publish { Some(r) => { span title=(when(&r.started_at)) { (ago(&r.started_at)) } @if let Some(n) = r.rows { " · " (n) " rows" } }, None => span.muted { "never" } } }
                dt { "Inputs" }
                dd { @if d.inputs.is_empty() { span.muted { "none" } }
                    @for input in &d.inputs {
                        @match (&input.product, &input.table) {
                            (Some(prod), Some(t)) => { a href={ "/products/" (prod) } { (t) } },
                            (None, Some(t)) => { code { (t) } },
                            _ => { (input.name) },
                        }
                        @if let Some(v) = input.pinned_version { span.small { " (pinned v" (v) ")" } }
                        br;
                    } }
            }
        }
        nav.toc aria-label="On this page" {
            a href="#lineage" { "Lineage" } a href="#quality" { "Quality" }
            @for port in &d.ports { a href={ "#port-" (port.name) } { "Port " (port.name) } }
        }
        section #lineage aria-labelledby="lineage-h" {
            h2 #lineage-h { "Lineage" }
            div.graph { (raw(lineage(&graph))) }
            details {
                summary { "Lineage as a list" }
                ul.plain { @for e in &graph.edges { li { code { (e.from) } " → " code { (e.to) } } } }
            }
        }
        section #quality aria-labelledby="quality-h" {
            h2 #quality-h { "Quality checks" }
            @match &check_run {
                Some(r) => p.meta { "From the " (r.kind) " run of " (when(&r.started_at)) " " (badge(&r.status)) },
                None => (empty("No run has recorded checks yet.")),
            }
            @if !checks.is_empty() {
                @let failed = checks.iter().filter(|c| !c.passed).count();
                @if failed == 0 {
                    details.checks {
                        summary { (badge("passed")) " all " (super::plural(checks.len(), "check")) " passed — show them" }
                        (checks_table(&checks))
                    }
                } @else {
                    p { (badge("failed")) " " (failed) " of " (super::plural(checks.len(), "check")) " failed" }
                    (checks_table(&checks))
                }
            }
            @if history_runs.len() > 1 {
                h4 { "History" }
                div.chart-box { (raw(check_history(&history_runs))) }
                p.small.legend { span.key.passed {} "passed " span.key.failed {} "failed — per run, oldest left" }
            }
        }
        h2 { "Output ports" }
        @if ports.is_empty() { (empty("This product has no output ports.")) }
        @for section in ports { (section) }
    };
    Ok((title, markup))
}

pub(crate) async fn page(ctx: Ctx, Path((domain, product)): Path<(String, String)>) -> Response {
    let page = body(&ctx, &domain, &product).await;
    ctx.render(Nav::None, page)
}
