//! `/search?q=&domain=&status=&classification=&sla=`: the catalog's search index (what
//! `GET /api/v1/search` answers), filtered further by status and by the classifications
//! of the products' columns. Without words, the products passing the filters.
//!
//! As you type, ui.js asks for `/search?…&fragment=1` — the results alone — and swaps
//! them in; without JavaScript the form submits and the whole page comes back.

use std::collections::BTreeSet;

use axum::extract::Query;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Ctx, Nav, badge, empty, html_page, layout};
use crate::error::ServeError;
use crate::http::catalog::index::MeshIndex;
use crate::http::catalog::types::MatchField;
use crate::http::catalog::{ProductFilters, products_page, search_results};

#[derive(Deserialize, Default)]
pub(crate) struct SearchParams {
    q: Option<String>,
    domain: Option<String>,
    status: Option<String>,
    classification: Option<String>,
    /// SLA health: green, amber, red or unknown (docs/sla.md).
    sla: Option<String>,
    /// Only the results (for the as-you-type script).
    fragment: Option<String>,
}

/// A filter parameter: absent when empty (the form sends `domain=` for "any").
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Whether a product (by position) has a column with the classification.
fn has_classification(index: &MeshIndex, i: usize, classification: &str) -> bool {
    index.product(i).ports.iter().any(|port| {
        crate::http::catalog::index::columns(port)
            .iter()
            .any(|c| c.classification.as_deref() == Some(classification))
    })
}

/// Every classification some column has.
fn classifications(index: &MeshIndex) -> Vec<String> {
    let mut all = BTreeSet::new();
    for i in 0..index.products.len() {
        for port in &index.product(i).ports {
            for c in crate::http::catalog::index::columns(port) {
                if let Some(k) = c.classification {
                    all.insert(k);
                }
            }
        }
    }
    all.into_iter().collect()
}

fn field_label(f: MatchField) -> &'static str {
    match f {
        MatchField::ProductName => "name",
        MatchField::Title => "title",
        MatchField::PortName => "port",
        MatchField::Tag => "tag",
        MatchField::ColumnName => "column",
        MatchField::Description => "description",
        MatchField::PortDescription => "port description",
        MatchField::ColumnDescription => "column description",
    }
}

/// One result, whether from the index or the plain list.
struct Row {
    domain: String,
    product: String,
    title: Option<String>,
    description: Option<String>,
    status: String,
    matches: Vec<(String, String)>,
}

/// The results, narrowed to an SLA health when one is asked for.
async fn results(ctx: &Ctx, params: &SearchParams) -> Result<(usize, Vec<Row>), ServeError> {
    let (total, mut rows) = matching(ctx, params).await?;
    let Some(wanted) = given(&params.sla) else {
        return Ok((total, rows));
    };
    let health = super::sla_health(&ctx.shared).await;
    rows.retain(|r| {
        let state = health
            .get(&format!("{}/{}", r.domain, r.product))
            .map_or("unknown", |s| s.as_str());
        state == wanted
    });
    Ok((rows.len(), rows))
}

async fn matching(ctx: &Ctx, params: &SearchParams) -> Result<(usize, Vec<Row>), ServeError> {
    let index = &ctx.index;
    let (domain, status, classification) = (
        given(&params.domain),
        given(&params.status),
        given(&params.classification),
    );
    let keep = |i: usize| {
        status.is_none_or(|s| index.products[i].status == s)
            && classification.is_none_or(|c| has_classification(index, i, c))
    };
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if !q.is_empty() {
        if q.len() > 1000 {
            return Err(ServeError::bad_request(
                "the search is longer than 1000 bytes; search for a few words",
            ));
        }
        let found = search_results(index, q, domain, 50, keep)?;
        let rows = found
            .hits
            .into_iter()
            .map(|h| Row {
                domain: h.domain,
                product: h.product,
                title: h.title,
                description: h.description,
                status: h.status,
                matches: h
                    .matches
                    .into_iter()
                    .map(|m| {
                        let place = match (&m.port, &m.column) {
                            (Some(p), Some(c)) => format!("{} {p}.{c}", field_label(m.field)),
                            (Some(p), None) => format!("{} in {p}", field_label(m.field)),
                            _ => field_label(m.field).to_string(),
                        };
                        (place, m.snippet)
                    })
                    .collect(),
            })
            .collect();
        return Ok((found.total, rows));
    }
    // No words: the products passing the filters (the status filter checked as the API does).
    let filters = ProductFilters {
        domain,
        status,
        tag: None,
    };
    let list = products_page(&ctx.engine, index, &filters, 0, 1000).await?;
    let rows: Vec<Row> = list
        .products
        .into_iter()
        .filter(|p| {
            classification.is_none_or(|c| {
                index
                    .product_position(&p.domain, &p.name)
                    .is_some_and(|i| has_classification(index, i, c))
            })
        })
        .map(|p| Row {
            domain: p.domain,
            product: p.name,
            title: p.title,
            description: p.description,
            status: p.status,
            matches: Vec::new(),
        })
        .collect();
    Ok((rows.len(), rows))
}

