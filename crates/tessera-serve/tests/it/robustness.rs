//! Reliability and security at the server's edges (issue 6): what a fuzzer, a confused
//! client or an attacker sends is refused with a reason a person can act on, and the
//! server stays up and keeps serving everyone else.
//!
//! - The HTTP API against its own OpenAPI document, by schemathesis
//!   (tests/clients/schemathesis.toml): every response documented, never a 5xx.
//! - Bad requests on each protocol: malformed SQL, a wrong token, an unknown purpose,
//!   payloads of megabytes, garbage bytes on every port; a good query on each protocol
//!   afterwards.
//! - Slow and abandoned connections (slowloris): closed after `server.idle_timeout`,
//!   while a fresh client is still served.
//!
//! Raw TCP (std::net) for what no client library sends; psycopg and ADBC (in Python) and
//! reqwest for the rest. Timings appear only as generous bounds: "closed within 10 s".

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, clients_dir, python, server};

/// How long the server may take to close a connection it should close.
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// The HTTP API against its OpenAPI document
// ---------------------------------------------------------------------------------------

/// schemathesis generates requests from /api/v1/openapi.json (the examples, boundary
/// values, random and invalid data, sequences following the document's links) as `sam`
/// for `analytics`, and checks each response: no 5xx, a documented status code, the
/// documented content type, a body of the documented schema. Failures already reported
/// and not yet fixed are listed, with the report, in tests/clients/schemathesis-baseline.json;
/// any other fails the test with schemathesis' report (each failure with a curl line to
/// reproduce it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_answers_as_its_openapi_document_says() {
    let s = server("").await;
    let work = tempfile::tempdir().unwrap(); // schemathesis' and hypothesis' own files
    let clients = clients_dir();
    let out = tokio::process::Command::new(python())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(clients.join("schemathesis.toml"))
        .arg("run")
        .arg(s.http_url("/api/v1/openapi.json"))
        .arg("--baseline")
        .arg(clients.join("schemathesis-baseline.json"))
        .args(["--no-color", "--output-truncate", "false"])
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", s.token("sam")))
        .args(["-H", "Tessera-Purpose: analytics"])
        .current_dir(work.path())
        .output()
        .await
        .expect("the test python runs (scripts/test installs schemathesis into its venv)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}"); // shown with --nocapture
    assert!(
        out.status.success(),
        "schemathesis found responses the OpenAPI document does not describe:\n{report}"
    );
    // Every operation of the document was exercised, not skipped.
    let count = |label: &str| -> String {
        let line = report
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no `{label}` in the report:\n{report}"));
        line.trim_start()[label.len()..].trim().to_string()
    };
    let selected = count("Selected:");
    let (selected, total) = selected.split_once('/').unwrap();
    assert_eq!(selected, total, "{report}");
    assert_eq!(count("Tested:"), selected, "{report}");
    assert!(selected.parse::<u32>().unwrap() >= 20, "{report}");
}

// ---------------------------------------------------------------------------------------
// Bad requests on every protocol
// ---------------------------------------------------------------------------------------

/// How a raw connection ended, seen from the client.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The server closed it (EOF), or reset it.
    Closed,
    /// Still open after [`CLOSED_WITHIN`].
    Open,
}

/// Reads what the server sends until it closes the connection or [`CLOSED_WITHIN`] passes.
fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, Ended) {
    let deadline = Instant::now() + CLOSED_WITHIN;
    let mut said = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (said, Ended::Open);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (said, Ended::Closed),
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset or aborted: closed, and whatever it said before is what it said.
            Err(_) => return (said, Ended::Closed),
        }
    }
}

/// Sends `bytes` on a fresh connection and reads until the server closes it.
fn raw(addr: SocketAddr, bytes: &[u8]) -> (String, Ended) {
    let mut stream = TcpStream::connect(addr).unwrap();
    // The server may close before reading everything (that is an answer too).
    let _ = stream.write_all(bytes);
    let (said, ended) = read_to_close(&mut stream);
    (String::from_utf8_lossy(&said).into_owned(), ended)
}

/// A PostgreSQL v3 startup packet.
fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec(); // protocol 3.0
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = (body.len() as i32 + 4).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

