//! The web UI — the marketplace: server-rendered HTML pages (maud) over the same functions
//! the JSON catalog and query handlers call, plus one CSS and one small JS file compiled
//! into the binary. No front-end toolchain; every page works without JavaScript (the JS
//! only makes search update as you type and the purpose selector submit on change).
//!
//! ```text
//!  browser ─▶ cookie `tessera_token` (HttpOnly, SameSite=Strict) ─▶ http::verified
//!          │     (the API's token check: hash lookup, expiry, revocation, principal
//!          │      still declared) ─▶ Viewer { caller, purpose }
//!          ├─▶ catalog pages: http::catalog's functions (MeshIndex, the metadata store)
//!          ├─▶ the governed sample: Shared::session ─▶ Shared::run (audited, as a query)
//!          └─▶ the audit page: http::admin::audit::authorize_read (Cedar read_audit)
//! ```
//!
//! Invariant: a page shows what its viewer's token may see through the API, and nothing
//! more: it authenticates with the API's code path and reads through the API's
//! functions. Data (rows) reach a page only through `Shared::session` + `Shared::run`.
//!
//! The cookie cannot carry `Secure`: `tessera serve` speaks plain HTTP (on loopback by
//! default), and a browser would not send a `Secure` cookie back over it. Put a TLS proxy
//! in front before serving the UI beyond loopback. Cross-site requests are refused twice:
//! SameSite=Strict keeps the cookie off them, and a POST whose `Origin` is another host
//! is refused.

mod access;
mod audit;
mod domain;
mod home;
mod product;
mod search;
mod signin;
mod svg;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::auth::Caller;
use crate::error::{ErrorKind, ServeError};
use crate::http::catalog::index::{IndexCache, MeshIndex};
use crate::state::Shared;
use tessera_engine::Engine;

/// Where the other protocols listen, for the "how to connect" snippets (set by `start`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Endpoints {
    pub pg: Option<SocketAddr>,
    pub flight: Option<SocketAddr>,
}

const TOKEN_COOKIE: &str = "tessera_token";
const PURPOSE_COOKIE: &str = "tessera_purpose";

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

/// The UI's routes. `index` is the catalog's (one index per engine for both).
pub(crate) fn router(index: Arc<IndexCache>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(home::page))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", post(signin::signout))
        .route("/purpose", post(signin::choose_purpose))
        .route("/search", get(search::page))
        .route("/products/{domain}/{product}", get(product::page))
        .route("/domains/{domain}", get(domain::page))
        .route("/audit", get(audit::page))
        .route("/access", get(access::page).post(access::submit))
        .route("/ui/ui.css", get(css))
        .route("/ui/ui.js", get(js))
        .layer(Extension(index))
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Who is looking: the caller of the session cookie's token, and the purpose chosen.
pub(crate) struct Viewer {
    pub caller: Caller,
    /// The purpose pages act for: the one chosen (when the token allows it), else the
    /// token's only purpose.
    pub purpose: Option<String>,
    /// The purposes the selector offers: the token's, else the mesh's.
    pub purposes: Vec<String>,
}

/// The value of a cookie.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for the UI's cookies: HttpOnly, SameSite=Strict, the whole site. (No
/// `Secure`: see the module's note.)
fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}"
    ))
    .expect("cookie values are tokens and purpose names: visible ASCII")
}

/// The mesh's purposes, by name (none for an ungoverned mesh).
fn mesh_purposes(engine: &Engine) -> Vec<String> {
    engine
        .governor
        .as_ref()
        .and_then(|g| g.governance.as_ref())
        .map(|g| g.settings.purposes.keys().cloned().collect())
        .unwrap_or_default()
}

