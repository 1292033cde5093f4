//! The catalog: domains, products, ports, contracts, versions, runs, checks, lineage and
//! search, as JSON under `/api/v1`.
//!
//! Discovery metadata is visible to every authenticated principal: it describes data
//! (schemas, owners, versions, check results) without being data. Reading the data itself
//! is governed by the query endpoints; so the failing rows' samples a run recorded with
//! its checks are not served here.
//!
//! Each handler reads in the same order: parameters (400 on unknown ones or bad values)
//! → the caller (401) → the per-engine [`index::MeshIndex`] and the metadata store → the
//! answer (404 names what is missing and the nearest names). Everything that depends only
//! on the mesh is computed once per engine ([`index`]); a request does work proportional
//! to its answer.

pub(crate) mod index;
mod search;
pub(crate) mod types;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_catalog::{CheckRecord, PortKey, RunKind, RunQuery, RunRecord, RunStatus};
use tessera_engine::Engine;
use tessera_model::diagnostic::suggest;
use tessera_model::mesh::{Port, Product};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::index::{Direction, IndexCache, MeshIndex};
use self::types::{
    ChangeConsumers, CheckOut, DiffChange, DomainDetail, DomainList, LineageGraph, PortDetail,
    PortDiff, PortOut, ProductBrief, ProductChecks, ProductDetail, ProductList, RunDetail, RunList,
    RunOut, SearchHit, SearchMatch, SearchResults, SourceOut, VersionList, VersionOut,
};
use super::caller;
use crate::error::{ErrorBody, ServeError};
use crate::state::Shared;

pub(super) fn routes(cache: Arc<IndexCache>) -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::new()
        .routes(routes!(list_domains))
        .routes(routes!(get_domain))
        .routes(routes!(list_products))
        .routes(routes!(get_product))
        .routes(routes!(product_checks))
        .routes(routes!(get_port))
        .routes(routes!(port_contract))
        .routes(routes!(port_versions))
        .routes(routes!(port_diff))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(lineage))
        .routes(routes!(search))
        .layer(Extension(cache))
}

/// Query parameters, with errors in the API's shape: an unknown parameter or a value of
/// the wrong form is a 400 that says which.
pub(crate) struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ServeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(t)) => Ok(Params(t)),
            Err(rejection) => {
                let text = rejection.body_text();
                let why = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                // serde names the parameter before the error, which names it again.
                let why = match why.split_once(": ") {
                    Some((_, rest)) if rest.starts_with("unknown field") => rest,
                    _ => why,
                }
                .replace("unknown field", "unknown query parameter")
                .replace("duplicate field", "repeated query parameter")
                .replace(", there are no fields", ": this endpoint takes none");
                Err(ServeError::bad_request(format!(
                    "{why} (the API is described at /api/v1/openapi.json)"
                )))
            }
        }
    }
}

/// Path segments, with errors in the API's shape.
pub(crate) struct Segments<T>(pub T);

impl<S, T> FromRequestParts<S> for Segments<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ServeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| Segments(t))
            .map_err(|rejection| {
                ServeError::bad_request(format!("bad path: {}", rejection.body_text()))
            })
    }
}

/// For endpoints that take no query parameters: any is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

/// A number parameter within `range`, or `default` when absent.
fn number(
    name: &str,
    value: Option<&str>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ServeError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ServeError::bad_request(format!(
            "`{name}` must be a whole number from {} to {}; got `{value}`",
            range.start(),
            range.end()
        ))),
    }
}

/// `; did you mean `x`?` when a known name is near `got`.
fn did_you_mean<'a>(got: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    suggest(got, known)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// Up to 20 names, for a message.
fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let names: Vec<&str> = names.into_iter().take(21).collect();
    (!names.is_empty() && names.len() <= 20).then(|| names.join(", "))
}

/// The caller is authenticated; then the engine and its index.
async fn open(
    shared: &Shared,
    cache: &IndexCache,
    headers: &HeaderMap,
) -> Result<(Arc<Engine>, Arc<MeshIndex>), ServeError> {
    caller(shared, headers).await?;
    let engine = shared.engine();
    let index = cache.get(&engine).await?;
    Ok((engine, index))
}

