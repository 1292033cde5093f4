//! `/api/v1/tokens`: API tokens over HTTP. One's own need no policy, but a token made
//! with a token can do no more than it (purposes, expiry); another principal's need the
//! Cedar action `manage_tokens` on the mesh. Creations and revocations are recorded
//! (never the token); so are refusals.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use tessera_catalog::{AuditOutcome, CatalogError, TokenRecord};
use tessera_engine::Engine;
use tessera_engine::publish::operation_session;
use tessera_governance::{Action, Resource};

use super::{bad_path, bad_query, duration, record};
use crate::auth::Caller;
use crate::error::{ErrorBody, ErrorKind, ServeError};
use crate::http::{JsonBody, caller};
use crate::state::Shared;

/// A token to make.
#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTokenRequest {
    /// Whose token; default: the caller. Another principal's needs `manage_tokens`.
    #[serde(default)]
    principal: Option<String>,
    /// The purposes it may be used for (purposes of mesh.yaml). Absent or empty: any the
    /// principal may use — except that a token made for oneself with a token bound to
    /// purposes is bound to those (or to some of them).
    #[serde(default)]
    purposes: Option<Vec<String>>,
    /// How long it is valid: `30m`, `12h`, `30d`. Absent: no expiry — except that a
    /// token made for oneself with an expiring token expires with it (or sooner).
    #[serde(default)]
    expires_in: Option<String>,
    /// What it is for (shown by `tessera token list`).
    #[serde(default)]
    note: Option<String>,
}

/// A new token. `token` is shown this once: the server keeps only its hash.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedToken {
    /// The secret to send as `Authorization: Bearer <token>`. Store it as a secret.
    token: String,
    id: String,
    principal: String,
    /// Empty: any purpose the principal may use.
    purposes: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    note: Option<String>,
}

/// A token as the server knows it (never the secret).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TokenInfo {
    id: String,
    principal: String,
    /// Empty: any purpose the principal may use.
    purposes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    state: &'static str,
    created_at: DateTime<Utc>,
    /// Who made it: a principal (over the API) or `local:<user>` (the CLI).
    created_by: String,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    note: Option<String>,
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> TokenInfo {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|at| at <= Utc::now()) {
            "expired"
        } else {
            "active"
        };
        TokenInfo {
            id: t.id,
            principal: t.principal,
            purposes: t.purposes,
            state,
            created_at: t.created_at,
            created_by: t.created_by,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
            note: t.note,
        }
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenListParams {
    /// Whose tokens; default: the caller's. Another principal's need `manage_tokens`.
    principal: Option<String>,
    /// Every principal's tokens (needs `manage_tokens`).
    #[serde(default)]
    all: bool,
}

/// Managing tokens needs a token: a request without one (the anonymous principal of
/// `server.anonymous`) must not mint credentials.
fn token_holder(caller: &Caller) -> Result<(), ServeError> {
    if caller.token_id.is_none() {
        return Err(ServeError::new(
            ErrorKind::Unauthenticated,
            "managing tokens needs a token: send `Authorization: Bearer <token>` (requests without one act as the anonymous principal, which may not manage tokens)",
        ));
    }
    Ok(())
}

/// Whether `caller` may manage the tokens of `owner` (`None`: every principal's). One's
/// own need no policy; another's need `manage_tokens` on the mesh. A refusal is recorded
/// as `action`.
async fn may_manage_tokens(
    engine: &Engine,
    caller: &Caller,
    owner: Option<&str>,
    action: &str,
) -> Result<(), ServeError> {
    if owner == Some(caller.principal.as_str()) {
        return Ok(());
    }
    let whose = match owner {
        Some(o) => format!("the tokens of {o}"),
        None => "every principal's tokens".into(),
    };
    let Some(gov) = engine.governor.as_ref().and_then(|g| g.governance.as_ref()) else {
        return Err(ServeError::new(
            ErrorKind::NotPermitted,
            format!(
                "not permitted: {} may not manage {whose}: this mesh is not governed (no policies/principals.yaml), so no policy can grant manage_tokens; use `tessera token` on the server's host",
                caller.principal
            ),
        ));
    };
    let explain = match gov.principals.get(&caller.principal) {
        None => format!(
            "`{}` is not declared in policies/principals.yaml",
            caller.principal
        ),
        Some(who) => {
            let session = operation_session(who, Action::ManageTokens);
            let verdict = gov.authorize(&session, Action::ManageTokens, &Resource::Mesh);
            if verdict.allowed {
                return Ok(());
            }
            verdict.explain()
        }
    };
    record(
        engine,
        &caller.principal,
        None,
        action,
        serde_json::json!([{ "principal": owner.unwrap_or("*") }]),
        AuditOutcome::Denied,
        Some(explain.clone()),
    )
    .await?;
    Err(ServeError::new(
        ErrorKind::NotPermitted,
        format!(
            "not permitted: {} may not manage {whose} (manage_tokens): {explain}",
            caller.principal
        ),
    ))
}

