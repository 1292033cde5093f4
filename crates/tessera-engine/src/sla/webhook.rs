//! Webhook deliveries of SLA breaches and recoveries.
//!
//! One JSON POST per event and webhook, signed when the webhook names a key:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Tessera-Event: breach
//! Tessera-Delivery: 0193…            (the same on every retry: receivers drop repeats by it)
//! Tessera-Signature: t=1764072000,v1=<hex HMAC-SHA256(key, "1764072000." + body)>
//! ```
//!
//! A network error, a timeout, 408, 429 or a 5xx is tried again after `backoff`, doubled
//! each time (at most 5 minutes), `retries` times; any other status ends the delivery.
//! Every delivery is recorded in the metadata store with its attempts and outcome — the URL
//! without its query, user or password, so a token in the URL is never stored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tessera_catalog::{CatalogStore, WebhookDelivery};

use super::Transition;
use super::settings::Webhook;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The event's JSON body.
pub fn payload(mesh: &str, t: &Transition, delivery: &str) -> Value {
    json!({
        "event": t.event,
        "delivery": delivery,
        "mesh": mesh,
        "port": t.check.table,
        "product": t.product,
        "property": t.check.property,
        "element": t.check.element,
        "state": t.check.state,
        "previous": t.previous,
        "target": t.check.target,
        "measured": t.check.measured,
        "shown": t.check.shown,
        "basis": t.check.basis,
        "detail": t.check.detail,
        "at": t.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>." + body)>`.
pub fn signature(key: &[u8], at: DateTime<Utc>, body: &[u8]) -> String {
    let t = at.timestamp();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={t},v1={}",
        hex::encode(tessera_governance::keyed::hmac(key, &signed))
    )
}

/// The URL as it may be stored and logged: scheme, host, port and path only.
pub fn shown_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429
}

/// Delivers one event to one webhook, with retries, and records the delivery. Never
/// fails: the outcome is in the record it returns.
pub async fn deliver(
    catalog: &dyn CatalogStore,
    mesh: &str,
    hook: &Webhook,
    t: &Transition,
) -> WebhookDelivery {
    let id = uuid::Uuid::now_v7().to_string();
    let body = serde_json::to_vec(&payload(mesh, t, &id)).expect("JSON serialises");
    let mut record = WebhookDelivery {
        id: id.clone(),
        url: shown_url(&hook.url),
        event: t.event.to_string(),
        port: t.check.table.clone(),
        property: t.check.property.clone(),
        attempts: 0,
        delivered: false,
        status: None,
        error: None,
        created_at: Utc::now(),
        finished_at: Utc::now(),
        payload: String::from_utf8(body.clone()).expect("JSON is UTF-8"),
    };
    let key = match &hook.secret_env {
        Some(name) => match std::env::var(name) {
            Ok(k) if !k.is_empty() => Some(k.into_bytes()),
            _ => {
                record.error = Some(format!(
                    "the signing key's environment variable {name} is not set; nothing was sent"
                ));
                return finish(catalog, record).await;
            }
        },
        None => None,
    };
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            record.error = Some(e.to_string());
            return finish(catalog, record).await;
        }
    };
    let mut wait = hook.backoff;
    loop {
        record.attempts += 1;
        let mut request = client
            .post(hook.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .header("tessera-event", t.event)
            .header("tessera-delivery", &id);
        if let Some(key) = &key {
            request = request.header("tessera-signature", signature(key, Utc::now(), &body));
        }
        let again = match request.body(body.clone()).send().await {
            Ok(response) => {
                let status = response.status();
                record.status = Some(status.as_u16());
                if status.is_success() {
                    record.delivered = true;
                    record.error = None;
                    false
                } else {
                    record.error = Some(format!("HTTP {status}"));
                    retryable(status)
                }
            }
            Err(e) => {
                record.status = None;
                // reqwest's message names the URL; say it without its query.
                record.error = Some(e.without_url().to_string());
                true
            }
        };
        if !again || record.attempts > hook.retries {
            break;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_BACKOFF);
    }
    finish(catalog, record).await
}

async fn finish(catalog: &dyn CatalogStore, mut record: WebhookDelivery) -> WebhookDelivery {
    record.finished_at = Utc::now();
    if let Err(e) = catalog.record_webhook_delivery(&record).await {
        tracing::warn!(url = %record.url, "could not record a webhook delivery: {e}");
    }
    match (&record.delivered, &record.error) {
        (true, _) => {
            tracing::info!(url = %record.url, event = %record.event, port = %record.port, attempts = record.attempts, "webhook delivered")
        }
        (false, e) => {
            tracing::warn!(url = %record.url, event = %record.event, port = %record.port, attempts = record.attempts, "webhook not delivered: {}", e.as_deref().unwrap_or("?"))
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_stored_without_credentials_or_query() {
        let u = url::Url::parse("https://user:pw@hooks.example.com/t?token=abc#x").unwrap();
        assert_eq!(shown_url(&u), "https://hooks.example.com/t");
    }

    #[test]
    fn the_signature_covers_time_and_body() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = signature(b"key", at, b"{}");
        assert!(s.starts_with("t=1795608000,v1="), "{s}");
        assert_ne!(s, signature(b"key", at, b"{ }"));
        assert_ne!(s, signature(b"other", at, b"{}"));
    }
}