fn store_error(e: tessera_catalog::CatalogError) -> ServeError {
    ServeError::internal(format!("metadata store: {e}"))
}

/// That a domain is not in the mesh, with the nearest name and the list of them.
fn unknown_domain(index: &MeshIndex, domain: &str) -> String {
    let names = index.domains.iter().map(|d| d.name.as_str());
    let mut message = format!(
        "no domain `{domain}` in the mesh{}",
        did_you_mean(domain, names.clone())
    );
    if let Some(all) = listed(names) {
        message.push_str(&format!(" (its domains: {all})"));
    }
    message
}

fn no_domain(index: &MeshIndex, domain: &str) -> ServeError {
    ServeError::not_found(unknown_domain(index, domain))
}

/// A `domain` query parameter must name a domain (a typo would otherwise look like an
/// empty domain).
fn check_domain_param(index: &MeshIndex, domain: Option<&str>) -> Result<(), ServeError> {
    match domain {
        Some(d) if index.domain(d).is_none() => Err(ServeError::bad_request(format!(
            "`domain`: {}",
            unknown_domain(index, d)
        ))),
        _ => Ok(()),
    }
}

fn no_product(index: &MeshIndex, domain: &str, product: &str) -> ServeError {
    let wanted = format!("{domain}/{product}");
    let Some(d) = index.mesh.domains.get(domain) else {
        let names: Vec<String> = index.product_names().collect();
        let mut message = format!("no product `{wanted}`: the mesh has no domain `{domain}`");
        if let Some(near) = suggest(&wanted, names.iter().map(String::as_str)) {
            message.push_str(&format!("; did you mean product `{near}`?"));
        }
        return ServeError::not_found(message);
    };
    let names = d.products.keys().map(|k| k.as_str());
    let mut message = format!("no product `{wanted}`");
    if let Some(near) = suggest(product, names.clone()) {
        message.push_str(&format!("; did you mean `{domain}/{near}`?"));
    }
    if let Some(all) = listed(names) {
        message.push_str(&format!(" (the products of {domain}: {all})"));
    }
    ServeError::not_found(message)
}

fn no_port(index: &MeshIndex, domain: &str, port: &str) -> ServeError {
    let wanted = format!("{domain}.{port}");
    ServeError::not_found(format!(
        "no output port `{wanted}` (ports are named `<domain>.<port>`, as SQL reads them){}",
        did_you_mean(&wanted, index.port_names())
    ))
}

pub(crate) fn product_at<'a>(
    index: &'a MeshIndex,
    domain: &str,
    product: &str,
) -> Result<(usize, &'a Product), ServeError> {
    let i = index
        .product_position(domain, product)
        .ok_or_else(|| no_product(index, domain, product))?;
    Ok((i, index.product(i)))
}

fn port_out(product: &Product, port: &Port, latest: Option<VersionOut>) -> PortOut {
    let descriptor = index::output_port_document(product, port.name.as_str());
    PortOut {
        domain: product.domain.to_string(),
        product: product.name.to_string(),
        name: port.name.to_string(),
        table: format!("{}.{}", product.domain, port.name),
        status: Engine::port_status(product, port).to_string(),
        description: index::port_description(product, port),
        kind: descriptor
            .and_then(|d| d.get("type"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        contract_id: port.contract.as_ref().map(|c| c.id.to_string()),
        contract_version: port.contract.as_ref().map(|c| c.version.clone()),
        contract_status: port.contract.as_ref().map(|c| c.status.clone()),
        write_mode: port.contract.as_ref().map(|c| c.write_mode().to_string()),
        columns: index::columns(port),
        sla: index::sla(port),
        tags: index::port_tags(product, port),
        latest_version: latest,
    }
}

/// Lists the mesh's domains.
#[utoipa::path(get, path = "/api/v1/domains", tag = "catalog",
    responses(
        (status = 200, description = "Every domain, by name", body = DomainList),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody)
    ))]