/// The record of the token the caller used.
async fn caller_token(engine: &Engine, caller: &Caller) -> Result<TokenRecord, ServeError> {
    let id = caller.token_id.as_deref().unwrap_or_default();
    engine
        .catalog
        .tokens(Some(&caller.principal))
        .await
        .map_err(ServeError::internal)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ServeError::new(ErrorKind::Unauthenticated, "the token was not found"))
}

/// Creates an API token.
///
/// For oneself, no policy is needed, but the new token can do no more than the token
/// used: its purposes are among that token's (when it is bound to purposes) and it
/// expires no later (when that one expires). A token for another principal needs the
/// Cedar action `manage_tokens` on the mesh. The creation is recorded in the audit log
/// (`create_token`), without the token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token (shown once) and what it allows", body = CreatedToken),
        (status = 400, description = "An unknown principal or purpose, a bad duration", body = ErrorBody),
        (status = 401, description = "No or bad credentials, or none given (anonymous)", body = ErrorBody),
        (status = 403, description = "Another principal's token without `manage_tokens`, or more than the caller's token allows", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody)
    ))]
pub(super) async fn create_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ServeError> {
    // Validate.
    let mut purposes: Vec<String> = Vec::new();
    for p in request.purposes.iter().flatten() {
        let p = p.trim().to_string();
        if !p.is_empty() && !purposes.contains(&p) {
            purposes.push(p);
        }
    }
    let expires_in = request
        .expires_in
        .as_deref()
        .map(|t| duration("expires_in", t))
        .transpose()?;
    let note = request
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ServeError::bad_request("note: at most 500 characters"));
    }
    let caller = caller(&shared, &headers).await?;
    token_holder(&caller)?;
    let engine = shared.engine();
    let principal = match request.principal.as_deref().map(str::trim) {
        Some("") | None => caller.principal.clone(),
        Some(p) => p.to_string(),
    };
    if let Some(gov) = engine.governor.as_ref().and_then(|g| g.governance.as_ref()) {
        if gov.principals.get(&principal).is_none() {
            let near = tessera_model::diagnostic::suggest(
                &principal,
                gov.principals.principals.keys().map(String::as_str),
            );
            return Err(ServeError::bad_request(format!(
                "principal: `{principal}` is not declared in policies/principals.yaml{}",
                near.map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default()
            )));
        }
        if let Some(p) = purposes
            .iter()
            .find(|p| !gov.settings.purposes.contains_key(*p))
        {
            return Err(ServeError::bad_request(format!(
                "purposes: `{p}` is not a purpose of this mesh (mesh.yaml purposes: {})",
                gov.settings
                    .purposes
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }

    // Authorize.
    may_manage_tokens(&engine, &caller, Some(&principal), "create_token").await?;
    let mut expires_at = expires_in.map(|d| Utc::now() + d);
    if principal == caller.principal {
        if !caller.purposes.is_empty() {
            if purposes.is_empty() {
                purposes = caller.purposes.clone();
            } else if let Some(p) = purposes.iter().find(|p| !caller.purposes.contains(p)) {
                return Err(ServeError::new(
                    ErrorKind::NotPermitted,
                    format!(
                        "not permitted: the token used may be used for the purposes {} only, so a token made with it may not allow `{p}`",
                        caller.purposes.join(", ")
                    ),
                ));
            }
        }
        if let Some(limit) = caller_token(&engine, &caller).await?.expires_at {
            match expires_at {
                None => expires_at = Some(limit),
                Some(at) if at > limit => {
                    return Err(ServeError::new(
                        ErrorKind::NotPermitted,
                        format!(
                            "not permitted: the token used expires at {}, so a token made with it may not outlive it; ask for a shorter expires_in",
                            limit.to_rfc3339()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }

    // Act.
    let issued = crate::auth::issue(
        engine.catalog.as_ref(),
        &principal,
        purposes,
        expires_at,
        &caller.principal,
        note,
    )
    .await
    .map_err(ServeError::internal)?;

    // Record; a token whose creation cannot be recorded is revoked again.
    let recorded = record(
        &engine,
        &caller.principal,
        None,
        "create_token",
        serde_json::json!([{
            "token": issued.record.id,
            "principal": issued.record.principal,
            "purposes": issued.record.purposes,
        }]),
        AuditOutcome::Ok,
        None,
    )
    .await;
    if let Err(e) = recorded {
        if let Err(undo) = engine
            .catalog
            .revoke_token(&issued.record.id, Utc::now())
            .await
        {
            tracing::error!(token = %issued.record.id, "an unrecorded token could not be revoked: {undo}");
        }
        return Err(e);
    }
    let r = issued.record;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: issued.token,
            id: r.id,
            principal: r.principal,
            purposes: r.purposes,
            created_at: r.created_at,
            expires_at: r.expires_at,
            note: r.note,
        }),
    ))
}

/// Lists API tokens (never their secrets): the caller's, another principal's
/// (`principal`), or every one (`all=true`); the last two need `manage_tokens`.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    params(TokenListParams),
    responses(
        (status = 200, description = "The tokens, with their state", body = Vec<TokenInfo>),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Another principal's tokens without `manage_tokens`", body = ErrorBody)
    ))]
pub(super) async fn list_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    params: Result<Query<TokenListParams>, QueryRejection>,
) -> Result<Json<Vec<TokenInfo>>, ServeError> {
    let Query(params) = params.map_err(bad_query)?;
    if params.all && params.principal.is_some() {
        return Err(ServeError::bad_request(
            "give `principal` or `all=true`, not both",
        ));
    }
    let caller = caller(&shared, &headers).await?;
    token_holder(&caller)?;
    let engine = shared.engine();
    let owner = if params.all {
        None
    } else {
        Some(params.principal.unwrap_or_else(|| caller.principal.clone()))
    };
    may_manage_tokens(&engine, &caller, owner.as_deref(), "list_tokens").await?;
    let tokens = engine
        .catalog
        .tokens(owner.as_deref())
        .await
        .map_err(ServeError::internal)?;
    Ok(Json(tokens.into_iter().map(TokenInfo::from).collect()))
}

/// Revokes an API token, at once on this server (other servers of the mesh notice
/// within seconds). One's own tokens need no policy; another's need `manage_tokens`.
/// Revoking a revoked token changes nothing. Recorded in the audit log (`revoke_token`).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "The token's id (`tok_…`), as listed")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "A bad id", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Another principal's token without `manage_tokens`", body = ErrorBody),
        (status = 404, description = "No token with that id", body = ErrorBody)
    ))]
pub(super) async fn revoke_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ServeError> {
    let Path(id) = id.map_err(bad_path)?;
    let caller = caller(&shared, &headers).await?;
    token_holder(&caller)?;
    let engine = shared.engine();
    let unknown =
        || ServeError::not_found(format!("no token `{id}`; GET /api/v1/tokens lists the ids"));
    let token = engine
        .catalog
        .tokens(None)
        .await
        .map_err(ServeError::internal)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(unknown)?;
    may_manage_tokens(&engine, &caller, Some(&token.principal), "revoke_token").await?;
    match engine.catalog.revoke_token(&id, Utc::now()).await {
        Ok(_) => {}
        Err(CatalogError::NotFound(_)) => return Err(unknown()),
        Err(e) => return Err(ServeError::internal(e)),
    }
    shared.auth.forget();
    record(
        &engine,
        &caller.principal,
        None,
        "revoke_token",
        serde_json::json!([{ "token": id, "principal": token.principal }]),
        AuditOutcome::Ok,
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
