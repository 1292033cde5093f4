//! `GET /api/v1/audit`: the audit log, for a caller and purpose that policy lets
//! `read_audit` — checked, and the read recorded, as `tessera audit` does.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use tessera_catalog::{AuditOutcome, AuditQuery, AuditRecord};
use tessera_governance::{Action, Resource, SessionError};

use super::{bad_query, duration, record};
use crate::error::{ErrorBody, ErrorKind, ServeError};
use crate::http::{caller, purpose_header};
use crate::state::Shared;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    /// Records of this principal only.
    principal: Option<String>,
    /// Records of this purpose only.
    purpose: Option<String>,
    /// Records that read this table (`domain.port`).
    table: Option<String>,
    /// Records of this action (`query`, `publish`, `read_audit`, `create_token`, …).
    action: Option<String>,
    /// Records of the last `30m`, `12h`, `7d`, ….
    since: Option<String>,
    /// `ok`, `denied` or `error`.
    outcome: Option<String>,
    /// At most this many records, newest first (default 50, at most 10 000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// One audit record.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEntry {
    /// Its place in the log, from 1.
    seq: i64,
    at: DateTime<Utc>,
    principal: String,
    purpose: Option<String>,
    /// `cli`, `http`, `pg`, `flight`.
    interface: String,
    /// `query`, `publish`, `read_audit`, `create_token`, `revoke_token`, …
    action: String,
    statement: Option<String>,
    /// What it touched: tables read (with columns), products published, tokens made.
    #[schema(value_type = Object)]
    resources: serde_json::Value,
    row_count: Option<i64>,
    /// `ok`, `denied` or `error`.
    outcome: String,
    error: Option<String>,
    /// The previous record's hash (the log is a chain; `tessera audit verify` checks it).
    prev_hash: String,
    hash: String,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> AuditEntry {
        AuditEntry {
            seq: r.seq,
            at: r.at,
            principal: r.principal,
            purpose: r.purpose,
            interface: r.interface,
            action: r.action,
            statement: r.statement,
            resources: r.resources,
            row_count: r.row_count,
            outcome: r.outcome.as_str().to_string(),
            error: r.error,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Reads the audit log, newest first.
///
/// Needs the Cedar action `read_audit` on the mesh for the caller and the purpose (the
/// `Tessera-Purpose` header, else the token's only purpose), checked as `tessera audit`
/// checks it. The read itself is recorded, allowed or refused.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin",
    params(AuditParams,
        ("Tessera-Purpose" = Option<String>, Header, description = "Why the log is read (a purpose of mesh.yaml)")),
    responses(
        (status = 200, description = "The matching records, newest first", body = Vec<AuditEntry>),
        (status = 400, description = "A bad filter, no purpose, or an unknown purpose", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Refused by policy (the message names why)", body = ErrorBody)
    ))]
pub(super) async fn audit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ServeError> {
    // Validate.
    let Query(params) = params.map_err(bad_query)?;
    let since = params
        .since
        .as_deref()
        .map(|t| duration("since", t))
        .transpose()?
        .map(|d| Utc::now() - d);
    let outcome = params
        .outcome
        .as_deref()
        .map(|o| {
            o.parse::<AuditOutcome>()
                .map_err(|e| ServeError::bad_request(format!("outcome: {e}")))
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(50);
    if limit == 0 || limit > 10_000 {
        return Err(ServeError::bad_request("limit: between 1 and 10000"));
    }

    // Authorize (as `tessera audit`), and record the read.
    let caller = caller(&shared, &headers).await?;
    let purpose = caller.purpose(purpose_header(&headers)?.as_deref())?;
    let engine = shared.engine();
    authorize_read(&engine, &caller.principal, purpose.as_deref()).await?;

    // Act.
    let query = AuditQuery {
        principal: params.principal,
        purpose: params.purpose,
        resource: params.table,
        action: params.action,
        outcome,
        since,
        limit: Some(limit),
        ..Default::default()
    };
    let records = engine
        .catalog
        .audit(&query)
        .await
        .map_err(ServeError::internal)?;
    Ok(Json(records.into_iter().map(AuditEntry::from).collect()))
}

/// Whether `principal` may read the audit log for `purpose` (Cedar `read_audit` on the
/// mesh, as `tessera audit` checks it); the attempt is recorded, allowed or refused. An
/// ungoverned mesh allows it. Every reader of the log (the API, the web UI) asks here.
pub(crate) async fn authorize_read(
    engine: &tessera_engine::Engine,
    principal: &str,
    purpose: Option<&str>,
) -> Result<(), ServeError> {
    if let Some(gov) = engine.governor.as_ref().and_then(|g| g.governance.as_ref()) {
        let Some(purpose) = purpose else {
            return Err(ServeError::bad_request(format!(
                "reading the audit log needs a purpose: send the Tessera-Purpose header (purposes: {})",
                gov.settings
                    .purposes
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let session = gov.session(principal, purpose).map_err(|e| match e {
            SessionError::UnknownPurpose { .. } => ServeError::bad_request(e.to_string()),
            SessionError::UnknownPrincipal { .. } => {
                ServeError::new(ErrorKind::NotPermitted, format!("not permitted: {e}"))
            }
        })?;
        let verdict = gov.authorize(&session, Action::ReadAudit, &Resource::Mesh);
        record(
            engine,
            principal,
            Some(purpose),
            "read_audit",
            serde_json::json!([]),
            if verdict.allowed {
                AuditOutcome::Ok
            } else {
                AuditOutcome::Denied
            },
            (!verdict.allowed).then(|| verdict.explain()),
        )
        .await?;
        if !verdict.allowed {
            return Err(ServeError::new(
                ErrorKind::NotPermitted,
                format!(
                    "not permitted: {} may not read the audit log for purpose {purpose}: {}",
                    principal,
                    verdict.explain()
                ),
            ));
        }
    }
    Ok(())
}