async fn list_domains(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<DomainList>, ServeError> {
    let (_, index) = open(&shared, &cache, &headers).await?;
    Ok(Json(DomainList {
        domains: index.domains.clone(),
    }))
}

/// One domain: its owners, products and sources.
#[utoipa::path(get, path = "/api/v1/domains/{domain}", tag = "catalog",
    params(("domain" = String, Path, description = "The domain's name")),
    responses(
        (status = 200, description = "The domain", body = DomainDetail),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such domain (the message suggests near names)", body = ErrorBody)
    ))]
async fn get_domain(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments(domain): Segments<String>,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<DomainDetail>, ServeError> {
    let (_, index) = open(&shared, &cache, &headers).await?;
    domain_detail(&index, &domain).map(Json)
}

/// One domain: its summary, products and sources (404 with near names).
pub(crate) fn domain_detail(index: &MeshIndex, domain: &str) -> Result<DomainDetail, ServeError> {
    let summary = index
        .domain(domain)
        .ok_or_else(|| no_domain(index, domain))?;
    let d = &index.mesh.domains[domain];
    Ok(DomainDetail {
        domain: summary.clone(),
        products: d
            .products
            .values()
            .map(|p| ProductBrief {
                name: p.name.to_string(),
                title: p.descriptor.name.clone(),
                status: p.descriptor.status.clone(),
            })
            .collect(),
        sources: d
            .sources
            .values()
            .map(|s| SourceOut {
                name: s.name.to_string(),
                table: format!("{}.{}", s.domain, s.name),
                contract_id: s.contract.id.to_string(),
                description: s
                    .contract
                    .objects
                    .first()
                    .and_then(|o| o.description.clone()),
            })
            .collect(),
    })
}

/// Filters and page of `GET /api/v1/products`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProductsParams {
    /// Only the products of this domain.
    domain: Option<String>,
    /// Only products with this status (`proposed`, `draft`, `active`, `deprecated`,
    /// `retired`).
    status: Option<String>,
    /// Only products carrying this tag (on themselves, a port, a contract or a column);
    /// case-insensitive.
    tag: Option<String>,
    /// Products per page: 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Products to skip (default 0).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
}

/// Lists products, by domain and name, a page at a time.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog",
    params(ProductsParams),
    responses(
        (status = 200, description = "A page of the products matching the filters", body = ProductList),
        (status = 400, description = "An unknown parameter, an unknown domain or status, a bad number", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody)
    ))]
async fn list_products(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Params(params): Params<ProductsParams>,
) -> Result<Json<ProductList>, ServeError> {
    let limit = number("limit", params.limit.as_deref(), 100, 1..=1000)?;
    let offset = number("offset", params.offset.as_deref(), 0, 0..=1_000_000_000)?;
    let (engine, index) = open(&shared, &cache, &headers).await?;
    let filters = ProductFilters {
        domain: params.domain.as_deref(),
        status: params.status.as_deref(),
        tag: params.tag.as_deref(),
    };
    products_page(&engine, &index, &filters, offset, limit)
        .await
        .map(Json)
}

/// What a product list is filtered by.
#[derive(Default)]
pub(crate) struct ProductFilters<'a> {
    pub domain: Option<&'a str>,
    pub status: Option<&'a str>,
    pub tag: Option<&'a str>,
}

