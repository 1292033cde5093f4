//! `/api/v1/access-requests`: the access request flow of `tessera_engine::access` over
//! HTTP, as the token's principal. The engine validates, authorizes (Cedar
//! `approve_access` on the port for decisions), acts and records every step in the audit
//! log; these handlers read the request and map the answer.
//!
//! ```text
//!  POST /api/v1/access-requests                     ask (port, purpose, justification);
//!                                                   the purpose must be one the token allows
//!  GET  /api/v1/access-requests                     yours and those you may decide
//!  GET  /api/v1/access-requests/{id}
//!  POST /api/v1/access-requests/{id}/approve        {expires?, reason?}
//!  POST /api/v1/access-requests/{id}/deny           {reason}
//!  POST /api/v1/access-requests/{id}/revoke         {reason?}
//!  POST /api/v1/access-requests/{id}/withdraw       the requester, while undecided
//! ```
//!
//! An approval is honoured on the requester's next statement on every interface (HTTP,
//! PostgreSQL wire, Flight SQL), sessions opened before it included: a governed session
//! reads its grants per statement.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use tessera_catalog::AccessStatus;
use tessera_engine::access::{AccessError, AccessErrorKind, AccessFilter, AccessRequestView};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ErrorBody, ErrorKind, ServeError};
use crate::http::{JsonBody, caller, purpose_header};
use crate::state::Shared;

#[derive(OpenApi)]
#[openapi(tags((name = "access", description = "Access requests: ask for a port for a purpose; the owners of its domain approve (a grant policies read as context.granted) or deny")))]
struct AccessApi;

pub(super) fn routes() -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::with_openapi(AccessApi::openapi())
        .routes(routes!(create_request, list_requests))
        .routes(routes!(get_request))
        .routes(routes!(approve))
        .routes(routes!(deny))
        .routes(routes!(revoke))
        .routes(routes!(withdraw))
}

const INTERFACE: &str = "http";

/// A request for access.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccessRequest {
    /// The port, as `<domain>.<port>`.
    #[schema(example = "shop.orders")]
    port: String,
    /// What the data will be used for (a purpose of mesh.yaml). Absent: the
    /// `Tessera-Purpose` header, else the token's only purpose. Must be one the token
    /// allows.
    #[serde(default)]
    purpose: Option<String>,
    /// Why, for the port's owners (at most 4000 characters).
    justification: String,
}

/// An approval.
#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approval {
    /// When the grant ends: a duration from now (`30d`, `12h`, `90m`, `2w`) or an RFC 3339
    /// time. Absent: no expiry.
    #[serde(default)]
    expires: Option<String>,
    /// A note for the requester and the audit log.
    #[serde(default)]
    reason: Option<String>,
}

/// A denial.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Denial {
    /// Why, for the requester (required).
    reason: String,
}

/// A revocation.
#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Revocation {
    /// Why, for the requester and the audit log.
    #[serde(default)]
    reason: Option<String>,
}

/// An access request as the caller sees it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AccessRequestInfo {
    /// A UUID v7.
    id: String,
    /// Who asked (and is granted, when approved).
    principal: String,
    /// `<domain>.<port>`.
    port: String,
    purpose: String,
    justification: String,
    /// As stored: `requested`, `approved`, `denied`, `withdrawn` or `revoked`.
    status: String,
    /// Now: the status, with an approval past its expiry `expired`.
    state: String,
    created_at: DateTime<Utc>,
    /// Who approved, denied or withdrew it.
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    /// The decision's reason.
    reason: Option<String>,
    /// When the grant ends (approved only); absent: no expiry.
    expires_at: Option<DateTime<Utc>>,
    revoked_by: Option<String>,
    revoked_at: Option<DateTime<Utc>>,
    /// The caller made it.
    mine: bool,
    /// The caller may decide it now (approve or deny while requested, revoke while in
    /// force).
    can_decide: bool,
}

impl From<AccessRequestView> for AccessRequestInfo {
    fn from(v: AccessRequestView) -> Self {
        let r = v.request;
        AccessRequestInfo {
            id: r.id,
            principal: r.principal,
            port: r.port,
            purpose: r.purpose,
            justification: r.justification,
            status: r.status.as_str().to_string(),
            state: v.state.to_string(),
            created_at: r.created_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            reason: r.reason,
            expires_at: r.expires_at,
            revoked_by: r.revoked_by,
            revoked_at: r.revoked_at,
            mine: v.mine,
            can_decide: v.can_decide,
        }
    }
}

