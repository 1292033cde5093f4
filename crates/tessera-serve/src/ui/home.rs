//! `/`: the domains, the products with their status and SLA health, recent publishes,
//! failing checks.

use std::collections::HashSet;
use std::sync::Arc;

use axum::response::Response;
use maud::{Markup, html};
use tessera_catalog::{RunKind, RunQuery, RunStatus};
use tessera_engine::Engine;

use super::{Ctx, Nav, ago, badge, empty, plural};
use crate::error::ServeError;
use crate::http::catalog::types::CheckOut;
use crate::http::catalog::{ProductFilters, latest_checks, products_page};

/// Products listed on the home page; more are a search away.
const PRODUCTS: usize = 200;

pub(crate) async fn page_of(ctx: &Ctx) -> Result<Markup, ServeError> {
    let Ctx { engine, index, .. } = ctx;
    let products = products_page(engine, index, &ProductFilters::default(), 0, PRODUCTS).await?;
    let publishes = engine
        .catalog
        .runs(&RunQuery {
            kind: Some(RunKind::Publish),
            limit: Some(8),
            ..Default::default()
        })
        .await
        .map_err(|e| ServeError::internal(format!("metadata store: {e}")))?;
    let failing = failing_checks(engine, index).await?;
    let health = super::sla_health(&ctx.shared).await;
    Ok(html! {
        h1 { "Data products" }
        p.lead { (plural(index.domains.len(), "domain")) " · " (plural(products.total, "product")) ". "
            "Find one, read its contract, see a governed sample, and ask for access." }
        section aria-labelledby="domains-h" {
            h2 #domains-h { "Domains" }
            @if index.domains.is_empty() { (empty("This mesh has no domains yet.")) }
            ul.cards {
                @for d in &index.domains {
                    li.card {
                        a.title href={ "/domains/" (d.name) } { (d.name) }
                        @if let Some(text) = &d.description { p { (text) } }
                        p.meta { (plural(d.product_count, "product")) " · " (plural(d.source_count, "source"))
                            @if !d.owners.is_empty() { " · owners: " (d.owners.join(", ")) } }
                    }
                }
            }
        }
        div.columns {
            section aria-labelledby="products-h" {
                h2 #products-h { "Products" }
                @if products.products.is_empty() { (empty("No products yet: add one with `tessera new product`.")) }
                @else {
                    table {
                        thead { tr { th scope="col" { "Product" } th scope="col" { "Status" } th scope="col" { "SLA" } th scope="col" { "Ports" } th scope="col" { "Last publish" } } }
                        tbody {
                            @for p in &products.products {
                                tr {
                                    td { a href={ "/products/" (p.domain) "/" (p.name) } { (p.domain) "/" (p.name) }
                                        @if let Some(t) = &p.title { @if t != &p.name { br; span.small { (t) } } } }
                                    td { (badge(&p.status)) }
                                    td { (super::sla_badge(&health, &p.domain, &p.name)) }
                                    td { (p.ports.len()) }
                                    td { @match &p.last_published_at { Some(t) => span title=(super::when(t)) { (ago(t)) }, None => span.muted { "never" } } }
                                }
                            }
                        }
                    }
                    @if products.total > products.products.len() {
                        p.small { "Showing " (products.products.len()) " of " (products.total) ". " a href="/search" { "Search for the rest" } "." }
                    }
                }
            }
            div {
                section aria-labelledby="publishes-h" {
                    h2 #publishes-h { "Recent publishes" }
                    @if publishes.is_empty() { (empty("Nothing has been published yet.")) }
                    ul.plain {
                        @for r in &publishes {
                            li { a href={ "/products/" (r.domain) "/" (r.product) } { (r.domain) "/" (r.product) } " "
                                (badge(r.status.as_str())) " "
                                span.small title=(super::when(&r.started_at)) { (ago(&r.started_at)) }
                                @if let Some(rows) = r.rows { span.small { " · " (rows) " rows" } } }
                        }
                    }
                }
                section aria-labelledby="failing-h" {
                    h2 #failing-h { "Failing checks" }
                    @if failing.is_empty() { (empty("No failing checks in the products' newest runs.")) }
                    ul.plain {
                        @for (product, c) in &failing {
                            li { a href={ "/products/" (product) } { (product) } " · " code { (c.port) } " "
                                (badge(&c.severity)) " " (c.name)
                                @if let Some(m) = &c.message { br; span.small { (m) } } }
                        }
                    }
                }
            }
        }
    })
}

/// The failed checks of each product's newest run that recorded checks, for the products
/// of the newest runs (at most 20 products, so the page stays fast on a large mesh).
async fn failing_checks(
    engine: &Arc<Engine>,
    index: &crate::http::catalog::index::MeshIndex,
) -> Result<Vec<(String, CheckOut)>, ServeError> {
    let runs = engine
        .catalog
        .runs(&RunQuery {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .map_err(|e| ServeError::internal(format!("metadata store: {e}")))?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in runs
        .iter()
        .filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Failed))
    {
        if seen.len() >= 20 || !seen.insert((r.domain.clone(), r.product.clone())) {
            continue;
        }
        let Some(i) = index.product_position(&r.domain, &r.product) else {
            continue;
        };
        let (_, checks) = latest_checks(engine, index.product(i)).await?;
        let name = format!("{}/{}", r.domain, r.product);
        out.extend(
            checks
                .into_iter()
                .filter(|c| !c.passed)
                .map(|c| (name.clone(), c)),
        );
    }
    Ok(out)
}

pub(crate) async fn page(ctx: Ctx) -> Response {
    let body = page_of(&ctx).await.map(|b| ("Home".to_string(), b));
    ctx.render(Nav::Home, body)
}