/// A page of the products passing `filters`, each port with its newest version (400 for
/// an unknown domain or status).
pub(crate) async fn products_page(
    engine: &Engine,
    index: &MeshIndex,
    filters: &ProductFilters<'_>,
    offset: usize,
    limit: usize,
) -> Result<ProductList, ServeError> {
    check_domain_param(index, filters.domain)?;
    if let Some(s) = filters.status
        && !tessera_model::odps::STATUSES.contains(&s)
        && index.statuses().all(|k| k != s)
    {
        return Err(ServeError::bad_request(format!(
            "`status`: no product has status `{s}`{}; statuses are {}",
            did_you_mean(s, tessera_model::odps::STATUSES.iter().copied()),
            tessera_model::odps::STATUSES.join(", ")
        )));
    }
    let matching = index.filter(filters.domain, filters.status, filters.tag);
    let page: Vec<usize> = matching.iter().copied().skip(offset).take(limit).collect();
    let keys: Vec<PortKey> = page
        .iter()
        .flat_map(|i| {
            let p = &index.products[*i];
            p.ports
                .iter()
                .map(|port| PortKey::new(&p.domain, &p.name, &port.name))
        })
        .collect();
    let latest = index
        .published
        .latest(engine.catalog.as_ref(), &keys)
        .await
        .map_err(store_error)?;
    let products = page
        .into_iter()
        .map(|i| {
            let mut p = index.products[i].clone();
            for port in &mut p.ports {
                let key = PortKey::new(&p.domain, &p.name, &port.name);
                if let Some(Some((version, at))) = latest.get(&key) {
                    port.latest_version = Some(*version);
                    port.published_at = Some(*at);
                }
            }
            p.last_published_at = p.ports.iter().filter_map(|b| b.published_at).max();
            p
        })
        .collect();
    Ok(ProductList {
        total: matching.len(),
        offset,
        limit,
        products,
    })
}

/// One product: its descriptor, inputs, ports with their schemas and SLAs, newest
/// versions and last publish.
#[utoipa::path(get, path = "/api/v1/products/{domain}/{product}", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The product's domain"),
        ("product" = String, Path, description = "The product's folder name")
    ),
    responses(
        (status = 200, description = "The product", body = ProductDetail),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such product (the message suggests near names)", body = ErrorBody)
    ))]
async fn get_product(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, product)): Segments<(String, String)>,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<ProductDetail>, ServeError> {
    let (engine, index) = open(&shared, &cache, &headers).await?;
    product_detail(&engine, &index, &domain, &product)
        .await
        .map(Json)
}

/// A product with each port's newest version and its last good publish (404 with near
/// names).
pub(crate) async fn product_detail(
    engine: &Engine,
    index: &MeshIndex,
    domain: &str,
    product: &str,
) -> Result<ProductDetail, ServeError> {
    let (i, p) = product_at(index, domain, product)?;
    let catalog = engine.catalog.as_ref();
    let keys: Vec<PortKey> = p
        .ports
        .iter()
        .map(|port| Engine::port_key(p, port))
        .collect();
    let latest = futures::future::try_join_all(keys.iter().map(|k| catalog.latest_version(k)))
        .await
        .map_err(store_error)?;
    let last_publish = catalog
        .last_good_publish(p.domain.as_str(), p.name.as_str())
        .await
        .map_err(store_error)?;
    let summary = &index.products[i];
    let document = &p.descriptor.document;
    let inputs = index.inputs(i);
    Ok(ProductDetail {
        domain: summary.domain.clone(),
        name: summary.name.clone(),
        id: summary.id.clone(),
        title: summary.title.clone(),
        status: summary.status.clone(),
        version: summary.version.clone(),
        description: index::description_part(document, "purpose"),
        usage: index::description_part(document, "usage"),
        limitations: index::description_part(document, "limitations"),
        owners: summary.owners.clone(),
        team: index::team_out(&p.descriptor.team),
        tags: summary.tags.clone(),
        inputs,
        ports: p
            .ports
            .iter()
            .zip(latest)
            .map(|(port, v)| port_out(p, port, v.map(VersionOut::from)))
            .collect(),
        last_publish: last_publish.map(RunOut::from),
        descriptor: document.clone(),
    })
}

/// The checks of a product's newest run that recorded any.
#[utoipa::path(get, path = "/api/v1/products/{domain}/{product}/checks", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The product's domain"),
        ("product" = String, Path, description = "The product's folder name")
    ),
    responses(
        (status = 200, description = "The newest checks (none before the first build, test or publish)", body = ProductChecks),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such product (the message suggests near names)", body = ErrorBody)
    ))]
async fn product_checks(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, product)): Segments<(String, String)>,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<ProductChecks>, ServeError> {
    let (engine, index) = open(&shared, &cache, &headers).await?;
    let (_, p) = product_at(&index, &domain, &product)?;
    let (run, checks) = latest_checks(&engine, p).await?;
    Ok(Json(ProductChecks {
        domain: p.domain.to_string(),
        product: p.name.to_string(),
        run,
        checks,
    }))
}

