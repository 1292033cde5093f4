//! Access requests over the HTTP API, and the parity principle for grants: an approval is
//! honoured at once on HTTP, and on PostgreSQL wire (psycopg) and Flight SQL (ADBC)
//! connections opened before it; a revocation ends it there as well.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Server, clients_dir, python, server};

async fn send(
    s: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, s.http_url(path))
        .bearer_auth(token)
        .header("Tessera-Purpose", "analytics");
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

fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {body}"))
}

/// One protocol's real client (tests/clients/client.py), keeping its connections open
/// between requests.
struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn start(protocol: &str, address: std::net::SocketAddr) -> Client {
        let mut child = Command::new(python())
            .arg(clients_dir().join("client.py"))
            .arg(protocol)
            .arg(address.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the python client starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Client {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs `sql` as `principal` for analytics; the answer: `{"rows": …}` or `{"error": …}`.
    async fn run(mut self, principal: &str, token: &str, sql: &str) -> (Client, Value) {
        let line =
            json!({"principal": principal, "token": token, "purpose": "analytics", "sql": sql});
        tokio::task::spawn_blocking(move || {
            writeln!(self.stdin, "{line}").unwrap();
            self.stdin.flush().unwrap();
            let mut answer = String::new();
            self.stdout.read_line(&mut answer).unwrap();
            let answer: Value = serde_json::from_str(&answer).unwrap();
            (self, answer)
        })
        .await
        .unwrap()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ORDERS: &str = "SELECT order_id, status FROM shop.orders ORDER BY order_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_grant_is_honoured_at_once_on_every_protocol() {
    let s = server("").await;
    let nobody = s.token("nobody").to_string();
    let sam = s.token("sam").to_string();

    // Connections opened before anything was asked, and kept.
    let pg = Client::start("pg", s.running.pg.unwrap());
    let flight = Client::start("flight", s.running.flight.unwrap());
    let (pg, before) = pg.run("nobody", &nobody, ORDERS).await;
    assert!(
        before["error"]
            .as_str()
            .unwrap()
            .contains("may not query it"),
        "{before}"
    );
    let (flight, before) = flight.run("nobody", &nobody, ORDERS).await;
    assert!(
        before["error"]
            .as_str()
            .unwrap()
            .contains("may not query it"),
        "{before}"
    );
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/query",
        &nobody,
        Some(json!({"sql": ORDERS})),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // Ask. The purpose must be one the token allows.
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/tokens",
        &nobody,
        Some(json!({"purposes": ["compliance"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let compliance_only = body["token"].as_str().unwrap().to_string();
    let ask = json!({"port": "shop.orders", "purpose": "analytics", "justification": "Churn model for Q3"});
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/access-requests",
        &compliance_only,
        Some(ask.clone()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("may be used for the purposes compliance, not for `analytics`"),
        "{body}"
    );
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/access-requests",
        &nobody,
        Some(ask.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "requested");
    assert_eq!(body["principal"], "nobody");
    assert_eq!(
        (body["mine"].as_bool(), body["can_decide"].as_bool()),
        (Some(true), Some(false))
    );
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/access-requests",
        &nobody,
        Some(ask),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["kind"], "conflict");
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/access-requests",
        &nobody,
        Some(json!({"port": "shop.nope", "justification": "x"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).contains("no port shop.nope in this mesh"),
        "{body}"
    );

    // The owner sees it and may decide it; the web owner sees nothing of it.
    let (status, body) = send(
        &s,
        Method::GET,
        "/api/v1/access-requests?state=requested",
        &sam,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body[0]["id"], id.as_str());
    assert_eq!(body[0]["can_decide"], true);
    let (status, body) = send(
        &s,
        Method::GET,
        "/api/v1/access-requests",
        s.token("wendy"),
        None,
    )
    .await;
    assert_eq!((status, body.clone()), (200, json!([])), "{body}");
    let path = format!("/api/v1/access-requests/{id}");
    let (status, body) = send(&s, Method::GET, &path, s.token("wendy"), None).await;
    assert_eq!(status, 404, "{body}");
    let approve = format!("{path}/approve");
    let (status, body) = send(
        &s,
        Method::POST,
        &approve,
        s.token("wendy"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = send(&s, Method::POST, &approve, &nobody, Some(json!({}))).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("may not decide their own request"),
        "{body}"
    );
    let (status, body) = send(
        &s,
        Method::POST,
        &approve,
        &sam,
        Some(json!({"expires": "yesterday"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).starts_with("expires: expiry `yesterday` is neither"),
        "{body}"
    );

    // Approved: the next statement works on every protocol, on the connections opened
    // before, with the same rows.
    let (status, body) = send(
        &s,
        Method::POST,
        &approve,
        &sam,
        Some(json!({"expires": "30d", "reason": "ok"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(body["decided_by"], "sam");
    assert!(body["expires_at"].is_string(), "{body}");
    let (pg, after) = pg.run("nobody", &nobody, ORDERS).await;
    let (flight, over_flight) = flight.run("nobody", &nobody, ORDERS).await;
    assert!(
        after["rows"].as_array().is_some_and(|r| !r.is_empty()),
        "{after}"
    );
    assert_eq!(after, over_flight);
    let (status, body) = send(
        &s,
        Method::POST,
        "/api/v1/query",
        &nobody,
        Some(json!({"sql": ORDERS})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rows"].as_array().map(Vec::len),
        after["rows"].as_array().map(Vec::len),
        "{body}"
    );

    // Deciding again is a conflict; a denial needs a reason.
    let (status, body) = send(&s, Method::POST, &approve, &sam, Some(json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("it is approved by sam"), "{body}");
    let (status, body) = send(
        &s,
        Method::POST,
        &format!("{path}/deny"),
        &sam,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Revoked: the next statement is refused again, on the same connections.
    let (status, body) = send(
        &s,
        Method::POST,
        &format!("{path}/revoke"),
        &sam,
        Some(json!({"reason": "done"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "revoked");
    let (_pg, revoked) = pg.run("nobody", &nobody, ORDERS).await;
    assert!(
        revoked["error"]
            .as_str()
            .unwrap()
            .contains("may not query it"),
        "{revoked}"
    );
    let (_flight, revoked) = flight.run("nobody", &nobody, ORDERS).await;
    assert!(
        revoked["error"]
            .as_str()
            .unwrap()
            .contains("may not query it"),
        "{revoked}"
    );
    let (status, body) = send(&s, Method::GET, &path, &nobody, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["state"].as_str(), body["revoked_by"].as_str()),
        (Some("revoked"), Some("sam"))
    );

    // The decisions are in the audit log, as coming over HTTP.
    let dora = reqwest::Client::new()
        .get(s.http_url("/api/v1/audit?action=approve_access&limit=10"))
        .bearer_auth(s.token("dora"))
        .header("Tessera-Purpose", "compliance")
        .send()
        .await
        .unwrap();
    assert_eq!(dora.status().as_u16(), 200);
    let records: Value = dora.json().await.unwrap();
    let outcomes: Vec<(&str, &str, &str)> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["principal"].as_str().unwrap(),
                r["interface"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(outcomes.contains(&("sam", "http", "ok")), "{records}");
    assert!(
        outcomes.contains(&("nobody", "http", "denied")),
        "{records}"
    );
}
