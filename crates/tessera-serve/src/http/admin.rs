//! The admin endpoints: API tokens (`tokens`), the audit log (`audit`), publishing a data
//! product (`publish`). All are authenticated and recorded in the audit log.
//!
//! Every handler reads in the same order: validate → authorize → act → record.
//!
//! ```text
//!  POST   /api/v1/tokens        own tokens: no policy, but no more purposes and no longer
//!  GET    /api/v1/tokens          life than the token used; another principal's: Cedar
//!  DELETE /api/v1/tokens/{id}     `manage_tokens` on the mesh. Recorded: create_token,
//!                                 revoke_token (never the token), refusals
//!  GET    /api/v1/audit         Cedar `read_audit` for (principal, purpose), as `tessera
//!                                 audit` checks it; the read is recorded
//!  POST   /api/v1/products/{domain}/{product}/publish
//!         Cedar `publish` (as `tessera publish --as`) ─▶ stage + validate the whole mesh
//!         ─▶ global rules ─▶ write ─▶ Engine::run(Publish) ─┬─ ok: serve a fresh engine
//!                                                          └─ failed: old files back
//! ```

pub(crate) mod audit;
mod publish;
mod tokens;

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use tessera_catalog::AuditOutcome;
use tessera_engine::{Engine, EngineError};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ServeError;
use crate::state::Shared;

#[derive(OpenApi)]
#[openapi(tags((name = "admin", description = "API tokens, the audit log, publishing a data product")))]
struct AdminApi;

pub(super) fn routes() -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::with_openapi(AdminApi::openapi())
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(audit::audit))
        .routes(routes!(publish::publish))
}

/// The interface admin actions are recorded as coming from.
const INTERFACE: &str = "http";

/// Records an admin action, or fails the request: an action that cannot be recorded is
/// not reported as done.
async fn record(
    engine: &Engine,
    principal: &str,
    purpose: Option<&str>,
    action: &str,
    resources: serde_json::Value,
    outcome: AuditOutcome,
    error: Option<String>,
) -> Result<(), ServeError> {
    engine
        .audit_action_via(
            INTERFACE,
            Some(principal),
            purpose,
            action,
            resources,
            outcome,
            error,
        )
        .await
        .map_err(unrecorded)
}

fn bad_path(rejection: PathRejection) -> ServeError {
    ServeError::bad_request(format!("bad path: {}", rejection.body_text()))
}

fn bad_query(rejection: QueryRejection) -> ServeError {
    ServeError::bad_request(format!("bad query string: {}", rejection.body_text()))
}

/// A duration as users write it: `30m`, `12h`, `7d`. (`tessera_model`'s durations have
/// no days; the CLI's `audit::duration` reads them the same way.)
fn duration(field: &str, text: &str) -> Result<chrono::Duration, ServeError> {
    let t = text.trim();
    let parsed = match t.strip_suffix('d').map(str::parse::<i64>) {
        Some(Ok(days)) if days > 0 => chrono::Duration::try_days(days),
        _ => tessera_model::config::parse_duration(t)
            .and_then(|d| chrono::Duration::from_std(d).ok()),
    };
    parsed.ok_or_else(|| {
        ServeError::bad_request(format!(
            "{field}: `{text}` is not a duration; write one such as 30m, 12h or 7d"
        ))
    })
}

/// A failure to write the audit log: ours, and the request fails with it.
fn unrecorded(e: EngineError) -> ServeError {
    ServeError::internal(format!("the audit log could not be written: {e}"))
}