/// The checks of a product's newest run that recorded any, and that run.
pub(crate) async fn latest_checks(
    engine: &Engine,
    p: &Product,
) -> Result<(Option<RunOut>, Vec<CheckOut>), ServeError> {
    // Skipped publishes (nothing changed) and interrupted runs record no checks: look at
    // the newest few runs that finished with a result.
    let found = runs_with_checks(engine, p, 5, 1).await?.into_iter().next();
    Ok(match found {
        Some((run, checks)) => (
            Some(RunOut::from(run)),
            checks.into_iter().map(CheckOut::from).collect(),
        ),
        None => (None, Vec::new()),
    })
}

/// The product's newest runs that finished (succeeded or failed) and recorded checks,
/// newest first, with their checks: at most `want` of them, among the newest `scan`
/// finished runs.
pub(crate) async fn runs_with_checks(
    engine: &Engine,
    p: &Product,
    scan: usize,
    want: usize,
) -> Result<Vec<(RunRecord, Vec<CheckRecord>)>, ServeError> {
    let catalog = engine.catalog.as_ref();
    let runs = catalog
        .runs(&RunQuery {
            domain: Some(p.domain.to_string()),
            product: Some(p.name.to_string()),
            limit: Some(50),
            ..Default::default()
        })
        .await
        .map_err(store_error)?;
    let mut found = Vec::new();
    for run in runs
        .into_iter()
        .filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Failed))
        .take(scan)
    {
        let checks = catalog.checks(&run.id).await.map_err(store_error)?;
        if !checks.is_empty() {
            found.push((run, checks));
            if found.len() >= want {
                break;
            }
        }
    }
    Ok(found)
}

/// Versions listed with a port.
const PORT_VERSIONS: usize = 20;

/// One output port: its contract's schema and SLA, and its newest versions.
#[utoipa::path(get, path = "/api/v1/ports/{domain}/{port}", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The port's domain"),
        ("port" = String, Path, description = "The port's name (SQL reads it as `<domain>.<port>`)")
    ),
    responses(
        (status = 200, description = "The port", body = PortDetail),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such port (the message suggests near names)", body = ErrorBody)
    ))]
async fn get_port(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, port)): Segments<(String, String)>,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<PortDetail>, ServeError> {
    let (engine, index) = open(&shared, &cache, &headers).await?;
    let (p, port) = index
        .port(&domain, &port)
        .ok_or_else(|| no_port(&index, &domain, &port))?;
    let mut versions = engine
        .catalog
        .versions(&Engine::port_key(p, port))
        .await
        .map_err(store_error)?;
    let version_count = versions.len();
    versions.reverse();
    versions.truncate(PORT_VERSIONS);
    let versions: Vec<VersionOut> = versions.into_iter().map(VersionOut::from).collect();
    Ok(Json(PortDetail {
        port: port_out(p, port, versions.first().cloned()),
        version_count,
        versions,
    }))
}

/// Which versions `GET …/diff` compares.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffParams {
    /// The published Delta version whose contract is the old side (default: the newest).
    #[param(value_type = Option<u32>)]
    from: Option<String>,
    /// How many days of the audit log name the consumers of a breaking change (default 30).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    since_days: Option<String>,
}

/// What changed from a published version's contract to the one the server serves now:
/// each change breaking or not and why, whether the contract's version allows the
/// breaking ones (a new major version), and the consumers each breaking change would
/// break — principals whose queries read the changed columns, products whose SQL does.
/// What `tessera diff domain.port` prints.
#[utoipa::path(get, path = "/api/v1/ports/{domain}/{port}/diff", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The port's domain"),
        ("port" = String, Path, description = "The port's name"),
        DiffParams
    ),
    responses(
        (status = 200, description = "The changes and their consumers", body = PortDiff),
        (status = 400, description = "An unknown parameter or a bad number", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such port, or it was never published (or not in that version)", body = ErrorBody)
    ))]
