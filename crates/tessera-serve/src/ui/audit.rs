//! `/audit`: the audit log for principals policy lets `read_audit` (checked and recorded
//! by the API's own check, `http::admin::audit::authorize_read`), filtered by principal,
//! purpose and port; and "who read this subject's data": the recorded queries over every
//! port holding the subject's kind (as `tessera subject export` lists them), with the
//! columns each read and whether its statement names the key.

use axum::extract::Query;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tessera_catalog::{AuditQuery, AuditRecord};
use tessera_engine::privacy::{Subject, subject_ports};

use super::{Ctx, Nav, badge, empty, when};
use crate::error::{ErrorKind, ServeError};
use crate::http::admin::audit::authorize_read;

const LIMIT: usize = 200;

#[derive(Deserialize, Default)]
pub(crate) struct AuditParams {
    principal: Option<String>,
    purpose: Option<String>,
    port: Option<String>,
    /// `<subject-key column or kind>=<key>`, e.g. `customer_id=4711`.
    subject: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The tables a record read, with the columns (and how each was seen).
fn reads(r: &AuditRecord) -> Vec<(String, Vec<String>)> {
    r.resources
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|t| {
                    let table = t.get("table")?.as_str()?.to_string();
                    let columns = t
                        .get("columns")
                        .and_then(Value::as_array)
                        .map(|cs| {
                            cs.iter()
                                .filter_map(|c| {
                                    let name = c.get("name")?.as_str()?;
                                    let access = c.get("access").and_then(Value::as_str);
                                    Some(match access {
                                        Some("visible") | None => name.to_string(),
                                        Some(a) => match a
                                            .strip_prefix("masked (")
                                            .and_then(|m| m.strip_suffix(')'))
                                        {
                                            Some(mask) => format!("{name} (masked: {mask})"),
                                            None => format!("{name} ({a})"),
                                        },
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Some((table, columns))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn records_table(records: &[AuditRecord], key: Option<&str>) -> Markup {
    html! {
        div.scroll {
            table.compact.audit {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Principal" }
                    th scope="col" { "Purpose" } th scope="col" { "Via" } th scope="col" { "Action" }
                    th scope="col" { "Read" } th scope="col" { "Outcome" }
                    @if key.is_some() { th scope="col" { "Names the key" } }
                } }
                tbody { @for r in records { tr {
                    td { (r.seq) } td { (when(&r.at)) } td { (r.principal) }
                    td { (r.purpose.as_deref().unwrap_or("—")) } td { (r.interface) } td { (r.action) }
                    td {
                        @for (t, cols) in reads(r) { code { (t) } @if !cols.is_empty() { span.small { ": " (cols.join(", ")) } } br; }
                        @if let Some(s) = &r.statement { details { summary.small { "statement" } pre { code { (s) } } } }
                    }
                    td { (badge(r.outcome.as_str())) @if let Some(e) = &r.error { br; span.small { (e) } } }
                    @if let Some(k) = key { td { @if r.statement.as_deref().is_some_and(|s| s.contains(k)) { "yes" } @else { span.muted { "no" } } } }
                } } }
            }
        }
    }
}

async fn body(ctx: &Ctx, params: &AuditParams) -> Result<Markup, ServeError> {
    let Ctx { engine, viewer, .. } = ctx;
    authorize_read(engine, &viewer.caller.principal, viewer.purpose.as_deref()).await?;
    let store =
        |e: tessera_catalog::CatalogError| ServeError::internal(format!("metadata store: {e}"));
    let subject = given(&params.subject);
    let (records, subject_view) = match &subject {
        Some(text) => {
            let s = Subject::parse(&engine.mesh, text)
                .map_err(|e| ServeError::bad_request(e.to_string()))?;
            let ports = subject_ports(&engine.mesh, &s.kind);
            let mut found = Vec::new();
            for p in &ports {
                found.extend(
                    engine
                        .catalog
                        .audit(&AuditQuery {
                            resource: Some(p.table.clone()),
                            action: Some("query".into()),
                            limit: Some(LIMIT),
                            ..Default::default()
                        })
                        .await
                        .map_err(store)?,
                );
            }
            found.sort_by_key(|r| std::cmp::Reverse(r.seq));
            found.dedup_by_key(|r| r.seq);
            found.truncate(LIMIT);
            let tables: Vec<String> = ports.into_iter().map(|p| p.table).collect();
            (found, Some((s, tables)))
        }
        None => {
            let q = AuditQuery {
                principal: given(&params.principal),
                purpose: given(&params.purpose),
                resource: given(&params.port),
                limit: Some(LIMIT),
                ..Default::default()
            };
            (engine.catalog.audit(&q).await.map_err(store)?, None)
        }
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    Ok(html! {
        h1 { "Audit log" }
        p.lead { "Every statement on every interface, every refusal, every administrative action — newest first. "
            "Your reading of it is recorded too." }
        div.columns {
            form.filters method="get" action="/audit" {
                h2 { "Filter" }
                div.field { label for="a-principal" { "Principal" } input #a-principal name="principal" value=(value(&params.principal)); }
                div.field { label for="a-purpose" { "Purpose" } input #a-purpose name="purpose" value=(value(&params.purpose)); }
                div.field { label for="a-port" { "Port (domain.port)" } input #a-port name="port" value=(value(&params.port)) placeholder="shop.customers"; }
                button.primary type="submit" { "Show" }
            }
            form.filters method="get" action="/audit" {
                h2 { "Who read this subject's data" }
                div.field { label for="a-subject" { "Subject (key column or kind = key)" }
                    input #a-subject name="subject" value=(value(&params.subject)) placeholder="customer_id=4711"; }
                button.primary type="submit" { "Find reads" }
                p.small { "The log records which ports and columns a query read, not which rows: "
                    "this lists every query over a port holding this kind of subject, and says whether its statement names the key." }
            }
        }
        @if let Some((s, tables)) = &subject_view {
            h2 { "Reads of ports holding " (s.kind) " " code { (s.key) } }
            p.meta { "Ports: " @if tables.is_empty() { "none" } @else { (tables.join(", ")) } }
        } @else {
            h2 { "Records" }
        }
        @if records.is_empty() { (empty("No records match.")) }
        @else { (records_table(&records, subject_view.as_ref().map(|(s, _)| s.key.as_str()))) }
    })
}

pub(crate) async fn page(ctx: Ctx, Query(params): Query<AuditParams>) -> Response {
    let page = match body(&ctx, &params).await {
        Err(e) if e.kind == ErrorKind::BadRequest && ctx.viewer.purpose.is_none() => {
            Err(ServeError::bad_request(
                "reading the audit log needs a purpose: choose one at the top right",
            ))
        }
        page => page.map(|b| ("Audit".to_string(), b)),
    };
    ctx.render(Nav::Audit, page)
}
