//! SLA monitoring in `tessera serve`: the server measures every SLA on its schedule,
//! stores the history, sends breaches and recoveries to a webhook (signed, retried,
//! recorded), exports them as metrics and over the API, and publishes a product on its
//! `tesseraSchedule`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::support::server_edited;

/// What the webhook receiver got: headers and body of every request, in order.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on loopback that answers 503 to its first request and 204 after.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hooks/tessera",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                if seen.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // A query string carries a token here: it must never be stored.
    (
        format!("http://{addr}/hooks/tessera?token=hook-secret-in-url"),
        got,
    )
}

const SECRET_ENV: &str = "TESSERA_TEST_WEBHOOK_SECRET_SLA";
const SECRET: &str = "whsec-test-0123456789";

fn bodies(got: &Received) -> Vec<(HeaderMap, Value)> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(h, b)| (h.clone(), serde_json::from_slice(b).unwrap()))
        .collect()
}

async fn wait_for<T>(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = probe().await {
            return t;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_watches_slas_tells_webhooks_and_publishes_on_schedule() {
    // SAFETY: this test binary's tests run in their own processes (nextest), and no other
    // test reads this variable.
    unsafe { std::env::set_var(SECRET_ENV, SECRET) };
    let (url, got) = receiver().await;
    let server = server_edited(
        &format!(
            "monitoring:\n  evaluate_every: 1s\n  webhooks:\n    - url: {url}\n      secret_env: {SECRET_ENV}\n      retries: 3\n      backoff: 0s\n"
        ),
        |root| {
            // shop.orders promises data under an hour old (its orders are from 2025: red
            // from the start) and a publish every 3 seconds, and is published every 10.
            let contract = root.join("domains/shop/orders/orders.odcs.yaml");
            let mut text = std::fs::read_to_string(&contract).unwrap();
            text.push_str(
                "slaProperties:\n  - {property: latency, value: 1, unit: h, element: orders.ordered_at}\n  - {property: frequency, value: 3, unit: s}\n  - {property: availability, value: 99%}\n",
            );
            std::fs::write(&contract, text).unwrap();
            let product = root.join("domains/shop/orders/dataproduct.yaml");
            let mut text = std::fs::read_to_string(&product).unwrap();
            text.push_str("customProperties:\n  - {property: tesseraSchedule, value: \"*/10 * * * * *\"}\n");
            std::fs::write(&product, text).unwrap();
        },
    )
    .await;

    // A breach of latency at the first evaluation (the receiver's first answer is 503: a
    // delivery is retried, see below).
    let breach = wait_for(
        "a latency breach delivered",
        Duration::from_secs(30),
        async || {
            bodies(&got)
                .into_iter()
                .find(|(_, b)| b["event"] == "breach" && b["property"] == "latency")
        },
    )
    .await;
    let (headers, body) = breach;
    assert_eq!(body["port"], "shop.orders");
    assert_eq!(body["product"], "shop/orders");
    assert_eq!(body["state"], "red");
    assert_eq!(body["element"], "orders.ordered_at");
    assert_eq!(body["target"], "1 h");
    assert_eq!(body["basis"], "data");
    assert_eq!(headers["tessera-event"], "breach");
    assert_eq!(
        headers["tessera-delivery"],
        body["delivery"].as_str().unwrap()
    );
    // The signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>." + body)), as docs/sla.md says.
    let signature = headers["tessera-signature"].to_str().unwrap();
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap_or_else(|| panic!("{signature}"));
    let raw = got
        .lock()
        .unwrap()
        .iter()
        .find(|(h, _)| h["tessera-signature"] == signature)
        .map(|(_, b)| b.clone())
        .unwrap();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&raw);
    assert_eq!(
        v1,
        hex::encode(tessera_governance::keyed::hmac(SECRET.as_bytes(), &signed))
    );

    // Frequency: a breach when more than 3 s pass without a publish, a recovery when the
    // schedule publishes (the data did not change: a skipped publish, which counts).
    wait_for(
        "a frequency breach and recovery",
        Duration::from_secs(45),
        async || {
            let events: Vec<String> = bodies(&got)
                .iter()
                .filter(|(_, b)| b["property"] == "frequency")
                .map(|(_, b)| b["event"].as_str().unwrap().to_string())
                .collect();
            let breach = events.iter().position(|e| e == "breach")?;
            events[breach..]
                .iter()
                .any(|e| e == "recovery")
                .then_some(())
        },
    )
    .await;

    let engine = server.running.shared.engine();
    // Deliveries recorded: the retried one with both attempts, the URL without its query.
    let deliveries = engine.catalog.webhook_deliveries(100).await.unwrap();
    assert!(
        deliveries.iter().all(|d| d.url.ends_with("/hooks/tessera")),
        "{deliveries:#?}"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| !d.payload.contains("hook-secret-in-url"))
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.delivered && d.status == Some(204)),
        "{deliveries:#?}"
    );
    let retried: Vec<u32> = deliveries
        .iter()
        .map(|d| d.attempts)
        .filter(|a| *a > 1)
        .collect();
    assert_eq!(
        retried,
        [2],
        "the one that got 503 first was delivered at the second attempt"
    );
    // The scheduled publishes are recorded as runs.
    let runs = engine
        .catalog
        .runs(&tessera_catalog::RunQuery {
            domain: Some("shop".into()),
            product: Some("orders".into()),
            kind: Some(tessera_catalog::RunKind::Publish),
            status: Some(tessera_catalog::RunStatus::Skipped),
            limit: None,
        })
        .await
        .unwrap();
    assert!(!runs.is_empty(), "the schedule published shop/orders");
    // History: every evaluation stored, latency red in each.
    let history = engine
        .catalog
        .sla_history(
            Some("shop.orders"),
            chrono::Utc::now() - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let latency: Vec<&str> = history
        .iter()
        .filter(|r| r.property == "latency")
        .map(|r| r.state.as_str())
        .collect();
    assert!(
        latency.len() >= 3 && latency.iter().all(|s| *s == "red"),
        "{latency:?}"
    );

    // Metrics.
    let client = reqwest::Client::new();
    let metrics = client
        .get(server.http_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "tessera_sla_state{port=\"shop.orders\",property=\"latency\",element=\"orders.ordered_at\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "tessera_sla_events_total{port=\"shop.orders\",property=\"frequency\",event=\"recovery\"}"
    ));
    assert!(metrics.contains("tessera_webhook_deliveries_total{outcome=\"delivered\"}"));
    assert!(
        metrics.contains(
            "tessera_scheduled_publishes_total{product=\"shop/orders\",status=\"skipped\"}"
        )
    );

    // The API: every port's health, and one port's history.
    let token = server.token("wendy");
    let status: Value = client
        .get(server.http_url("/api/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orders = status["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == "shop.orders")
        .unwrap_or_else(|| panic!("{status:#}"));
    assert_eq!(orders["state"], "red");
    let slas: Vec<&str> = orders["slas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["property"].as_str().unwrap())
        .collect();
    assert_eq!(slas, ["latency", "frequency", "availability", "quality"]);
    let one = client
        .get(server.http_url("/api/v1/ports/shop/orders/sla?days=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert!(one["history"].as_array().unwrap().len() >= 3, "{one:#}");
    assert_eq!(one["lifecycle"], "active");
    let bad = client
        .get(server.http_url("/api/v1/ports/shop/orders/sla?days=0"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = client
        .get(server.http_url("/api/v1/ports/shop/nope/sla"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