/// Bytes no protocol speaks.
fn garbage() -> Vec<u8> {
    (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect()
}

/// Python with psycopg and ADBC: `pg(sql, …)` and `flight(sql, …)` as ana for analytics
/// unless told otherwise, and `step(name, f)` recording rows or the error's text.
const PRELUDE: &str = r#"
import json, sys
import psycopg
import adbc_driver_flightsql.dbapi as flightsql

config = json.loads(sys.argv[1])
tokens = config["tokens"]
pg_host, pg_port = config["pg"].rsplit(":", 1)

def pg(sql, principal="ana", purpose="analytics", password=None):
    password = tokens[principal] if password is None else password
    with psycopg.connect(host=pg_host, port=int(pg_port), user=principal, dbname="mesh",
            password=password, options="-c tessera.purpose=" + purpose, autocommit=True,
            connect_timeout=20) as c:
        return [[str(v) for v in row] for row in c.execute(sql).fetchall()]

def flight(sql, principal="ana", purpose="analytics", password=None):
    kwargs = {"username": principal,
              "password": tokens[principal] if password is None else password,
              "adbc.flight.sql.rpc.call_header.tessera-purpose": purpose}
    with flightsql.connect("grpc://" + config["flight"], db_kwargs=kwargs, autocommit=True) as c:
        with c.cursor() as cur:
            cur.execute(sql)
            return [[str(v) for v in row] for row in cur.fetchall()]

results = {}
def step(name, f):
    try:
        results[name] = {"rows": f()}
    except Exception as e:
        results[name] = {"error": str(e), "class": type(e).__name__,
                         "sqlstate": getattr(e, "sqlstate", None)}
"#;

fn client_config(s: &Server) -> Value {
    json!({
        "pg": s.running.pg.unwrap().to_string(),
        "flight": s.running.flight.unwrap().to_string(),
        "tokens": s.tokens,
    })
}

/// Runs `script` after [`PRELUDE`] and returns its `results`.
async fn run_steps(s: &Server, script: &str) -> Value {
    let out = tokio::process::Command::new(python())
        .arg("-c")
        .arg(format!("{PRELUDE}\n{script}\nprint(json.dumps(results))\n"))
        .arg(client_config(s).to_string())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client script failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The error text of a step that must have failed, checked for each of `words`.
fn refused<'a>(results: &'a Value, step: &str, words: &[&str]) -> &'a str {
    let text = results[step]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{step} was not refused: {}", results[step]));
    for w in words {
        assert!(text.contains(w), "{step}: no `{w}` in: {text}");
    }
    text
}

