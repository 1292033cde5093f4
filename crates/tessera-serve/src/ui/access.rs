//! `/access`: access requests — a consumer asks for a port for a purpose (the form is on
//! each port of a product page), the owners of the port's domain approve (optionally
//! until an expiry) or deny (with a reason). One page lists the viewer's own requests and
//! those they may decide.
//!
//! Everything goes through the engine's access functions (`tessera_engine::access`), as
//! the CLI's `tessera access` and the API's `/api/v1/access-requests` do: they validate,
//! authorize (Cedar `approve_access` on the port), record and audit. An approved request
//! is a grant the viewer's next statement honours.

use axum::Form;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use tessera_engine::access::{AccessError, AccessErrorKind, AccessFilter, AccessRequestView};

use super::{Ctx, Nav, ago, badge, cross_site, empty, error_page, same_origin, when};
use crate::error::{ErrorKind, ServeError};
use crate::http::catalog::index::MeshIndex;

/// The interface access decisions are recorded as coming from.
const INTERFACE: &str = "http";

fn serve_error(e: AccessError) -> ServeError {
    let kind = match e.kind() {
        AccessErrorKind::Invalid => ErrorKind::BadRequest,
        AccessErrorKind::NotPermitted => ErrorKind::NotPermitted,
        AccessErrorKind::NotFound => ErrorKind::NotFound,
        AccessErrorKind::Conflict => ErrorKind::BadRequest,
        AccessErrorKind::Internal => return ServeError::internal(e.to_string()),
    };
    ServeError::new(kind, e.to_string())
}

#[derive(Deserialize, Default)]
pub(crate) struct AccessParams {
    /// What the last action did, said once at the top.
    done: Option<String>,
}

fn request_row(index: &MeshIndex, r: &AccessRequestView, decide: bool) -> Markup {
    let q = &r.request;
    let product = q
        .port
        .split_once('.')
        .and_then(|(domain, port)| index.port(domain, port))
        .map(|(p, _)| format!("/products/{}/{}", p.domain, p.name));
    html! {
        li.request-item {
            div.head {
                strong { code { (q.port) } } " for " strong { (q.purpose) } " " (badge(r.state))
                span.small { " · asked by " (q.principal) " " span title=(when(&q.created_at)) { (ago(&q.created_at)) } " · " code { (q.id) } }
            }
            blockquote { (q.justification) }
            @if let Some(by) = &q.decided_by {
                p.small { (r.state) " by " (by)
                    @if let Some(at) = &q.decided_at { " " (ago(at)) }
                    @if let Some(until) = &q.expires_at { " · until " (when(until)) }
                    @if let Some(why) = &q.reason { " — " (why) } }
            }
            @if decide && r.can_decide {
                @if r.state == "requested" {
                    form.decide method="post" action="/access" {
                        input type="hidden" name="id" value=(q.id);
                        div.field { label for={ "exp-" (q.id) } { "Expires after (optional)" }
                            input id={ "exp-" (q.id) } name="expires" placeholder="e.g. 30d or 12h"; }
                        div.field.grow { label for={ "why-" (q.id) } { "Reason (needed to deny)" }
                            input id={ "why-" (q.id) } name="reason" maxlength="4000"; }
                        button.primary type="submit" name="action" value="approve" { "Approve" }
                        button.danger type="submit" name="action" value="deny" { "Deny" }
                    }
                } @else if r.state == "approved" {
                    form.decide method="post" action="/access" {
                        input type="hidden" name="id" value=(q.id);
                        div.field.grow { label for={ "why-" (q.id) } { "Reason (optional)" }
                            input id={ "why-" (q.id) } name="reason" maxlength="4000"; }
                        button.danger type="submit" name="action" value="revoke" { "Revoke" }
                    }
                }
            }
            @if r.mine && r.state == "requested" {
                form.decide method="post" action="/access" {
                    input type="hidden" name="id" value=(q.id);
                    button type="submit" name="action" value="withdraw" { "Withdraw" }
                }
            }
            @if let Some(href) = product {
                p.small { a href=(href) { "The product publishing " (q.port) } }
            }
        }
    }
}

