//! The HTTP API (axum). Every route is declared with `#[utoipa::path]`, so the OpenAPI
//! document at `/api/v1/openapi.json` is generated from the code that serves it.
//!
//! Authentication: `Authorization: Bearer <token>`; the purpose of a query: the
//! `Tessera-Purpose` header (or the body's `purpose`). Errors are one JSON shape,
//! [`ErrorBody`], with the error id the server logged.

mod access;
pub(crate) mod admin;
pub(crate) mod catalog;
mod query;
mod sla;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ErrorBody, ErrorKind, ServeError};
use crate::metrics::{Interface, Route};
use crate::state::Shared;

pub const PURPOSE_HEADER: &str = "tessera-purpose";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "A data mesh in one binary: data products with contracts, queried under one set of governance policies. Every request but health, readiness and metrics needs `Authorization: Bearer <token>` (`tessera token create`).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "query", description = "SQL over the governed mesh"),
        (name = "catalog", description = "Domains, products, ports, contracts, versions, runs, checks, lineage, search"),
        (name = "sla", description = "SLA health (red, amber, green), its history, and port lifecycle"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `tessera token create`"))
                    .build(),
            ),
        );
    }
}

/// The router and its OpenAPI document.
pub fn router(shared: Arc<Shared>) -> Router {
    // Every route that needs a caller authenticates before its extractors read the path,
    // parameters or body: a request without a good token gets 401, never a 400 that
    // tells it what the endpoint would have accepted.
    // One catalog index per engine, shared by the JSON catalog and the web UI.
    let index = Arc::new(catalog::index::IndexCache::default());
    let authenticated = OpenApiRouter::new()
        .routes(routes!(query::query))
        .merge(catalog::routes(index.clone()))
        .merge(admin::routes())
        .merge(sla::routes())
        .merge(access::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            authenticate,
        ));
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .merge(authenticated)
        .split_for_parts();
    let api = Arc::new(api);
    let limit = usize::try_from(shared.settings.max_request_size).unwrap_or(usize::MAX);
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .route("/metrics", axum::routing::get(metrics))
        .merge(crate::ui::router(index))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            observe,
        ))
        .with_state(shared)
}

/// Refuses a request without good credentials, or whose token's principal a governed
/// mesh no longer declares (removed from principals.yaml since the token was made) —
/// with the error a query session would give. Handlers still ask [`caller`] for the
/// caller (a cached lookup).
async fn authenticate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let checked = match bearer(request.headers()) {
        Ok(token) => verified(&shared, token).await.map(drop),
        Err(e) => Err(e),
    };
    match checked {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// The caller a token (or no token) stands for, refused when a governed mesh no longer
/// declares its principal — what every authenticated route checks first (the API with
/// the bearer token, the web UI with the token of its cookie).
pub(crate) async fn verified(shared: &Shared, token: Option<&str>) -> Result<Caller, ServeError> {
    let who = shared.auth.authenticate(token).await?;
    shared.engine().check_principal(&who.principal)?;
    Ok(who)
}

/// Counts each request by route and status, and times it.
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let response = next.run(request).await;
    shared
        .metrics
        .http_requests
        .get_or_create(&Route {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    shared
        .metrics
        .http_latency
        .get_or_create(&Interface { interface: "http" })
        .observe(started.elapsed().as_secs_f64());
    response
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(ErrorBody::from(&self))).into_response();
        if self.kind == ErrorKind::Unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Who the request acts as: the bearer token's principal (or the anonymous one).
pub(crate) async fn caller(shared: &Shared, headers: &HeaderMap) -> Result<Caller, ServeError> {
    Ok(shared.auth.authenticate(bearer(headers)?).await?)
}

/// The token of an `Authorization: Bearer` header, if one was sent.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ServeError> {
    Ok(match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                ServeError::new(
                    ErrorKind::Unauthenticated,
                    "the Authorization header is not text",
                )
            })?;
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(ServeError::new(
                    ErrorKind::Unauthenticated,
                    format!(
                        "the Authorization header uses the `{scheme}` scheme; send `Authorization: Bearer <token>`"
                    ),
                ));
            }
            Some(token.trim())
        }
    })
}

/// The purpose header, when sent.
pub(crate) fn purpose_header(headers: &HeaderMap) -> Result<Option<String>, ServeError> {
    match headers.get(PURPOSE_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim().to_string()))
            .map_err(|_| ServeError::bad_request("the Tessera-Purpose header is not text")),
    }
}

/// A JSON body, with errors in the API's shape: where the JSON is wrong, or that it is
/// larger than `server.max_request_size`.
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ServeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ServeError::new(
                        ErrorKind::TooLarge,
                        "the request body is larger than the server accepts (server.max_request_size)",
                    )
                } else {
                    ServeError::bad_request(format!("cannot read the request body: {rejection}"))
                }
            })?;
        json_object(&bytes).map(JsonBody)
    }
}

/// `bytes` as the JSON object `T`, with errors in the API's shape: where the JSON is wrong.
/// Only an object: serde would also read a struct from an array of its fields
/// (`["SELECT 1"]` as a query), a shape the OpenAPI document does not describe.
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ServeError> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ServeError::bad_request(
            "the request body must be a JSON object (the API is described at /api/v1/openapi.json)",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ServeError::bad_request(format!(
            "the request body is not the JSON expected: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`
    status: &'static str,
    version: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/api/v1/health", tag = "operations", security(()),
    responses((status = 200, description = "The server is up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `draining`.
    status: &'static str,
    /// Whether the metadata store answered.
    catalog: bool,
}

/// Readiness: the metadata store answers and the server is not shutting down.
#[utoipa::path(get, path = "/api/v1/ready", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready (shutting down, or the metadata store does not answer)", body = Readiness)
    ))]
async fn ready(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<Readiness>) {
    let catalog = shared.engine().catalog.products().await.is_ok();
    let draining = shared.is_draining();
    let status = if catalog && !draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if draining { "draining" } else { "ready" },
            catalog,
        }),
    )
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
}

async fn not_found(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    // Outside the API, a person with a browser asked: the UI's page.
    if !request.uri().path().starts_with("/api/") {
        let (parts, _) = request.into_parts();
        return crate::ui::not_found(&shared, &parts.headers, parts.uri.path()).await;
    }
    ServeError::not_found(format!(
        "no such endpoint: {} {} (the API is described at /api/v1/openapi.json)",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    let e = ServeError::new(
        ErrorKind::BadRequest,
        format!(
            "{} is not allowed on {} (the API is described at /api/v1/openapi.json)",
            request.method(),
            request.uri().path()
        ),
    );
    let mut response = e.into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