/// A good query on each protocol: the server is up and serving.
async fn good_queries(s: &Server) {
    let http = reqwest::Client::new()
        .post(s.http_url("/api/v1/query"))
        .bearer_auth(s.token("ana"))
        .header("Tessera-Purpose", "analytics")
        .json(&json!({"sql": "SELECT count(*) AS n FROM shop.customers"}))
        .send()
        .await
        .unwrap();
    assert_eq!(http.status().as_u16(), 200);
    let body: Value = http.json().await.unwrap();
    assert_eq!(body["rows"], json!([{"n": 3}]), "{body}");
    let results = run_steps(
        s,
        r#"
step("pg", lambda: pg("SELECT count(*) AS n FROM shop.customers"))
step("flight", lambda: flight("SELECT count(*) AS n FROM shop.customers"))
"#,
    )
    .await;
    assert_eq!(results["pg"]["rows"], json!([["3"]]), "{results}");
    assert_eq!(results["flight"]["rows"], json!([["3"]]), "{results}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_on_every_protocol_are_refused_with_a_reason_and_the_server_stays_up() {
    let s = server("server:\n  max_request_size: 6MiB\n").await;
    let http = s.running.http.unwrap();
    let pg = s.running.pg.unwrap();
    let flight = s.running.flight.unwrap();

    // --- HTTP ---------------------------------------------------------------------------
    let client = reqwest::Client::new();
    let query = |token: &str, purpose: &str, body: Value| {
        client
            .post(s.http_url("/api/v1/query"))
            .bearer_auth(token)
            .header("Tessera-Purpose", purpose)
            .json(&body)
            .send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (
            status,
            body["error"]["kind"].clone(),
            body["error"]["message"].clone(),
        )
    };
    let sql = |text: &str| json!({ "sql": text });

    let (status, kind, message) = answer(
        query(s.token("ana"), "analytics", sql("SELEC 1"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, kind.as_str()), (400, Some("bad_request")));
    let message = message.as_str().unwrap();
    assert!(
        message.contains("SQL syntax error") && message.contains("(line 1, column 1)"),
        "{message}"
    );
    let (status, _, message) = answer(
        query("tsr_wrong", "analytics", sql("SELECT 1"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(message.as_str().unwrap().contains("the token is not valid"));
    let (status, _, message) = answer(
        query(s.token("ana"), "nonsense", sql("SELECT 1"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("unknown purpose `nonsense`"),
        "{message}"
    );
    // A body over server.max_request_size (6 MiB), declared up front…
    let big = sql(&format!("SELECT '{}'", "x".repeat(7 << 20)));
    let (status, kind, message) =
        answer(query(s.token("ana"), "analytics", big).await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (413, Some("too_large")));
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("server.max_request_size"),
        "{message}"
    );
    // …or streamed in chunks without a length: cut off where it passes the limit.
    let mut chunked = format!(
        "POST /api/v1/query HTTP/1.1\r\nHost: tessera\r\nAuthorization: Bearer {}\r\n\
         Tessera-Purpose: analytics\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        s.token("ana")
    );
    for _ in 0..7 {
        chunked.push_str(&format!("100000\r\n{}\r\n", " ".repeat(1 << 20)));
    }
    chunked.push_str("0\r\n\r\n");
    let (said, ended) = raw(http, chunked.as_bytes());
    assert!(
        said.starts_with("HTTP/1.1 413 ") && said.contains("server.max_request_size"),
        "{said}"
    );
    assert_eq!(ended, Ended::Closed, "{said}");
    // A body that is JSON but not an object (serde would read `["SELECT 1"]` as a query).
    let response = client
        .post(s.http_url("/api/v1/query"))
        .bearer_auth(s.token("ana"))
        .json(&json!(["SELECT 1"]))
        .send()
        .await
        .unwrap();
    let (status, _, message) = answer(response).await;
    assert_eq!(status, 400);
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("the request body must be a JSON object"),
        "{message}"
    );
    // Credentials and purposes that are not text.
    let response = client
        .post(s.http_url("/api/v1/query"))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .json(&sql("SELECT 1"))
        .send()
        .await
        .unwrap();
    let (status, _, message) = answer(response).await;
    assert_eq!(status, 401);
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("the Authorization header is not text")
    );
    let response = client
        .post(s.http_url("/api/v1/query"))
        .bearer_auth(s.token("ana"))
        .header(
            "Tessera-Purpose",
            reqwest::header::HeaderValue::from_bytes(b"analytics\xff").unwrap(),
        )
        .json(&sql("SELECT 1"))
        .send()
        .await
        .unwrap();
    let (status, _, message) = answer(response).await;
    assert_eq!(status, 400);
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("the Tessera-Purpose header is not text")
    );
    // Authentication comes first: a request without a good token learns nothing about
    // what the endpoint would accept (401, not the 400 its bad parameters would get).
    for path in [
        "/api/v1/products?limit=nonsense",
        "/api/v1/search?bogus=1",
        "/api/v1/lineage/x/y?depth=-1",
    ] {
        let response = client.get(s.http_url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        let response = client
            .get(s.http_url(path))
            .bearer_auth(s.token("ana"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
    }
    let response = client
        .post(s.http_url("/api/v1/query"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // A token whose principal is no longer declared reads neither data nor the catalog.
    for path in [
        "/api/v1/products",
        "/api/v1/search?q=customers",
        "/api/v1/tokens",
    ] {
        let response = client
            .get(s.http_url(path))
            .bearer_auth(s.token("mallory"))
            .send()
            .await
            .unwrap();
        let (status, _, message) = answer(response).await;
        assert_eq!(status, 403, "{path}");
        assert!(
            message
                .as_str()
                .unwrap()
                .contains("unknown principal `mallory`"),
            "{path}: {message}"
        );
    }
    // Garbage, and a megabyte of headers: hyper's plain refusals, then the connection ends.
    let (said, ended) = raw(http, &garbage());
    assert!(said.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{said}");
    assert_eq!(ended, Ended::Closed);
    let bomb = format!(
        "GET /api/v1/health HTTP/1.1\r\nHost: tessera\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let (said, ended) = raw(http, bomb.as_bytes());
    assert!(
        said.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{said}"
    );
    assert_eq!(ended, Ended::Closed);

    // --- PostgreSQL wire and Flight SQL, through psycopg and ADBC ------------------------
    let results = run_steps(
        &s,
        r#"
big = "SELECT length('" + "x" * 4_000_000 + "') AS n"
big_and_wrong = "SELECT nope FROM shop.customers WHERE name = '" + "x" * 3_000_000 + "'"
for name, run in [("pg", pg), ("flight", flight)]:
    step(name + "_syntax", lambda: run("SELEC 1"))
    step(name + "_token", lambda: run("SELECT 1", password="tsr_wrong"))
    step(name + "_purpose", lambda: run("SELECT 1", purpose="nonsense"))
    step(name + "_big_and_wrong", lambda: run(big_and_wrong))
step("pg_big", lambda: pg(big))
too_big = "SELECT length('" + "x" * 7_000_000 + "') AS n"
step("pg_too_big", lambda: pg(too_big))
step("flight_too_big", lambda: flight(too_big))
"#,
    )
    .await;
    for p in ["pg", "flight"] {
        refused(
            &results,
            &format!("{p}_syntax"),
            &["SQL syntax error", "(line 1, column 1)"],
        );
        refused(&results, &format!("{p}_token"), &["the token is not valid"]);
        refused(
            &results,
            &format!("{p}_purpose"),
            &["unknown purpose `nonsense`", "the mesh declares analytics"],
        );
        // The engine quotes the offending line; megabytes of it are cut, not sent back.
        let text = refused(
            &results,
            &format!("{p}_big_and_wrong"),
            &["unknown column nope", "more bytes not shown"],
        );
        assert!(text.len() < 4096, "{p}: a {} byte message", text.len());
    }
    assert_eq!(results["pg_syntax"]["sqlstate"], "42000");
    assert!(refused(&results, "pg_token", &[]).contains("FATAL:  the token is not valid"));
    refused(&results, "flight_token", &["UNAUTHENTICATED"]);
    refused(&results, "flight_syntax", &["INVALID_ARGUMENT"]);
    // A statement of 4 MB is a statement…
    assert_eq!(results["pg_big"]["rows"], json!([["4000000"]]), "{results}");
    // …one of 7 MB is over server.max_request_size: refused at the message's header on
    // the PostgreSQL wire (the body is thrown away, never buffered), by tonic's message
    // limit on Flight SQL.
    refused(
        &results,
        "pg_too_big",
        &["a `Q` message of 7000027 bytes is larger than server.max_request_size (6291456 bytes)"],
    );
    assert_eq!(results["pg_too_big"]["sqlstate"], "54000", "{results}");
    refused(
        &results,
        "flight_too_big",
        &["message length too large", "6291456"],
    );

    // --- Raw bytes on the PostgreSQL port ------------------------------------------------
    let (_, ended) = raw(pg, &garbage());
    assert_eq!(ended, Ended::Closed, "garbage on the PostgreSQL port");
    // A startup packet claiming 2 GB: refused before anything is allocated.
    let (_, ended) = raw(pg, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]);
    assert_eq!(ended, Ended::Closed, "a 2 GB startup packet");
    // A login without a password: asked for one (cleartext, code 3), then refused.
    let mut login = startup(&[("user", "ana"), ("database", "mesh")]);
    login.extend_from_slice(b"p\0\0\0\x05\0"); // PasswordMessage ""
    let (said, ended) = raw(pg, &login);
    assert!(said.starts_with("R\0\0\0\x08\0\0\0\x03"), "{said:?}");
    assert!(
        said.contains("SFATAL\0") && said.contains("C28P01\0") && said.contains("no credentials"),
        "{said:?}"
    );
    assert_eq!(ended, Ended::Closed);
    // A password message claiming 1 GB: the connection ends, nothing is buffered.
    let mut login = startup(&[("user", "ana"), ("database", "mesh")]);
    login.extend_from_slice(b"p\x3f\xff\xff\xf0");
    let (_, ended) = raw(pg, &login);
    assert_eq!(ended, Ended::Closed, "a 1 GB password message");

    // --- Raw bytes on the Flight SQL port (HTTP/2) -----------------------------------------
    let (_, ended) = raw(flight, &garbage());
    assert_eq!(ended, Ended::Closed, "garbage on the Flight SQL port");
    let (_, ended) = raw(flight, b"GET / HTTP/1.1\r\nHost: tessera\r\n\r\n");
    assert_eq!(ended, Ended::Closed, "HTTP/1.1 on the Flight SQL port");

    good_queries(&s).await;
}

/// Garbage on the PostgreSQL port is answered as PostgreSQL answers it — `FATAL 08P01`
/// (which psql and drivers show) — and the connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_postgres_port_is_answered_with_a_fatal_error() {
    let s = server("").await;
    let pg = s.running.pg.unwrap();
    for (what, bytes) in [
        ("garbage", garbage()),
        (
            "a 2 GB startup packet",
            vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        ),
        ("protocol 2.0", vec![0, 0, 0, 8, 0, 2, 0, 0]),
    ] {
        let (said, ended) = raw(pg, &bytes);
        assert!(
            said.starts_with('E') && said.contains("SFATAL\0") && said.contains("C08P01\0"),
            "{what}: {said:?}"
        );
        assert_eq!(ended, Ended::Closed);
    }
}

// ---------------------------------------------------------------------------------------
// Slow and abandoned connections
// ---------------------------------------------------------------------------------------

/// A connection that sent the start of something and then nothing.
struct Hanging {
    what: &'static str,
    stream: TcpStream,
    /// What the server sent so far.
    said: Vec<u8>,
}

impl Hanging {
    fn open(what: &'static str, addr: SocketAddr, start: &[u8]) -> Hanging {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(start).unwrap();
        Hanging {
            what,
            stream,
            said: Vec::new(),
        }
    }

    /// Whether the server still holds it open (reading what it sent meanwhile).
    fn still_open(&mut self) -> bool {
        self.stream.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        let open = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break false,
                Ok(n) => self.said.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        self.stream.set_nonblocking(false).unwrap();
        open
    }
}

/// Sends `bytes` one at a time, `every` apart, until the server closes the connection
/// (or answers); how long that took, or `None` when it still listened after the last byte.
fn trickle(addr: SocketAddr, bytes: &[u8], every: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    for byte in bytes {
        if stream.write_all(&[*byte]).is_err() {
            return Some(started.elapsed());
        }
        std::thread::sleep(every);
        stream.set_nonblocking(true).unwrap();
        let ended = match stream.read(&mut [0u8; 512]) {
            Ok(_) => true,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
        stream.set_nonblocking(false).unwrap();
        if ended {
            return Some(started.elapsed());
        }
    }
    None
}

/// Two of each: an HTTP request line cut short, a PostgreSQL startup packet cut short,
/// the start of the HTTP/2 preface on the Flight SQL port.
fn open_hanging(s: &Server) -> Vec<Hanging> {
    let login = startup(&[("user", "ana"), ("database", "mesh")]);
    let mut out = Vec::new();
    for _ in 0..2 {
        out.push(Hanging::open(
            "http",
            s.running.http.unwrap(),
            b"GET /api/v1/heal",
        ));
        out.push(Hanging::open("pg", s.running.pg.unwrap(), &login[..12]));
        out.push(Hanging::open(
            "flight",
            s.running.flight.unwrap(),
            b"PRI * HTTP/2.0\r\n",
        ));
    }
    out
}

/// A psycopg and an ADBC client in a Python process that is ready before the hanging
/// connections are opened: each line on its stdin runs a query on each protocol.
struct GoodClient {
    child: Child,
    stdin: ChildStdin,
    stdout: std::io::BufReader<ChildStdout>,
}

impl GoodClient {
    fn start(s: &Server) -> GoodClient {
        let mut child = Command::new(python())
            .arg("-c")
            .arg(format!(
                r#"{PRELUDE}
for line in sys.stdin:
    results.clear()
    step("pg", lambda: pg("SELECT count(*) AS n FROM shop.customers"))
    step("flight", lambda: flight("SELECT count(*) AS n FROM shop.customers"))
    print(json.dumps(results), flush=True)
"#
            ))
            .arg(client_config(s).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        GoodClient {
            stdin: child.stdin.take().unwrap(),
            stdout: std::io::BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    fn query(&mut self) -> Value {
        use std::io::BufRead;
        writeln!(self.stdin).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }
}

impl Drop for GoodClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query on each protocol, each on a new connection.
async fn served(s: &Server, good: &mut GoodClient) {
    let results = good.query();
    assert_eq!(results["pg"]["rows"], json!([["3"]]), "{results}");
    assert_eq!(results["flight"]["rows"], json!([["3"]]), "{results}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = http
        .post(s.http_url("/api/v1/query"))
        .bearer_auth(s.token("ana"))
        .header("Tessera-Purpose", "analytics")
        .json(&json!({"sql": "SELECT count(*) AS n FROM shop.customers"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

async fn open_connections(s: &Server) -> String {
    let metrics = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(s.http_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("tessera_connections_open{"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_abandoned_connections_are_closed_without_starving_other_clients() {
    let s = server("server:\n  idle_timeout: 2s\n  max_connections: 10\n").await;
    let mut good = GoodClient::start(&s);
    served(&s, &mut good).await; // python has imported its clients

    // Six connections hang while a fresh client is served on each protocol. Whether
    // they still hung when it was served depends on the machine's speed (they are
    // closed after 2 s), so a slow round is tried again.
    let mut hanging = Vec::new();
    for round in 1..=3 {
        hanging = open_hanging(&s);
        served(&s, &mut good).await;
        if hanging.iter_mut().all(Hanging::still_open) {
            println!("round {round}: served while six connections hung");
            break;
        }
        assert!(
            round < 3,
            "the hanging connections were closed before a client was served, three times"
        );
    }

    // Each is closed by the server: the idle timeout, and for PostgreSQL the login
    // deadline (no longer than the idle timeout).
    for h in &mut hanging {
        let (said, ended) = read_to_close(&mut h.stream);
        h.said.extend(said);
        assert_eq!(
            ended,
            Ended::Closed,
            "a hanging {} connection is still open after {CLOSED_WITHIN:?} (server.idle_timeout is 2s); it said {:?}",
            h.what,
            String::from_utf8_lossy(&h.said)
        );
        println!("{} said {:?}", h.what, String::from_utf8_lossy(&h.said));
        if h.what == "http" {
            assert!(
                h.said.is_empty() || h.said.starts_with(b"HTTP/1.1 4"),
                "{:?}",
                String::from_utf8_lossy(&h.said)
            );
        }
    }

    // A login sent a byte at a time, each within the idle timeout: the login deadline
    // (server.idle_timeout here; at most 60 s) still ends it.
    let login = startup(&[("user", "ana"), ("database", "mesh")]);
    let closed = trickle(s.running.pg.unwrap(), &login, Duration::from_millis(300));
    assert!(
        closed.is_some(),
        "a PostgreSQL login sent over {:?}, a byte at a time, was never cut off",
        Duration::from_millis(300) * login.len() as u32
    );

    // Their connection permits came back.
    let deadline = Instant::now() + CLOSED_WITHIN;
    loop {
        let open = open_connections(&s).await;
        let settled = open.contains("{interface=\"pg\"} 0")
            && open.contains("{interface=\"flight\"} 0")
            && open.contains("{interface=\"http\"} 1"); // this request
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "connections still open:\n{open}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(good);
    good_queries(&s).await;
}

/// An HTTP client that sends its request head a byte at a time, each byte within
/// `server.idle_timeout`, would hold its connection — and one of
/// `server.max_connections`, shared by the three protocols — for as long as it liked,
/// were there no deadline for the whole head (hyper's `header_read_timeout`: 30 s, or
/// the idle timeout when shorter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_head_sent_a_byte_at_a_time_is_cut_off() {
    let s = server("server:\n  idle_timeout: 1s\n").await;
    let mut head = b"GET /api/v1/health HTTP/1.1\r\nHost: tessera\r\nX-Filler: ".to_vec();
    head.resize(head.len() + 50, b'a');
    let every = Duration::from_millis(300);
    assert!(
        trickle(s.running.http.unwrap(), &head, every).is_some(),
        "a request head sent over {:?}, a byte at a time, is still being read",
        every * head.len() as u32
    );
}
