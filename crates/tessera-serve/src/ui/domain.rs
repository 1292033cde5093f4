//! `/domains/{domain}`: a domain's owners, its products with their health (status, last
//! publish, the newest checks), and its sources.

use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};

use super::{Ctx, Nav, ago, badge, empty, when};
use crate::error::ServeError;
use crate::http::catalog::{ProductFilters, domain_detail, latest_checks, products_page};

async fn body(ctx: &Ctx, domain: &str) -> Result<(String, Markup), ServeError> {
    let Ctx { engine, index, .. } = ctx;
    let detail = domain_detail(index, domain)?;
    let filters = ProductFilters {
        domain: Some(domain),
        ..Default::default()
    };
    let products = products_page(engine, index, &filters, 0, 1000).await?;
    let mut health = Vec::new();
    for p in &products.products {
        let i = index
            .product_position(&p.domain, &p.name)
            .expect("listed products are in the index");
        let (run, checks) = latest_checks(engine, index.product(i)).await?;
        let failed = checks.iter().filter(|c| !c.passed).count();
        health.push((run, checks.len(), failed));
    }
    let sla = super::sla_health(&ctx.shared).await;
    let d = &detail.domain;
    let markup = html! {
        p.crumbs { a href="/" { "Home" } " / domain" }
        h1 { (d.name) }
        @if let Some(text) = &d.description { p.lead { (text) } }
        dl.facts {
            dt { "Owners" } dd { @if d.owners.is_empty() { span.muted { "none declared (domain.yaml team)" } } @else { (d.owners.join(", ")) } }
            @if let Some(team) = &d.team {
                @if let Some(name) = &team.name { dt { "Team" } dd { (name) } }
                @if !team.members.is_empty() {
                    dt { "Members" }
                    dd { @for (n, m) in team.members.iter().enumerate() {
                        @if n > 0 { ", " }
                        (m.name.as_deref().unwrap_or(&m.username))
                        @if let Some(r) = &m.role { " (" (r) ")" }
                    } }
                }
            }
            dt { "Products" } dd { (d.product_count) }
            dt { "Sources" } dd { (d.source_count) }
        }
        h2 { "Products and health" }
        @if products.products.is_empty() { (empty("This domain has no products yet.")) }
        @else {
            table {
                thead { tr { th scope="col" { "Product" } th scope="col" { "Status" } th scope="col" { "SLA" } th scope="col" { "Last publish" } th scope="col" { "Newest checks" } } }
                tbody {
                    @for (p, (run, total, failed)) in products.products.iter().zip(&health) {
                        tr {
                            td { a href={ "/products/" (p.domain) "/" (p.name) } { (p.name) }
                                @if let Some(t) = &p.title { @if t != &p.name { br; span.small { (t) } } } }
                            td { (badge(&p.status)) }
                            td { (super::sla_badge(&sla, &p.domain, &p.name)) }
                            td { @match &p.last_published_at { Some(t) => span title=(when(t)) { (ago(t)) }, None => span.muted { "never" } } }
                            td {
                                @if *total == 0 { span.muted { "no checks recorded" } }
                                @else if *failed == 0 { (badge("passed")) " " (total) " checks" }
                                @else { (badge("failed")) " " (failed) " of " (total) " failed" }
                                @if let Some(r) = run { br; span.small { (r.kind) " " (ago(&r.started_at)) } }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Sources" }
        @if detail.sources.is_empty() { (empty("No sources: this domain's products read other products' ports.")) }
        ul.plain {
            @for s in &detail.sources {
                li { code { (s.table) } @if let Some(d) = &s.description { " — " (d) } }
            }
        }
    };
    Ok((d.name.clone(), markup))
}

pub(crate) async fn page(ctx: Ctx, Path(domain): Path<String>) -> Response {
    let page = body(&ctx, &domain).await;
    ctx.render(Nav::None, page)
}