impl Viewer {
    /// The viewer of a request, or the way to the sign-in page (coming back here after).
    async fn of(shared: &Shared, headers: &HeaderMap, uri: &Uri) -> Result<Viewer, Response> {
        let token = cookie(headers, TOKEN_COOKIE);
        let caller = match crate::http::verified(shared, token).await {
            Ok(c) => c,
            Err(e) if e.kind == ErrorKind::Unauthenticated => {
                let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let why = if token.is_some() { "&expired=1" } else { "" };
                return Err(
                    Redirect::to(&format!("/signin?next={}{why}", encode(next))).into_response()
                );
            }
            Err(e) => return Err(error_page(None, &e)),
        };
        let purposes = if caller.purposes.is_empty() {
            mesh_purposes(&shared.engine())
        } else {
            caller.purposes.clone()
        };
        let chosen = cookie(headers, PURPOSE_COOKIE).filter(|p| purposes.iter().any(|x| x == p));
        let purpose = caller.purpose(chosen).ok().flatten();
        Ok(Viewer {
            caller,
            purpose,
            purposes,
        })
    }
}

/// What every page handler starts with: the viewer, the engine and the catalog's index
/// (an extractor: a request without a good session is answered with the way to sign in).
pub(crate) struct Ctx {
    pub viewer: Viewer,
    pub engine: Arc<Engine>,
    pub index: Arc<MeshIndex>,
    pub shared: Arc<Shared>,
    pub headers: HeaderMap,
    /// Where the other protocols listen (absent when the router runs without `start`).
    pub endpoints: Option<Endpoints>,
}

impl FromRequestParts<Arc<Shared>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Ctx, Response> {
        let cache = parts
            .extensions
            .get::<Arc<IndexCache>>()
            .cloned()
            .expect("the UI's router adds the catalog index");
        let viewer = Viewer::of(shared, &parts.headers, &parts.uri).await?;
        let engine = shared.engine();
        let index = cache
            .get(&engine)
            .await
            .map_err(|e| error_page(Some(&viewer), &e))?;
        Ok(Ctx {
            viewer,
            engine,
            index,
            shared: shared.clone(),
            headers: parts.headers.clone(),
            endpoints: parts.extensions.get::<Endpoints>().copied(),
        })
    }
}

impl Ctx {
    /// The page: its title and body in the layout, or the error's page.
    pub(crate) fn render(&self, nav: Nav, page: Result<(String, Markup), ServeError>) -> Response {
        match page {
            Ok((title, body)) => html_page(layout(&title, Some(&self.viewer), nav, body)),
            Err(e) => error_page(Some(&self.viewer), &e),
        }
    }
}

/// Which navigation entry a page is under.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Home,
    Search,
    Access,
    Audit,
    None,
}

/// A whole page: head, the header with navigation, search, purpose and sign-out, the body.
pub(crate) fn layout(title: &str, viewer: Option<&Viewer>, nav: Nav, body: Markup) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            a href=(href) aria-current=[(n == nav).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tessera" }
                link rel="stylesheet" href="/ui/ui.css";
                script src="/ui/ui.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { span.logo aria-hidden="true" { "▦" } "Tessera" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            (item(Nav::Home, "/", "Home"))
                            (item(Nav::Search, "/search", "Search"))
                            (item(Nav::Access, "/access", "Access requests"))
                            (item(Nav::Audit, "/audit", "Audit"))
                        }
                        form.quick role="search" action="/search" method="get" {
                            label.visually-hidden for="quick-q" { "Search products" }
                            input #quick-q type="search" name="q" placeholder="Search products, columns, tags…";
                        }
                        form.purpose action="/purpose" method="post" {
                            label for="purpose-select" { "Purpose" }
                            select #purpose-select name="purpose" data-autosubmit {
                                @if v.purpose.is_none() {
                                    option value="" selected { "— choose —" }
                                }
                                @for p in &v.purposes {
                                    option value=(p) selected[v.purpose.as_deref() == Some(p.as_str())] { (p) }
                                }
                            }
                            noscript { button type="submit" { "Use" } }
                        }
                        form.signout action="/signout" method="post" {
                            span.who title="Signed in as" { (v.caller.principal) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
                footer.bottom {
                    "Tessera " (env!("CARGO_PKG_VERSION")) " · everything shown is governed for the signed-in principal and purpose · "
                    a href="/api/v1/openapi.json" { "HTTP API" }
                }
            }
        }
    }
}