async fn port_diff(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, port)): Segments<(String, String)>,
    Params(params): Params<DiffParams>,
) -> Result<Json<PortDiff>, ServeError> {
    let from = match params.from.as_deref() {
        None => None,
        Some(v) => Some(number("from", Some(v), 0, 0..=(i64::MAX as usize))? as i64),
    };
    let days = number("since_days", params.since_days.as_deref(), 30, 1..=3650)?;
    let (engine, index) = open(&shared, &cache, &headers).await?;
    let (p, port) = index
        .port(&domain, &port)
        .ok_or_else(|| no_port(&index, &domain, &port))?;
    let table = format!("{}.{}", p.domain, port.name);
    let contract = port
        .contract
        .as_ref()
        .ok_or_else(|| ServeError::not_found(format!("{table} has no contract")))?;
    let (version, old) = tessera_engine::evolution::published_contract(&engine, p, port, from)
        .await
        .map_err(ServeError::not_found)?
        .ok_or_else(|| {
            ServeError::not_found(format!("{table} was never published: nothing to compare"))
        })?;
    let d = tessera_model::diff::diff(&old, contract);
    let since = chrono::Utc::now() - chrono::Duration::days(days as i64);
    let consumers = tessera_engine::evolution::consumers(&engine, &table, &d, since)
        .await
        .map_err(ServeError::internal)?;
    let gate = d.version_gate();
    Ok(Json(PortDiff {
        port: table,
        published_version: version,
        old_contract_version: d.old_version.clone(),
        new_contract_version: d.new_version.clone(),
        breaking: d.is_breaking(),
        allowed: gate.is_ok(),
        refusal: gate.err().map(|e| e.to_string()),
        since_days: days,
        changes: d.changes.iter().map(DiffChange::from).collect(),
        consumers: consumers.into_iter().map(ChangeConsumers::from).collect(),
    }))
}

/// How `GET …/contract` answers.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContractParams {
    /// `json` (default) or `yaml`; without it, an `Accept` header naming YAML
    /// (`application/yaml`) decides.
    format: Option<String>,
    /// A contract version recorded by an earlier publish; without it, the contract the
    /// server loaded.
    version: Option<String>,
}

/// A port's ODCS contract, as the document it is: YAML or JSON.
#[utoipa::path(get, path = "/api/v1/ports/{domain}/{port}/contract", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The port's domain"),
        ("port" = String, Path, description = "The port's name"),
        ContractParams
    ),
    responses(
        (status = 200, description = "The contract document, every field as written",
            content(
                (Object = "application/json"),
                (String = "application/yaml")
            )),
        (status = 400, description = "An unknown parameter or format", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such port, or no such recorded version", body = ErrorBody)
    ))]
async fn port_contract(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, port)): Segments<(String, String)>,
    Params(params): Params<ContractParams>,
) -> Result<Response, ServeError> {
    let yaml = match params.format.as_deref() {
        Some("yaml") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ServeError::bad_request(format!(
                "`format` is `json` or `yaml`; got `{other}`"
            )));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("yaml")),
    };
    let (engine, index) = open(&shared, &cache, &headers).await?;
    let (_, port) = index
        .port(&domain, &port)
        .ok_or_else(|| no_port(&index, &domain, &port))?;
    let Some(contract) = &port.contract else {
        return Err(ServeError::not_found(format!(
            "output port `{domain}.{}` has no contract",
            port.name
        )));
    };
    enum Document {
        Yaml(String),
        Json(serde_json::Value),
    }
    let document = match (params.version.as_deref(), yaml) {
        (None, true) => Document::Yaml(contract.to_yaml()),
        (None, false) => Document::Json(contract.document.clone()),
        (Some(version), yaml) => {
            let records = engine
                .catalog
                .contracts(contract.id.as_str())
                .await
                .map_err(store_error)?;
            let Some(record) = records.iter().rev().find(|r| r.version == version) else {
                let mut known: Vec<&str> = records.iter().map(|r| r.version.as_str()).collect();
                known.dedup();
                let recorded = match known.is_empty() {
                    true => " (none is recorded yet: a publish records its ports' contracts)"
                        .to_string(),
                    false => format!("; recorded versions: {}", known.join(", ")),
                };
                return Err(ServeError::not_found(format!(
                    "contract `{}` has no recorded version `{version}`{recorded}",
                    contract.id
                )));
            };
            if yaml {
                Document::Yaml(record.document_yaml.clone())
            } else {
                let node = tessera_model::yaml::parse(&contract.file, &record.document_yaml)
                    .map_err(|d| ServeError::internal(format!("a recorded contract: {d}")))?;
                Document::Json(node.to_json())
            }
        }
    };
    Ok(match document {
        Document::Yaml(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/yaml"),
            )],
            text,
        )
            .into_response(),
        Document::Json(value) => Json(value).into_response(),
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionsParams {
    /// The newest this many: 1 to 10000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
}