async fn body(ctx: &Ctx, params: &AccessParams) -> Result<Markup, ServeError> {
    let principal = &ctx.viewer.caller.principal;
    let all = ctx
        .engine
        .access_requests(principal, &AccessFilter::default())
        .await
        .map_err(serve_error)?;
    let (mine, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.mine);
    let (pending, decided): (Vec<_>, Vec<_>) = others
        .into_iter()
        .partition(|r| r.state == "requested" && r.can_decide);
    Ok(html! {
        h1 { "Access requests" }
        @if let Some(done) = &params.done { p.success role="status" { (done) } }
        p.lead { "Ask for a port from its product page (“Request access”). The owners of the port's domain decide; "
            "an approved request is a grant your next query honours, until it expires or is revoked." }
        section aria-labelledby="decide-h" {
            h2 #decide-h { "Waiting for your decision" }
            @if pending.is_empty() { (empty("Nothing waits for you: requests for ports of domains you own appear here.")) }
            ul.requests { @for r in &pending { (request_row(&ctx.index, r, true)) } }
        }
        section aria-labelledby="mine-h" {
            h2 #mine-h { "Your requests" }
            @if mine.is_empty() { (empty("You have not asked for access yet.")) }
            ul.requests { @for r in &mine { (request_row(&ctx.index, r, false)) } }
        }
        @if !decided.is_empty() {
            section aria-labelledby="decided-h" {
                h2 #decided-h { "Decided by your domains" }
                ul.requests { @for r in &decided { (request_row(&ctx.index, r, true)) } }
            }
        }
    })
}

pub(crate) async fn page(ctx: Ctx, Query(params): Query<AccessParams>) -> Response {
    let page = body(&ctx, &params).await;
    ctx.render(
        Nav::Access,
        page.map(|b| ("Access requests".to_string(), b)),
    )
}

/// The forms of the product page (`request`) and of this page (the decisions).
#[derive(Deserialize)]
pub(crate) struct AccessForm {
    action: String,
    id: Option<String>,
    port: Option<String>,
    purpose: Option<String>,
    justification: Option<String>,
    expires: Option<String>,
    reason: Option<String>,
}

async fn act(ctx: &Ctx, form: &AccessForm) -> Result<String, ServeError> {
    let engine = &ctx.engine;
    let principal = ctx.viewer.caller.principal.as_str();
    let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().to_string();
    let id = text(&form.id);
    let done = match form.action.as_str() {
        "request" => {
            let purpose = text(&form.purpose);
            // The token must allow the purpose asked for, as for a query.
            ctx.viewer.caller.purpose(Some(&purpose))?;
            let r = engine
                .request_access(
                    INTERFACE,
                    principal,
                    &text(&form.port),
                    &purpose,
                    &text(&form.justification),
                )
                .await
                .map_err(serve_error)?;
            format!(
                "Requested {} for {} ({}). The owners of its domain will decide.",
                r.request.port, r.request.purpose, r.request.id
            )
        }
        "approve" => {
            let expires = match text(&form.expires) {
                e if e.is_empty() => None,
                e => Some(
                    tessera_engine::access::parse_expiry(&e, Utc::now()).map_err(serve_error)?,
                ),
            };
            let reason = text(&form.reason);
            let r = engine
                .approve_access(
                    INTERFACE,
                    principal,
                    &id,
                    expires,
                    Some(reason.as_str()).filter(|r| !r.is_empty()),
                )
                .await
                .map_err(serve_error)?;
            format!(
                "Approved: {} may read {} for {}.",
                r.request.principal, r.request.port, r.request.purpose
            )
        }
        "deny" => {
            let r = engine
                .deny_access(INTERFACE, principal, &id, &text(&form.reason))
                .await
                .map_err(serve_error)?;
            format!(
                "Denied {}'s request for {}.",
                r.request.principal, r.request.port
            )
        }
        "revoke" => {
            let reason = text(&form.reason);
            let r = engine
                .revoke_access(
                    INTERFACE,
                    principal,
                    &id,
                    Some(reason.as_str()).filter(|r| !r.is_empty()),
                )
                .await
                .map_err(serve_error)?;
            format!(
                "Revoked {}'s access to {}.",
                r.request.principal, r.request.port
            )
        }
        "withdraw" => {
            let r = engine
                .withdraw_access(INTERFACE, principal, &id)
                .await
                .map_err(serve_error)?;
            format!("Withdrew your request for {}.", r.request.port)
        }
        other => {
            return Err(ServeError::bad_request(format!(
                "unknown action `{other}`: request, approve, deny, revoke or withdraw"
            )));
        }
    };
    Ok(done)
}

pub(crate) async fn submit(ctx: Ctx, Form(form): Form<AccessForm>) -> Response {
    if !same_origin(&ctx.headers) {
        return cross_site();
    }
    match act(&ctx, &form).await {
        // Post/redirect/get: a reload does not repeat the action.
        Ok(done) => Redirect::to(&format!("/access?done={}", super::encode(&done))).into_response(),
        Err(e) => error_page(Some(&ctx.viewer), &e),
    }
}