fn results_markup(total: usize, rows: &[Row], searched: bool) -> Markup {
    html! {
        p.small aria-live="polite" { (total) " " @if total == 1 { "product" } @else { "products" }
            @if rows.len() < total { " (the best " (rows.len()) " shown)" } }
        @if rows.is_empty() {
            (empty(if searched { "Nothing matches. Try fewer words, or other filters." } else { "No product passes these filters." }))
        }
        ol.results {
            @for r in rows {
                li {
                    a.title href={ "/products/" (r.domain) "/" (r.product) } { (r.domain) "/" (r.product) }
                    " " (badge(&r.status))
                    @if let Some(t) = &r.title { @if t != &r.product { " " span.muted { (t) } } }
                    @if let Some(d) = &r.description { p { (d) } }
                    @if !r.matches.is_empty() {
                        ul.matches {
                            @for (place, snippet) in &r.matches {
                                li { span.where { (place) } " " (snippet) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) async fn page(ctx: Ctx, Query(params): Query<SearchParams>) -> Response {
    let searched = given(&params.q).is_some();
    let found = results(&ctx, &params).await;
    if params.fragment.is_some() {
        return match found {
            Ok((total, rows)) => {
                Html(results_markup(total, &rows, searched).into_string()).into_response()
            }
            Err(e) => {
                Html(html! { p.alert role="alert" { (e.message) } }.into_string()).into_response()
            }
        };
    }
    let index = &ctx.index;
    let statuses: BTreeSet<&str> = index.products.iter().map(|p| p.status.as_str()).collect();
    let selected = |v: &Option<String>, x: &str| given(v) == Some(x);
    let body = html! {
        h1 { "Search" }
        form.search #search-form action="/search" method="get" role="search" {
            div.field.grow {
                label for="q" { "Words" }
                input #q type="search" name="q" value=[params.q.as_deref()] autofocus
                    placeholder="names, descriptions, columns, tags" autocomplete="off" data-live;
            }
            div.field {
                label for="domain" { "Domain" }
                select #domain name="domain" {
                    option value="" { "any" }
                    @for d in &index.domains { option value=(d.name) selected[selected(&params.domain, &d.name)] { (d.name) } }
                }
            }
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "any" }
                    @for s in &statuses { option value=(s) selected[selected(&params.status, s)] { (s) } }
                }
            }
            div.field {
                label for="sla" { "SLA health" }
                select #sla name="sla" {
                    option value="" { "any" }
                    @for h in ["red", "amber", "green", "unknown"] { option value=(h) selected[selected(&params.sla, h)] { (h) } }
                }
            }
            div.field {
                label for="classification" { "Has a column classified" }
                select #classification name="classification" {
                    option value="" { "any" }
                    @for c in classifications(index) { option value=(c) selected[selected(&params.classification, &c)] { (c) } }
                }
            }
            button.primary type="submit" { "Search" }
        }
        div #results {
            @match &found {
                Ok((total, rows)) => (results_markup(*total, rows, searched)),
                Err(e) => p.alert role="alert" { (e.message) },
            }
        }
    };
    html_page(layout("Search", Some(&ctx.viewer), Nav::Search, body))
}
