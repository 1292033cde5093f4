//! Policy parity, the acceptance test of `tessera serve`: the governance matrix of the
//! engine's tests (crates/tessera-engine/tests/governance/*.slt: principals × purposes ×
//! queries, with exact rows or exact errors, and the bypass attempts) run through each
//! protocol with its real client — HTTP (urllib + pyarrow), PostgreSQL wire (psycopg),
//! Flight SQL (ADBC) — and compared with the same expected results the engine meets
//! in-process. Every path therefore returns identical rows and identical denials.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::support::{Server, clients_dir, governance_dir, python, server};

/// An sqllogictest database that sends each statement through one protocol's client.
#[derive(Clone)]
struct ProtocolDb {
    client: Arc<Mutex<Client>>,
    tokens: Arc<std::collections::BTreeMap<String, String>>,
    principal: Option<String>,
    purpose: Option<String>,
}

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct ProtocolError(String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

impl ProtocolDb {
    fn start(protocol: &str, address: &str, server: &Server) -> ProtocolDb {
        let mut child = Command::new(python())
            .arg(clients_dir().join("client.py"))
            .arg(protocol)
            .arg(address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the python client starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        ProtocolDb {
            client: Arc::new(Mutex::new(Client {
                child,
                stdin,
                stdout,
            })),
            tokens: Arc::new(server.tokens.clone()),
            principal: None,
            purpose: None,
        }
    }

    /// `SET tessera.principal = 'x'` / `SET tessera.purpose = 'y'`, as the engine's
    /// SessionDb reads them: here they pick the credentials the client connects with.
    fn setting(sql: &str) -> Option<(String, String)> {
        let s = sql.trim().trim_end_matches(';');
        let rest = s.strip_prefix("SET ").or_else(|| s.strip_prefix("set "))?;
        let (key, value) = rest
            .split_once('=')
            .or_else(|| rest.split_once(" TO "))
            .or_else(|| rest.split_once(" to "))?;
        let key = key.trim().to_ascii_lowercase();
        let key = key.strip_prefix("tessera.")?;
        Some((key.to_string(), value.trim().trim_matches('\'').to_string()))
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for ProtocolDb {
    type Error = ProtocolError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ProtocolError> {
        if let Some((key, value)) = Self::setting(sql) {
            match key.as_str() {
                "principal" => self.principal = Some(value),
                "purpose" => self.purpose = Some(value),
                other => return Err(ProtocolError(format!("unknown setting tessera.{other}"))),
            }
            // Like the engine's SessionDb: with both set, the session starts now, so a
            // refused principal or purpose is the SET's error.
            if self.principal.is_some() && self.purpose.is_some() {
                self.send("SELECT 1").await?;
            }
            return Ok(DBOutput::StatementComplete(0));
        }
        self.send(sql).await
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tessera-serve"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }
}

impl ProtocolDb {
    async fn send(&self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ProtocolError> {
        let principal = self.principal.clone().unwrap_or_default();
        let token = self.tokens.get(&principal).cloned().unwrap_or_else(|| {
            panic!("the test server has no token for `{principal}` (support::PRINCIPALS)")
        });
        let request = serde_json::json!({
            "principal": principal,
            "token": token,
            "purpose": self.purpose,
            "sql": sql,
        });
        let client = self.client.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut client = client.lock().unwrap();
            writeln!(client.stdin, "{request}").unwrap();
            client.stdin.flush().unwrap();
            let mut line = String::new();
            client.stdout.read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("the client answered {answer:?}: {e}"));
        if let Some(e) = answer.get("error") {
            return Err(ProtocolError(e.as_str().unwrap_or_default().to_string()));
        }
        let rows: Vec<Vec<String>> = serde_json::from_value(answer["rows"].clone()).unwrap();
        let columns = rows.first().map_or(1, Vec::len);
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Text; columns],
            rows,
        })
    }
}

fn matrix_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(governance_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "the governance .slt files are missing: {files:?}"
    );
    files
}

async fn run_matrix(protocol: &str, address: String, server: &Server) -> Vec<String> {
    let db = ProtocolDb::start(protocol, &address, server);
    let mut failures = Vec::new();
    for file in matrix_files() {
        let db = db.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let db = db.clone();
            async move { Ok::<_, ProtocolError>(db) }
        });
        if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!(
                "[{protocol}] {}: {}",
                file.display(),
                e.display(false)
            ));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_governance_matrix_is_identical_on_every_protocol() {
    let server = server("").await;
    let r = &server.running;
    let mut failures = Vec::new();
    for (protocol, address) in [
        ("http", r.http.unwrap()),
        ("pg", r.pg.unwrap()),
        ("flight", r.flight.unwrap()),
    ] {
        if std::env::var("TESSERA_PARITY_ONLY").is_ok_and(|only| only != protocol) {
            continue;
        }
        failures.extend(run_matrix(protocol, address.to_string(), &server).await);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