/// The states a list can be filtered by.
#[derive(serde::Deserialize, utoipa::ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StateFilter {
    Requested,
    Approved,
    Expired,
    Denied,
    Withdrawn,
    Revoked,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only requests in this state (`approved`: grants in force; `expired`: past their
    /// expiry).
    state: Option<StateFilter>,
    /// Only this port's requests (`<domain>.<port>`).
    port: Option<String>,
    /// `true`: only the caller's own requests; `false`: only others' that the caller may
    /// decide. Absent: both.
    mine: Option<bool>,
}

fn refused(e: AccessError) -> ServeError {
    let kind = match e.kind() {
        AccessErrorKind::Invalid => ErrorKind::BadRequest,
        AccessErrorKind::NotPermitted => ErrorKind::NotPermitted,
        AccessErrorKind::NotFound => ErrorKind::NotFound,
        AccessErrorKind::Conflict => ErrorKind::Conflict,
        AccessErrorKind::Internal => return ServeError::internal(e),
    };
    ServeError::new(kind, e.to_string())
}

fn bad_path(rejection: PathRejection) -> ServeError {
    ServeError::bad_request(format!("bad path: {}", rejection.body_text()))
}

fn bad_query(rejection: QueryRejection) -> ServeError {
    ServeError::bad_request(format!("bad query string: {}", rejection.body_text()))
}

/// Asks for access to a port for a purpose.
///
/// The owners of the port's domain (whoever policy allows `approve_access` on the port)
/// decide it. Refused at once when the port or purpose is unknown, the token may not be
/// used for the purpose, the caller already holds (or has asked for) this access, or a
/// grant would change nothing for the caller (they may already query the port, no policy
/// reads `context.granted`, or a forbid wins). Recorded in the audit log
/// (`request_access`).
#[utoipa::path(post, path = "/api/v1/access-requests", tag = "access",
    request_body = NewAccessRequest,
    responses(
        (status = 201, description = "The request, waiting for a decision", body = AccessRequestInfo),
        (status = 400, description = "An unknown port or purpose, no justification, or a request a grant could not honour", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "The token may not be used for the purpose, or the principal is not declared", body = ErrorBody),
        (status = 409, description = "The caller already holds this access, or has asked for it", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody)
    ))]
pub(super) async fn create_request(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<NewAccessRequest>,
) -> Result<(StatusCode, Json<AccessRequestInfo>), ServeError> {
    let caller = caller(&shared, &headers).await?;
    let asked = match request.purpose {
        Some(p) => Some(p),
        None => purpose_header(&headers)?,
    };
    let Some(purpose) = caller.purpose(asked.as_deref())? else {
        return Err(ServeError::bad_request(
            "purpose: say what the data will be used for (the body's `purpose`, or the Tessera-Purpose header)",
        ));
    };
    let view = shared
        .engine()
        .request_access(
            INTERFACE,
            &caller.principal,
            request.port.trim(),
            &purpose,
            &request.justification,
        )
        .await
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// The caller's access requests and those the caller may decide, newest first.
#[utoipa::path(get, path = "/api/v1/access-requests", tag = "access",
    params(ListParams),
    responses(
        (status = 200, description = "The requests", body = [AccessRequestInfo]),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "The principal is not declared", body = ErrorBody)
    ))]
pub(super) async fn list_requests(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Vec<AccessRequestInfo>>, ServeError> {
    let Query(params) = params.map_err(bad_query)?;
    let caller = caller(&shared, &headers).await?;
    let filter = AccessFilter {
        status: params.state.map(|s| match s {
            StateFilter::Requested => AccessStatus::Requested,
            StateFilter::Approved | StateFilter::Expired => AccessStatus::Approved,
            StateFilter::Denied => AccessStatus::Denied,
            StateFilter::Withdrawn => AccessStatus::Withdrawn,
            StateFilter::Revoked => AccessStatus::Revoked,
        }),
        port: params.port.map(|p| p.trim().to_string()),
        mine: params.mine,
        limit: None,
    };
    let views = shared
        .engine()
        .access_requests(&caller.principal, &filter)
        .await
        .map_err(refused)?;
    Ok(Json(
        views
            .into_iter()
            .filter(|v| match params.state {
                Some(StateFilter::Approved) => v.state == "approved",
                Some(StateFilter::Expired) => v.state == "expired",
                _ => true,
            })
            .map(AccessRequestInfo::from)
            .collect(),
    ))
}

/// One access request: the caller's own, or one the caller may decide.
#[utoipa::path(get, path = "/api/v1/access-requests/{id}", tag = "access",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = AccessRequestInfo),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "The principal is not declared", body = ErrorBody),
        (status = 404, description = "No request the caller can see has this id", body = ErrorBody)
    ))]
