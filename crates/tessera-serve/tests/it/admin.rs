//! The admin endpoints: tokens (self-service and `manage_tokens`), the audit log
//! (`read_audit`), and publishing a data product (Cedar `publish`, validation, rollback).
//!
//! The fixture's principals: sam owns shop, wendy owns web, ana is an analyst, dora is
//! the data protection officer (group privacy: `read_audit`, `manage_tokens`).

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};
use tessera_catalog::{AuditQuery, PortKey};

use crate::support::{Server, server};

/// One request: the status and the body as JSON (`Null` when empty).
async fn send(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    purpose: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, server.http_url(path))
        .bearer_auth(token);
    if let Some(p) = purpose {
        request = request.header("Tessera-Purpose", p);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text}: {e}"))
    };
    (status, value)
}

async fn query(server: &Server, token: &str, purpose: &str, sql: &str) -> (u16, Value) {
    send(
        server,
        Method::POST,
        "/api/v1/query",
        token,
        Some(purpose),
        Some(json!({ "sql": sql })),
    )
    .await
}

fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {body}"))
}

fn mesh_dir(server: &Server) -> PathBuf {
    server.running.shared.engine().mesh_dir.clone()
}

/// The audit records of `action`, newest first, read from the store directly.
async fn audited(server: &Server, action: &str) -> Vec<tessera_catalog::AuditRecord> {
    server
        .running
        .shared
        .engine()
        .catalog
        .audit(&AuditQuery {
            action: Some(action.into()),
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn latest_version(server: &Server, domain: &str, product: &str, port: &str) -> i64 {
    let key = PortKey {
        domain: domain.into(),
        product: product.into(),
        port: port.into(),
    };
    let versions = server
        .running
        .shared
        .engine()
        .catalog
        .versions(&key)
        .await
        .unwrap();
    versions.iter().map(|v| v.version).max().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_over_the_api_works_at_once_and_stops_at_once_when_revoked() {
    let server = server("").await;
    let sam = server.token("sam");

    let (status, made) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        sam,
        None,
        Some(json!({"purposes": ["analytics"], "expires_in": "1d", "note": "dashboards"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("tsr_"), "{made}");
    assert!(id.starts_with("tok_"), "{made}");
    assert_eq!(made["principal"], "sam");
    assert_eq!(made["purposes"], json!(["analytics"]));
    let expires: chrono::DateTime<chrono::Utc> =
        made["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::hours(23) && left <= chrono::Duration::days(1),
        "{made}"
    );

    // The new token works for a query, for its purpose.
    let (status, body) = query(
        &server,
        &token,
        "analytics",
        "SELECT count(*) AS n FROM shop.orders",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = query(&server, &token, "compliance", "SELECT 1").await;
    assert_eq!(status, 403, "{body}");

    // Listed with its state, never with its secret.
    let (status, list) = send(&server, Method::GET, "/api/v1/tokens", sam, None, None).await;
    assert_eq!(status, 200, "{list}");
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {list}"));
    assert_eq!(listed["state"], "active");
    assert_eq!(listed["created_by"], "sam");
    assert_eq!(listed["note"], "dashboards");
    assert!(!list.to_string().contains(&token));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["principal"] == "sam"),
        "only the caller's own: {list}"
    );

    // Revoked: refused at once (not after the authenticator's re-check interval).
    let path = format!("/api/v1/tokens/{id}");
    let (status, body) = send(&server, Method::DELETE, &path, sam, None, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = query(&server, &token, "analytics", "SELECT 1").await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("revoked"), "{body}");
    // Again: nothing changes. An unknown id: 404.
    let (status, _) = send(&server, Method::DELETE, &path, sam, None, None).await;
    assert_eq!(status, 204);
    let (status, body) = send(
        &server,
        Method::DELETE,
        "/api/v1/tokens/tok_000000000000",
        sam,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["kind"], "not_found");

    // Both recorded, as from HTTP, without the secret.
    let created = audited(&server, "create_token").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].principal, "sam");
    assert_eq!(created[0].interface, "http");
    assert_eq!(created[0].resources[0]["token"], id.as_str());
    let revoked = audited(&server, "revoke_token").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert!(
        !format!("{created:?}{revoked:?}").contains(&token),
        "the audit log holds no token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_principals_tokens_need_manage_tokens() {
    let server = server("").await;
    let (ana, dora) = (server.token("ana"), server.token("dora"));

    // ana (an analyst) may not make, list or revoke sam's tokens: no policy permits it.
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        ana,
        None,
        Some(json!({"principal": "sam"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let m = message(&body);
    assert!(
        m.contains("ana may not manage the tokens of sam (manage_tokens)")
            && m.contains("no policy permits it"),
        "{m}"
    );
    for path in ["/api/v1/tokens?principal=sam", "/api/v1/tokens?all=true"] {
        let (status, body) = send(&server, Method::GET, path, ana, None, None).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let denied = audited(&server, "create_token").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].outcome.as_str(), "denied");
    assert_eq!(denied[0].principal, "ana");

    // dora (privacy office) may, by the policy dpo-manage-tokens.
    let (status, made) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        dora,
        None,
        Some(json!({"principal": "sam", "purposes": ["analytics"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["principal"], "sam");
    assert!(made["expires_at"].is_null());
    let token = made["token"].as_str().unwrap();
    let id = made["id"].as_str().unwrap();
    let (status, body) = query(
        &server,
        token,
        "analytics",
        "SELECT count(*) FROM shop.customers",
    )
    .await;
    assert_eq!(status, 200, "sam's new token acts as sam: {body}");

    let (status, list) = send(
        &server,
        Method::GET,
        "/api/v1/tokens?principal=sam",
        dora,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let sams = list.as_array().unwrap();
    assert!(
        sams.iter()
            .any(|t| t["id"] == id && t["created_by"] == "dora"),
        "{list}"
    );
    let (status, all) = send(
        &server,
        Method::GET,
        "/api/v1/tokens?all=true",
        dora,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(all.as_array().unwrap().len() > sams.len(), "{all}");

    // ana may not revoke it; dora may.
    let path = format!("/api/v1/tokens/{id}");
    let (status, body) = send(&server, Method::DELETE, &path, ana, None, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = send(&server, Method::DELETE, &path, dora, None, None).await;
    assert_eq!(status, 204);
    let (status, _) = query(&server, token, "analytics", "SELECT 1").await;
    assert_eq!(status, 401);

    // A principal the mesh does not declare: 400, with the near name.
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        dora,
        None,
        Some(json!({"principal": "samm"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("did you mean `sam`?"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_with_a_restricted_token_can_do_no_more() {
    let server = server("").await;
    let (status, first) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        server.token("sam"),
        None,
        Some(json!({"purposes": ["analytics", "finance_reporting"], "expires_in": "2h"})),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let restricted = first["token"].as_str().unwrap();

    // Without purposes or expiry: those of the token used.
    let (status, second) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        restricted,
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["purposes"], first["purposes"]);
    assert_eq!(second["expires_at"], first["expires_at"]);

    // Some of its purposes, a shorter life: fine.
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        restricted,
        None,
        Some(json!({"purposes": ["analytics"], "expires_in": "30m"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Another purpose, or a longer life: refused.
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        restricted,
        None,
        Some(json!({"purposes": ["analytics", "compliance"]})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("analytics, finance_reporting only")
            && message(&body).contains("`compliance`"),
        "{body}"
    );
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        restricted,
        None,
        Some(json!({"expires_in": "30d"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(message(&body).contains("may not outlive it"), "{body}");

    // Bad input: 400.
    for (request, says) in [
        (
            json!({"purposes": ["no_such_purpose"]}),
            "not a purpose of this mesh",
        ),
        (
            json!({"expires_in": "soon"}),
            "expires_in: `soon` is not a duration",
        ),
        (json!({"expires": "1d"}), "unknown field"),
    ] {
        let (status, body) = send(
            &server,
            Method::POST,
            "/api/v1/tokens",
            server.token("sam"),
            None,
            Some(request),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(message(&body).contains(says), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_read_as_tessera_audit_allows() {
    let server = server("").await;
    let (ana, dora) = (server.token("ana"), server.token("dora"));
    let (status, _) = query(
        &server,
        ana,
        "analytics",
        "SELECT count(*) FROM shop.orders",
    )
    .await;
    assert_eq!(status, 200);

    // dora (privacy office) reads it for compliance; her read is the newest record.
    let (status, records) = send(
        &server,
        Method::GET,
        "/api/v1/audit?since=7d&limit=50",
        dora,
        Some("compliance"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{records}");
    let records = records.as_array().unwrap();
    assert_eq!(records[0]["action"], "read_audit");
    assert_eq!(records[0]["principal"], "dora");
    assert_eq!(records[0]["purpose"], "compliance");
    assert_eq!(records[0]["interface"], "http");
    assert_eq!(records[0]["outcome"], "ok");
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "query" && r["principal"] == "ana"),
        "{records:?}"
    );

    // Filters.
    let (status, records) = send(
        &server,
        Method::GET,
        "/api/v1/audit?principal=ana&table=shop.orders&outcome=ok&limit=5",
        dora,
        Some("compliance"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{records}");
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["purpose"], "analytics");

    // ana may not: 403 with why; the refused read is recorded too.
    let (status, body) = send(
        &server,
        Method::GET,
        "/api/v1/audit",
        ana,
        Some("analytics"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body)
            .contains("ana may not read the audit log for purpose analytics: no policy permits it"),
        "{body}"
    );
    let (_, refused) = send(
        &server,
        Method::GET,
        "/api/v1/audit?action=read_audit&outcome=denied",
        dora,
        Some("compliance"),
        None,
    )
    .await;
    assert_eq!(refused[0]["principal"], "ana", "{refused}");

    // Without a purpose, or with bad filters: 400.
    for (path, purpose, says) in [
        ("/api/v1/audit", None, "needs a purpose"),
        ("/api/v1/audit", Some("no_such_purpose"), "unknown purpose"),
        (
            "/api/v1/audit?since=yesterday",
            Some("compliance"),
            "since: `yesterday`",
        ),
        ("/api/v1/audit?outcome=maybe", Some("compliance"), "outcome"),
        ("/api/v1/audit?limit=0", Some("compliance"), "limit"),
    ] {
        let (status, body) = send(&server, Method::GET, path, dora, purpose, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(message(&body).contains(says), "{path}: {body}");
    }
}

const ORDERS_SQL: &str = "domains/shop/orders/orders.sql";
const ORDERS_CONTRACT: &str = "domains/shop/orders/orders.odcs.yaml";

/// The fixture's orders contract with one more column, `is_paid`.
fn contract_with_is_paid(current: &str) -> String {
    let anchor = "      - name: status\n";
    assert!(current.contains(anchor));
    current.replace(
        anchor,
        "      - name: is_paid\n        logicalType: boolean\n        description: Whether the order is paid.\n      - name: status\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domain_owner_publishes_a_changed_contract_and_sql() {
    let server = server("").await;
    let sam = server.token("sam");
    let dir = mesh_dir(&server);
    let contract =
        contract_with_is_paid(&std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap());
    let sql = "SELECT order_id, customer_id, CAST(amount AS DECIMAL(10, 2)) AS amount, ordered_at, status = 'paid' AS is_paid, status FROM shop.raw_orders\n";
    let before = latest_version(&server, "shop", "orders", "orders").await;
    let (status, body) = query(
        &server,
        sam,
        "analytics",
        "SELECT count(*) FROM shop.orders WHERE is_paid",
    )
    .await;
    assert_eq!(status, 400, "no such column yet: {body}");

    let (status, out) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        sam,
        None,
        Some(json!({"files": {"orders.odcs.yaml": contract, "orders.sql": sql}})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["product"], "shop/orders");
    assert_eq!(out["status"], "succeeded");
    assert_eq!(out["files_written"], json!([ORDERS_CONTRACT, ORDERS_SQL]));
    let run = out["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "shop/orders")
        .unwrap();
    assert_eq!(run["ports"][0]["port"], "orders");
    assert_eq!(run["ports"][0]["version"], before + 1, "{out}");
    assert_eq!(run["checks"]["failed"], 0, "{out}");
    assert!(run["checks"]["total"].as_u64().unwrap() > 0, "{out}");

    // On disk, served, recorded.
    assert_eq!(std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap(), sql);
    assert_eq!(
        std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap(),
        contract
    );
    let (status, body) = query(
        &server,
        sam,
        "analytics",
        "SELECT count(*) AS n FROM shop.orders WHERE is_paid",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["rows"][0]["n"].as_u64().unwrap() > 0, "{body}");
    let published = audited(&server, "publish").await;
    assert_eq!(published[0].principal, "sam");
    assert_eq!(published[0].interface, "http");
    assert_eq!(published[0].outcome.as_str(), "ok");
    assert_eq!(published[0].resources[0]["product"], "shop/orders");

    // An empty body publishes what is on disk: nothing changed, nothing new.
    let response = reqwest::Client::new()
        .post(server.http_url("/api/v1/products/shop/orders/publish"))
        .bearer_auth(sam)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["status"], "skipped", "{again}");
    assert_eq!(again["files_written"], json!([]));
    assert_eq!(
        latest_version(&server, "shop", "orders", "orders").await,
        before + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_is_refused_for_a_non_owner_and_nothing_is_written() {
    let server = server("").await;
    let dir = mesh_dir(&server);
    let sql_before = std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap();
    let before = latest_version(&server, "shop", "orders", "orders").await;

    // wendy owns web, not shop.
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        server.token("wendy"),
        None,
        Some(json!({"files": {"orders.sql": "SELECT 1 AS order_id"}})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["kind"], "not_permitted");
    assert!(
        message(&body).contains("wendy may not publish shop/orders: no policy permits it"),
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap(),
        sql_before
    );
    assert_eq!(
        latest_version(&server, "shop", "orders", "orders").await,
        before
    );
    let refused = audited(&server, "publish").await;
    assert_eq!(refused[0].principal, "wendy");
    assert_eq!(refused[0].outcome.as_str(), "denied");

    // Names outside the product's folder, and products that are not there.
    for name in [
        "../web/visits.sql",
        "sub/orders.sql",
        ".hidden.sql",
        "notes.txt",
    ] {
        let (status, body) = send(
            &server,
            Method::POST,
            "/api/v1/products/shop/orders/publish",
            server.token("sam"),
            None,
            Some(json!({"files": {name: "x"}})),
        )
        .await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(message(&body).contains("a product folder holds"), "{body}");
    }
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/nothing/publish",
        server.token("sam"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_contract_is_refused_with_every_diagnostic_and_the_last_version_keeps_serving() {
    let server = server("").await;
    let sam = server.token("sam");
    let dir = mesh_dir(&server);
    let contract_before = std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap();
    let before = latest_version(&server, "shop", "orders", "orders").await;
    let broken = contract_before.replacen("logicalType: integer", "logicalType: strng", 1);
    assert_ne!(broken, contract_before);

    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        sam,
        None,
        Some(json!({"files": {"orders.odcs.yaml": broken}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["kind"], "bad_request");
    assert!(
        body["error"]["error_id"]
            .as_str()
            .unwrap()
            .starts_with("err_")
    );
    let diagnostics = body["error"]["diagnostics"].as_array().unwrap();
    let d = diagnostics
        .iter()
        .find(|d| d["file"] == ORDERS_CONTRACT && d["severity"] == "error")
        .unwrap_or_else(|| panic!("{body}"));
    let (line, column) = (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap());
    let expected_line = 1 + broken[..broken.find("strng").unwrap()]
        .matches('\n')
        .count() as u64;
    assert_eq!(line, expected_line, "{d}");
    assert!(d["message"].as_str().unwrap().contains("strng"), "{d}");
    assert!(
        message(&body).contains(&format!("{ORDERS_CONTRACT}:{line}:{column}: ")),
        "{body}"
    );

    // Nothing written; the previous version is still served.
    assert_eq!(
        std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap(),
        contract_before
    );
    assert_eq!(
        latest_version(&server, "shop", "orders", "orders").await,
        before
    );
    let (status, body) = query(
        &server,
        sam,
        "analytics",
        "SELECT count(*) FROM shop.orders",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_checks_fail_puts_the_previous_files_back() {
    let server = server("").await;
    let sam = server.token("sam");
    let dir = mesh_dir(&server);
    let sql_before = std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap();
    let before = latest_version(&server, "shop", "orders", "orders").await;
    let (_, counted) = query(
        &server,
        sam,
        "analytics",
        "SELECT count(*) AS n FROM shop.orders",
    )
    .await;

    // Every order twice: order_id is unique by contract.
    let doubled = format!("{0} UNION ALL {0}", sql_before.trim());
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        sam,
        None,
        Some(json!({"files": {"orders.sql": doubled}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let m = message(&body);
    assert!(
        m.contains("shop/orders failed") && m.contains("failed checks: orders:"),
        "{m}"
    );
    assert!(m.contains("the previous files are back"), "{m}");

    assert_eq!(
        std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap(),
        sql_before
    );
    assert_eq!(
        latest_version(&server, "shop", "orders", "orders").await,
        before
    );
    let (_, still) = query(
        &server,
        sam,
        "analytics",
        "SELECT count(*) AS n FROM shop.orders",
    )
    .await;
    assert_eq!(still["rows"], counted["rows"]);
    let published = audited(&server, "publish").await;
    assert_eq!(published[0].outcome.as_str(), "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoints_are_documented_with_their_errors() {
    let server = server("").await;
    let api: Value = reqwest::get(server.http_url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (path, method) in [
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/audit", "get"),
        ("/api/v1/products/{domain}/{product}/publish", "post"),
    ] {
        let op = &api["paths"][path][method];
        assert_eq!(op["tags"], json!(["admin"]), "{path} {method}: {op}");
        let responses = op["responses"].as_object().unwrap();
        for (status, response) in responses {
            if status.starts_with('4') {
                let schema = &response["content"]["application/json"]["schema"];
                let shaped = *schema == error_body
                    || *schema == json!({"$ref": "#/components/schemas/PublishErrorBody"});
                assert!(shaped, "{path} {method} {status}: {response}");
            }
        }
        assert!(responses.contains_key("401"), "{path} {method}");
    }
    assert!(
        api["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "admin"),
        "{}",
        api["tags"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_rule_the_new_contract_breaks_refuses_the_publish() {
    let server = server("").await;
    let dir = mesh_dir(&server);
    let contract_before = std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap();
    // `secret` has no masking method in mesh.yaml: classified_columns_are_masked.sql.
    let unmasked = contract_before.replacen(
        "        description: paid or refunded.\n",
        "        description: paid or refunded.\n        classification: secret\n",
        1,
    );
    assert_ne!(unmasked, contract_before);
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        server.token("sam"),
        None,
        Some(json!({"files": {"orders.odcs.yaml": unmasked}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let d = &body["error"]["diagnostics"][0];
    assert_eq!(d["code"], "rule", "{body}");
    assert_eq!(
        d["file"],
        "policies/rules/classified_columns_are_masked.sql"
    );
    assert!(d["message"].as_str().unwrap().contains("secret"), "{body}");
    assert_eq!(
        std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap(),
        contract_before
    );
    let refused = audited(&server, "publish").await;
    assert_eq!(refused[0].outcome.as_str(), "denied");
    assert!(
        refused[0]
            .error
            .as_deref()
            .unwrap()
            .contains("classified_columns_are_masked"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_run_one_at_a_time() {
    let server = server("").await;
    let sam = server.token("sam");
    let dir = mesh_dir(&server);
    let before = latest_version(&server, "shop", "orders", "orders").await;
    let sql = std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap();
    let variants: Vec<String> = ["paid", "refunded"]
        .iter()
        .map(|s| format!("{} WHERE status = '{s}'\n", sql.trim()))
        .collect();
    let publishes = variants.iter().map(|v| {
        send(
            &server,
            Method::POST,
            "/api/v1/products/shop/orders/publish",
            sam,
            None,
            Some(json!({"files": {"orders.sql": v}})),
        )
    });
    let results = futures::future::join_all(publishes).await;
    let mut versions: Vec<i64> = results
        .iter()
        .map(|(status, out)| {
            assert_eq!(*status, 200, "{out}");
            out["products"][0]["ports"][0]["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, [before + 1, before + 2]);
    // What is served is what is on disk: the publish that came second.
    let on_disk = std::fs::read_to_string(dir.join(ORDERS_SQL)).unwrap();
    let status = if on_disk.contains("'paid'") {
        "paid"
    } else {
        "refunded"
    };
    let (_, body) = query(
        &server,
        sam,
        "analytics",
        "SELECT count(DISTINCT status) AS n, min(status) AS s FROM shop.orders",
    )
    .await;
    assert_eq!(body["rows"][0]["n"], 1, "{body}");
    assert_eq!(body["rows"][0]["s"], status, "{body}");
}

/// The breaking-change gate over the API: a contract that drops a promise without a new
/// major version is refused with the consumers it breaks, and `GET …/diff` shows the
/// same changes with their consumers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaking_contract_change_needs_a_major_version_and_names_its_consumers() {
    let server = server("").await;
    let sam = server.token("sam");
    let dir = mesh_dir(&server);
    let before = latest_version(&server, "shop", "orders", "orders").await;
    let (status, body) = query(
        &server,
        sam,
        "analytics",
        "SELECT order_id FROM shop.orders LIMIT 1",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let diff = |from: Option<i64>| {
        let path = match from {
            Some(v) => format!("/api/v1/ports/shop/orders/diff?from={v}"),
            None => "/api/v1/ports/shop/orders/diff".to_string(),
        };
        let server = &server;
        async move { send(server, Method::GET, &path, sam, None, None).await }
    };
    let (status, body) = diff(None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["breaking"], false, "{body}");
    assert_eq!(body["changes"], json!([]), "{body}");
    assert_eq!(body["published_version"], before);

    // order_id no longer unique, same version: refused, nothing written.
    let original = std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap();
    let loosened = original.replacen("        unique: true\n", "        unique: false\n", 1);
    assert_ne!(loosened, original);
    let (status, out) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        sam,
        None,
        Some(json!({"files": {"orders.odcs.yaml": loosened}})),
    )
    .await;
    assert_eq!(status, 400, "{out}");
    let m = message(&out);
    assert!(
        m.contains("shop.orders (published version")
            && m.contains("1 breaking change needs a new major version")
            && m.contains("orders.order_id.unique: unique true → false")
            && m.contains("of the last 30 days: ")
            && m.contains("sam"),
        "{m}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(ORDERS_CONTRACT)).unwrap(),
        original
    );
    assert_eq!(
        latest_version(&server, "shop", "orders", "orders").await,
        before
    );

    // Under 2.0.0 it is published; the diff from the old version shows what changed and
    // whom it breaks, allowed.
    let major = loosened.replacen("version: 1.0.0", "version: 2.0.0", 1);
    let (status, out) = send(
        &server,
        Method::POST,
        "/api/v1/products/shop/orders/publish",
        sam,
        None,
        Some(json!({"files": {"orders.odcs.yaml": major}})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (status, body) = diff(Some(before)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["breaking"], true, "{body}");
    assert_eq!(body["allowed"], true, "{body}");
    assert_eq!(body["old_contract_version"], "1.0.0");
    assert_eq!(body["new_contract_version"], "2.0.0");
    assert_eq!(body["changes"][0]["kind"], "unique_dropped", "{body}");
    assert_eq!(body["changes"][0]["impact"], "breaking");
    let consumers = &body["consumers"][0];
    assert_eq!(consumers["path"], "orders.order_id.unique");
    let sam_reads = consumers["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sam")
        .unwrap_or_else(|| panic!("sam read order_id: {body}"));
    assert_eq!(sam_reads["kind"], "principal");
    assert_eq!(sam_reads["columns"], json!(["order_id"]));
    // The newest version is the new promise: nothing changed since.
    let (status, body) = diff(None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"], json!([]), "{body}");
    let (status, body) = diff(Some(9999)).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        message(&body).contains("shop.orders has no published version 9999"),
        "{body}"
    );
}

/// `privacy.retention_schedule`: the server applies the contracts' retention at start and
/// then on the schedule, audited as `tessera`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_applies_retention_on_its_schedule() {
    let server = server("privacy:\n  retention_schedule: 1s\n").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let runs = loop {
        let runs = audited(&server, "retention").await;
        if runs.len() >= 2 || std::time::Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        runs.len() >= 2,
        "two runs in 30 s at 1 s apart: {}",
        runs.len()
    );
    assert!(
        runs.iter()
            .all(|r| r.principal == "tessera" && r.outcome.as_str() == "ok")
    );
    // Without the setting, nothing runs.
    let quiet = crate::support::server("").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(audited(&quiet, "retention").await.is_empty());
}
