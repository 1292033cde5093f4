//! `/access`: access requests — a consumer's own, and the pending ones an owner decides.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Ctx, Nav, empty, error_page, html_page, layout};
use crate::error::{ErrorKind, ServeError};
use crate::http::catalog::index::IndexCache;
use crate::state::Shared;

pub(crate) async fn page(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match Ctx::of(&shared, &cache, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "Access requests" }
        (empty("Access requests are not available on this server yet."))
    };
    html_page(layout(
        "Access requests",
        Some(&ctx.viewer),
        Nav::Access,
        body,
    ))
}

#[derive(Deserialize)]
pub(crate) struct AccessForm {
    #[allow(dead_code)]
    action: String,
}

pub(crate) async fn submit(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<Arc<IndexCache>>,
    headers: HeaderMap,
    uri: Uri,
    Form(_form): Form<AccessForm>,
) -> Response {
    let ctx = match Ctx::of(&shared, &cache, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    error_page(
        Some(&ctx.viewer),
        &ServeError::new(
            ErrorKind::Unavailable,
            "access requests are not available yet",
        ),
    )
}