pub(super) async fn get_request(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AccessRequestInfo>, ServeError> {
    let Path(id) = id.map_err(bad_path)?;
    let caller = caller(&shared, &headers).await?;
    let view = shared
        .engine()
        .access_request(&caller.principal, &id)
        .await
        .map_err(refused)?;
    Ok(Json(view.into()))
}

/// Approves a request, optionally until an expiry.
///
/// Needs the Cedar action `approve_access` on the port (the context's purpose is the
/// request's); nobody decides their own request. From the requester's next statement on,
/// their sessions for the purpose hold the grant, on every interface. Recorded in the
/// audit log (`approve_access`), refusals included.
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/approve", tag = "access",
    params(("id" = String, Path, description = "The request's id")),
    request_body = Approval,
    responses(
        (status = 200, description = "The approved request", body = AccessRequestInfo),
        (status = 400, description = "A bad expiry (unreadable, or not in the future) or reason", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Policy does not let the caller decide it, or it is the caller's own", body = ErrorBody),
        (status = 404, description = "No request the caller can see has this id", body = ErrorBody),
        (status = 409, description = "It is decided already", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody)
    ))]
pub(super) async fn approve(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Approval>,
) -> Result<Json<AccessRequestInfo>, ServeError> {
    let Path(id) = id.map_err(bad_path)?;
    let caller = caller(&shared, &headers).await?;
    let expires_at = body
        .expires
        .as_deref()
        .map(|text| tessera_engine::access::parse_expiry(text, Utc::now()))
        .transpose()
        .map_err(|e| ServeError::bad_request(format!("expires: {e}")))?;
    let view = shared
        .engine()
        .approve_access(
            INTERFACE,
            &caller.principal,
            &id,
            expires_at,
            body.reason.as_deref(),
        )
        .await
        .map_err(refused)?;
    Ok(Json(view.into()))
}

/// Denies a request, with a reason the requester reads.
///
/// Needs the Cedar action `approve_access` on the port; recorded in the audit log
/// (`deny_access`).
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/deny", tag = "access",
    params(("id" = String, Path, description = "The request's id")),
    request_body = Denial,
    responses(
        (status = 200, description = "The denied request", body = AccessRequestInfo),
        (status = 400, description = "No reason", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Policy does not let the caller decide it, or it is the caller's own", body = ErrorBody),
        (status = 404, description = "No request the caller can see has this id", body = ErrorBody),
        (status = 409, description = "It is decided already", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody)
    ))]
pub(super) async fn deny(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Denial>,
) -> Result<Json<AccessRequestInfo>, ServeError> {
    let Path(id) = id.map_err(bad_path)?;
    let caller = caller(&shared, &headers).await?;
    let view = shared
        .engine()
        .deny_access(INTERFACE, &caller.principal, &id, &body.reason)
        .await
        .map_err(refused)?;
    Ok(Json(view.into()))
}

/// Takes an approved grant back; the requester's next statement no longer holds it.
///
/// Needs the Cedar action `approve_access` on the port; recorded in the audit log
/// (`revoke_access`).
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/revoke", tag = "access",
    params(("id" = String, Path, description = "The request's id")),
    request_body = Revocation,
    responses(
        (status = 200, description = "The revoked request", body = AccessRequestInfo),
        (status = 400, description = "A bad reason", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Policy does not let the caller decide it, or it is the caller's own", body = ErrorBody),
        (status = 404, description = "No request the caller can see has this id", body = ErrorBody),
        (status = 409, description = "It is not an approved grant", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody)
    ))]
pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Revocation>,
) -> Result<Json<AccessRequestInfo>, ServeError> {
    let Path(id) = id.map_err(bad_path)?;
    let caller = caller(&shared, &headers).await?;
    let view = shared
        .engine()
        .revoke_access(INTERFACE, &caller.principal, &id, body.reason.as_deref())
        .await
        .map_err(refused)?;
    Ok(Json(view.into()))
}

/// The requester withdraws a request nobody has decided yet.
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/withdraw", tag = "access",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The withdrawn request", body = AccessRequestInfo),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "It is someone else's request", body = ErrorBody),
        (status = 404, description = "No request the caller can see has this id", body = ErrorBody),
        (status = 409, description = "It is decided already", body = ErrorBody)
    ))]
pub(super) async fn withdraw(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AccessRequestInfo>, ServeError> {
    let Path(id) = id.map_err(bad_path)?;
    let caller = caller(&shared, &headers).await?;
    let view = shared
        .engine()
        .withdraw_access(INTERFACE, &caller.principal, &id)
        .await
        .map_err(refused)?;
    Ok(Json(view.into()))
}
