//! Signing in with an API token, signing out, choosing the purpose pages act for.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{
    Nav, PURPOSE_COOKIE, TOKEN_COOKIE, cookie, cross_site, html_page, layout, same_origin,
    set_cookie,
};
use crate::state::Shared;

#[derive(Deserialize, Default)]
pub(crate) struct SigninParams {
    next: Option<String>,
    expired: Option<String>,
}

/// Where to go after signing in: a path on this site only (never `//host` or a URL).
fn local(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn form_page(next: &str, message: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        section.signin {
            h1 { "Sign in to Tessera" }
            p { "Use an API token — the same token the HTTP API, psql and Flight SQL take. "
                "Everything you see here is what that token's principal may see." }
            @if let Some(m) = message { p.alert role="alert" { (m) } }
            form method="post" action="/signin" {
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="off"
                    placeholder="tsr_…" autofocus;
                button.primary type="submit" { "Sign in" }
            }
            p.small { "No token? Ask an administrator, or run " code { "tessera token create --principal <you>" } "." }
        }
    };
    let mut response = html_page(layout("Sign in", None, Nav::None, body));
    *response.status_mut() = status;
    response
}

pub(crate) async fn form(Query(params): Query<SigninParams>) -> Response {
    let next = local(params.next.as_deref());
    let message = params.expired.is_some().then_some(
        "Your session ended (the token expired, was revoked, or is unknown). Sign in again.",
    );
    form_page(&next, message, StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct SigninForm {
    token: String,
    next: Option<String>,
}

/// Checks the token exactly as the API does; a good one is kept in the session cookie.
pub(crate) async fn submit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let next = local(form.next.as_deref());
    let token = form.token.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        return form_page(
            &next,
            Some("That is not a token: tokens start with tsr_."),
            StatusCode::UNAUTHORIZED,
        );
    }
    match crate::http::verified(&shared, Some(token)).await {
        Ok(_) => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(TOKEN_COOKIE, token, None));
            response
        }
        Err(e) => form_page(&next, Some(&e.message), StatusCode::UNAUTHORIZED),
    }
}

/// Forgets the token (the cookie; the token itself stays valid for the API).
pub(crate) async fn signout(headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let mut response = Redirect::to("/signin").into_response();
    for name in [TOKEN_COOKIE, PURPOSE_COOKIE] {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(name, "", Some(0)));
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct PurposeForm {
    purpose: String,
}

/// Sets the purpose pages act for, and goes back where the form was.
pub(crate) async fn choose_purpose(headers: HeaderMap, Form(form): Form<PurposeForm>) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()));
    let back = local(back.as_deref());
    let purpose = form.purpose.trim();
    let valid = purpose
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let mut response = Redirect::to(&back).into_response();
    if valid && cookie(&headers, TOKEN_COOKIE).is_some() {
        let age = if purpose.is_empty() { Some(0) } else { None };
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(PURPOSE_COOKIE, purpose, age));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local(Some("/products/a/b?x=1")), "/products/a/b?x=1");
        assert_eq!(local(Some("//evil.example/")), "/");
        assert_eq!(local(Some("https://evil.example/")), "/");
        assert_eq!(local(Some("/\\evil.example")), "/");
        assert_eq!(local(None), "/");
    }
}
