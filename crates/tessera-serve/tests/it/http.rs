//! The HTTP API: authentication, the error shape, result formats, limits, operations.

use serde_json::{Value, json};

use crate::support::server;

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    purpose: Option<&str>,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client.post(url).json(&body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(p) = purpose {
        request = request.header("Tessera-Purpose", p);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn error(body: &str) -> (String, String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
    let e = &v["error"];
    (
        e["kind"].as_str().unwrap().to_string(),
        e["message"].as_str().unwrap().to_string(),
        e["error_id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_authenticated_governed_and_streamed_in_each_format() {
    let server = server("query:\n  max_rows: 8200\nserver:\n  max_request_size: 2KiB\n").await;
    let client = reqwest::Client::new();
    let url = server.http_url("/api/v1/query");
    let sql = json!({"sql": "SELECT id, email FROM shop.customers ORDER BY id LIMIT 3"});

    // No credentials: 401, the API's error shape, a WWW-Authenticate challenge.
    let (status, headers, body) = post(&client, &url, None, None, sql.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (kind, message, id) = error(&body);
    assert_eq!(kind, "unauthenticated");
    assert!(message.contains("tessera token create"), "{message}");
    assert!(id.starts_with("err_") && id.len() == 20, "{id}");

    // A token that is not one: 401 without saying more.
    let (status, _, body) = post(&client, &url, Some("tsr_forged"), None, sql.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(
        error(&body).1,
        "the token is not valid (unknown to this mesh, or malformed)"
    );

    // A governed mesh needs a purpose.
    let (status, _, body) = post(&client, &url, Some(server.token("ana")), None, sql.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        error(&body).1.contains("a principal (--as) and a purpose"),
        "{body}"
    );

    // ana (analyst) for analytics: customers in her regions, e-mail masked — JSON rows.
    let (status, headers, body) = post(
        &client,
        &url,
        Some(server.token("ana")),
        Some("analytics"),
        sql.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["columns"][0], json!({"name": "id", "type": "Int64"}));
    assert_eq!(v["row_count"], 3);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], 1);
    let email = rows[0]["email"].as_str().unwrap();
    assert_eq!(
        email, "***@example.com",
        "contact columns are partially masked"
    );

    // The same rows as CSV and NDJSON, by the Accept header and by `format`.
    let csv = client
        .post(&url)
        .bearer_auth(server.token("ana"))
        .header("Tessera-Purpose", "analytics")
        .header("Accept", "text/csv")
        .json(&sql)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(lines[0], "id,email");
    assert_eq!(lines[1], format!("1,{email}"));
    let mut ndjson_request = sql.clone();
    ndjson_request["format"] = json!("ndjson");
    let (_, _, ndjson) = post(
        &client,
        &url,
        Some(server.token("ana")),
        Some("analytics"),
        ndjson_request,
    )
    .await;
    let first: Value = serde_json::from_str(ndjson.lines().next().unwrap()).unwrap();
    assert_eq!(first, json!({"id": 1, "email": email}));

    // A purpose the principal may not use: refused by policy, with why.
    let (status, _, body) = post(
        &client,
        &url,
        Some(server.token("ana")),
        Some("no_such_purpose"),
        sql.clone(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).1.contains("no_such_purpose"), "{body}");

    // More rows than query.max_rows (8200), found after the first batch (8192 rows) was
    // sent: the JSON document ends with the error instead of a row count.
    let (status, _, body) = post(
        &client,
        &url,
        Some(server.token("sam")),
        Some("analytics"),
        json!({"sql": "SELECT * FROM range(20000)"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(v["error"]["kind"], "limit", "{body}");
    assert!(v.get("row_count").is_none(), "{body}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 8192);

    // Bad SQL: 400 with the position.
    let (status, _, body) = post(
        &client,
        &url,
        Some(server.token("sam")),
        Some("analytics"),
        json!({"sql": "SELEC 1"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error(&body).0, "bad_request");

    // Malformed JSON: where it is wrong. Unknown fields are refused, not ignored.
    let response = client
        .post(&url)
        .bearer_auth(server.token("sam"))
        .header("content-type", "application/json")
        .body("{\"sql\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let message = error(&response.text().await.unwrap()).1;
    assert!(message.contains("line 1, column"), "{message}");
    let (status, _, body) = post(
        &client,
        &url,
        Some(server.token("sam")),
        None,
        json!({"sql": "SELECT 1", "purpse": "analytics"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error(&body).1.contains("purpse"), "{body}");

    // A body over server.max_request_size (2KiB): 413 in the API's shape.
    let huge = json!({"sql": format!("SELECT '{}'", "x".repeat(4096))});
    let (status, _, body) = post(&client, &url, Some(server.token("sam")), None, huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error(&body).0, "too_large");

    // The server is still up.
    let health = client
        .get(server.http_url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_and_unknown_routes() {
    let server = server("").await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(server.http_url(path)).send();

    let ready = get("/api/v1/ready").await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready", "catalog": true})
    );

    let api: Value = get("/api/v1/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["openapi"], "3.1.0");
    for path in ["/api/v1/query", "/api/v1/health", "/api/v1/ready"] {
        assert!(
            api["paths"].get(path).is_some(),
            "{path} is not in the OpenAPI document"
        );
    }
    assert_eq!(
        api["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let missing = get("/api/v1/nothing-here").await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(error(&missing.text().await.unwrap()).0, "not_found");
    let wrong_method = get("/api/v1/query").await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);

    // One query, then the metrics count it.
    let (status, _, _) = post(
        &client,
        &server.http_url("/api/v1/query"),
        Some(server.token("sam")),
        Some("analytics"),
        json!({"sql": "SELECT count(*) FROM shop.orders"}),
    )
    .await;
    assert_eq!(status, 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("tessera_queries_total{interface=\"http\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_rows_sent_total{interface=\"http\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/query\",status=\"200\""),
        "{metrics}"
    );
}