/// A port's committed Delta versions, newest first.
#[utoipa::path(get, path = "/api/v1/ports/{domain}/{port}/versions", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The port's domain"),
        ("port" = String, Path, description = "The port's name"),
        VersionsParams
    ),
    responses(
        (status = 200, description = "The versions, newest first", body = VersionList),
        (status = 400, description = "An unknown parameter or a bad limit", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such port (the message suggests near names)", body = ErrorBody)
    ))]
async fn port_versions(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, port)): Segments<(String, String)>,
    Params(params): Params<VersionsParams>,
) -> Result<Json<VersionList>, ServeError> {
    let limit = number("limit", params.limit.as_deref(), 100, 1..=10_000)?;
    let (engine, index) = open(&shared, &cache, &headers).await?;
    let (p, port) = index
        .port(&domain, &port)
        .ok_or_else(|| no_port(&index, &domain, &port))?;
    let mut versions = engine
        .catalog
        .versions(&Engine::port_key(p, port))
        .await
        .map_err(store_error)?;
    let total = versions.len();
    versions.reverse();
    versions.truncate(limit);
    Ok(Json(VersionList {
        domain: p.domain.to_string(),
        product: p.name.to_string(),
        port: port.name.to_string(),
        total,
        versions: versions.into_iter().map(VersionOut::from).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsParams {
    /// Only runs of this domain's products.
    domain: Option<String>,
    /// Only runs of products with this folder name.
    product: Option<String>,
    /// `build`, `test` or `publish`.
    kind: Option<String>,
    /// `running`, `succeeded`, `failed`, `skipped` or `interrupted`.
    status: Option<String>,
    /// The newest this many: 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Build, test and publish runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "catalog",
    params(RunsParams),
    responses(
        (status = 200, description = "The runs, newest first", body = RunList),
        (status = 400, description = "An unknown parameter, kind or status, or a bad limit", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody)
    ))]
async fn list_runs(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Params(params): Params<RunsParams>,
) -> Result<Json<RunList>, ServeError> {
    let limit = number("limit", params.limit.as_deref(), 50, 1..=1000)?;
    let kind = params
        .kind
        .as_deref()
        .map(str::parse::<RunKind>)
        .transpose()
        .map_err(|e| ServeError::bad_request(format!("`kind`: {e}")))?;
    let status = params
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(|e| ServeError::bad_request(format!("`status`: {e}")))?;
    let (engine, _) = open(&shared, &cache, &headers).await?;
    let runs = engine
        .catalog
        .runs(&RunQuery {
            domain: params.domain,
            product: params.product,
            kind,
            status,
            limit: Some(limit as u32),
        })
        .await
        .map_err(store_error)?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunOut::from).collect(),
    }))
}

/// One run, with its checks.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "catalog",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run and its checks, in the order they ran", body = RunDetail),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody)
    ))]