pub(crate) fn html_page(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// A page for an error: its status, what happened and what to do.
pub(crate) fn error_page(viewer: Option<&Viewer>, e: &ServeError) -> Response {
    let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let (title, hint) = match e.kind {
        ErrorKind::NotPermitted => (
            "Not permitted",
            "The mesh's policies refuse this for your principal and purpose. Another purpose, or an access request, may allow it.",
        ),
        ErrorKind::NotFound => ("Not found", "Check the address, or search for it."),
        ErrorKind::Unauthenticated => ("Sign in needed", "Sign in again with a valid token."),
        ErrorKind::BadRequest => ("Bad request", "Check what was asked for."),
        ErrorKind::Unavailable => (
            "Unavailable",
            "The server is busy or shutting down; try again shortly.",
        ),
        _ => (
            "Something went wrong",
            "The server's log has the detail under the error id.",
        ),
    };
    let body = html! {
        section.error-page {
            h1 { (status.as_u16()) " — " (title) }
            p.message { (e.message) }
            p.hint { (hint) }
            p.small { "Error id " code { (e.error_id) } }
            p { a href="/" { "Home" } " · " a href="/search" { "Search" } }
        }
    };
    let mut response = html_page(layout(title, viewer, Nav::None, body));
    *response.status_mut() = status;
    response
}

/// The HTML 404 for a path outside the API (the router's fallback).
pub(crate) async fn not_found(shared: &Shared, headers: &HeaderMap, path: &str) -> Response {
    let e = ServeError::not_found(format!("no page at {path}"));
    let viewer = Viewer::of(shared, headers, &Uri::from_static("/"))
        .await
        .ok();
    error_page(viewer.as_ref(), &e)
}

/// Percent-encodes a query parameter value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A time as people read it, UTC, to the minute.
pub(crate) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How long ago, roughly.
pub(crate) fn ago(t: &DateTime<Utc>) -> String {
    let s = (Utc::now() - *t).num_seconds().max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

/// `1 product`, `2 products`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A status as a coloured badge.
pub(crate) fn badge(status: &str) -> Markup {
    let class = match status {
        "active" | "succeeded" | "ok" | "passed" | "approved" => "good",
        "deprecated" | "skipped" | "warning" | "pending" | "draft" | "proposed" => "warn",
        "retired" | "failed" | "error" | "denied" | "interrupted" | "expired" | "red" => "bad",
        "green" => "good",
        "amber" => "warn",
        _ => "plain",
    };
    html! { span class={ "badge " (class) } { (status) } }
}

/// The SLA health of each product (`domain/product` → the worst state of its ports), from
/// the server's newest evaluation (docs/sla.md); empty when it cannot be measured.
pub(crate) async fn sla_health(
    shared: &crate::state::Shared,
) -> std::collections::HashMap<String, tessera_engine::sla::SlaState> {
    let mut out = std::collections::HashMap::new();
    if let Ok((_, ports)) = crate::monitor::current(shared).await {
        // States order unknown < green < amber < red: the max is the worst known one.
        for p in ports.iter() {
            let e = out.entry(p.product.clone()).or_insert(p.state);
            *e = (*e).max(p.state);
        }
    }
    out
}

/// A product's SLA health as a badge linking to its page's service levels.
pub(crate) fn sla_badge(
    health: &std::collections::HashMap<String, tessera_engine::sla::SlaState>,
    domain: &str,
    product: &str,
) -> Markup {
    match health.get(&format!("{domain}/{product}")) {
        Some(state) => html! {
            a.plain href={ "/products/" (domain) "/" (product) } title="SLA health: the worst of its ports' SLAs" { (badge(state.as_str())) }
        },
        None => html! { span.muted title="no SLA in its contracts" { "—" } },
    }
}

/// An empty state: a sentence saying what is not there and why.
pub(crate) fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// A form POST from another site is refused (the cookie is SameSite=Strict already).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

pub(crate) fn cross_site() -> Response {
    (
        StatusCode::FORBIDDEN,
        "cross-site form submissions are refused",
    )
        .into_response()
}

/// Markup that is already HTML (SVG drawn by [`svg`]).
pub(crate) fn raw(s: String) -> Markup {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_paths_and_escapes_the_rest() {
        assert_eq!(encode("/search?q=a b&x"), "/search%3Fq%3Da%20b%26x");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tessera_token=tsr_x; b=2"),
        );
        assert_eq!(cookie(&h, TOKEN_COOKIE), Some("tsr_x"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn a_post_from_another_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
    }
}