async fn get_run(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments(id): Segments<String>,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<RunDetail>, ServeError> {
    let (engine, _) = open(&shared, &cache, &headers).await?;
    let run = engine
        .catalog
        .run(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ServeError::not_found(format!(
                "no run `{id}` (GET /api/v1/runs lists the newest runs; `tessera runs` too)"
            ))
        })?;
    let checks = engine.catalog.checks(&id).await.map_err(store_error)?;
    Ok(Json(RunDetail {
        run: RunOut::from(run),
        checks: checks.into_iter().map(CheckOut::from).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LineageParams {
    /// `upstream` (what the product is built from), `downstream` (what is built from
    /// it) or `both` (default).
    direction: Option<String>,
    /// How many products away to go: 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    depth: Option<String>,
}

/// The lineage of a product: sources, ports and products up- and/or downstream of it.
#[utoipa::path(get, path = "/api/v1/lineage/{domain}/{product}", tag = "catalog",
    params(
        ("domain" = String, Path, description = "The product's domain"),
        ("product" = String, Path, description = "The product's folder name"),
        LineageParams
    ),
    responses(
        (status = 200, description = "The graph: nodes (sources, products, ports) and edges in the direction data flows", body = LineageGraph),
        (status = 400, description = "An unknown parameter, a bad direction or depth", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such product (the message suggests near names)", body = ErrorBody)
    ))]
async fn lineage(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Segments((domain, product)): Segments<(String, String)>,
    Params(params): Params<LineageParams>,
) -> Result<Json<LineageGraph>, ServeError> {
    let direction = match params.direction.as_deref() {
        None => Direction::Both,
        Some(d) => Direction::parse(d).ok_or_else(|| {
            ServeError::bad_request(format!(
                "`direction` is `upstream`, `downstream` or `both`; got `{d}`"
            ))
        })?,
    };
    let depth = number("depth", params.depth.as_deref(), 10, 1..=100)?;
    let (_, index) = open(&shared, &cache, &headers).await?;
    let (i, _) = product_at(&index, &domain, &product)?;
    Ok(Json(index.lineage(i, direction, depth as u32)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// The words to look for (in product names and titles, descriptions, port names,
    /// column names and descriptions, tags). The last word also matches as a prefix of
    /// names.
    q: Option<String>,
    /// Hits to return: 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Only products of this domain.
    domain: Option<String>,
}

/// Searches the catalog: products ranked by what matched (an exact name first, then a
/// name prefix, a tag, a column name, description words), each hit saying what matched.
#[utoipa::path(get, path = "/api/v1/search", tag = "catalog",
    params(SearchParams),
    responses(
        (status = 200, description = "The best matches, best first", body = SearchResults),
        (status = 400, description = "No query, an unknown parameter or domain, a bad limit", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody)
    ))]
async fn search(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    Params(params): Params<SearchParams>,
) -> Result<Json<SearchResults>, ServeError> {
    let query = params.q.as_deref().map(str::trim).unwrap_or_default();
    if query.is_empty() {
        return Err(ServeError::bad_request(
            "say what to search for: `q`, e.g. /api/v1/search?q=customers",
        ));
    }
    if query.len() > 1000 {
        return Err(ServeError::bad_request(
            "`q` is longer than 1000 bytes; search for a few words",
        ));
    }
    let limit = number("limit", params.limit.as_deref(), 20, 1..=100)?;
    let (_, index) = open(&shared, &cache, &headers).await?;
    search_results(&index, query, params.domain.as_deref(), limit, |_| true).map(Json)
}

/// The best `limit` products for `query` (non-empty, at most 1000 bytes), of `domain`
/// only when given (400 for an unknown one), among the products `keep` keeps (by their
/// position in the index).
pub(crate) fn search_results(
    index: &MeshIndex,
    query: &str,
    domain: Option<&str>,
    limit: usize,
    keep: impl Fn(usize) -> bool,
) -> Result<SearchResults, ServeError> {
    check_domain_param(index, domain)?;
    let (total, hits) = index.search.search(query, limit, |doc| {
        domain.is_none_or(|d| index.products[doc].domain == d) && keep(doc)
    });
    let hits = hits
        .into_iter()
        .map(|hit| {
            let p = &index.products[hit.doc];
            SearchHit {
                domain: p.domain.clone(),
                product: p.name.clone(),
                title: p.title.clone(),
                description: p.description.clone(),
                status: p.status.clone(),
                score: hit.score,
                matches: hit
                    .matches
                    .into_iter()
                    .map(|m| SearchMatch {
                        field: m.field.field,
                        port: m.field.port.clone(),
                        column: m.field.column.clone(),
                        snippet: m.snippet,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(SearchResults {
        query: query.to_string(),
        total,
        hits,
    })
}
