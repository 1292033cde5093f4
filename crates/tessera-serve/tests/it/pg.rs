//! The PostgreSQL wire protocol with real clients — psql and psycopg — over the governed
//! fixture mesh: what each principal's catalog lists, purposes, credentials, the extended
//! protocol, limits and the connection's life.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Server, python, server};

/// psql's output (unaligned, tuples only, no psqlrc), its errors, and whether it
/// succeeded. `purpose` goes in PGOPTIONS, as a user would set it.
fn psql(
    server: &Server,
    user: &str,
    password: &str,
    purpose: Option<&str>,
    commands: &[&str],
) -> (String, String, bool) {
    let pg = server.running.pg.unwrap();
    let mut cmd = Command::new("psql");
    cmd.arg(format!(
        "host={} port={} user={user} dbname=mesh",
        pg.ip(),
        pg.port()
    ))
    .args(["-X", "-A", "-t", "-w", "-v", "VERBOSITY=verbose"])
    .env("PGPASSWORD", password)
    .env_remove("PGOPTIONS");
    if let Some(p) = purpose {
        cmd.env("PGOPTIONS", format!("-c tessera.purpose={p}"));
    }
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd
        .output()
        .expect("psql runs (install the PostgreSQL client to run these tests)");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty()).collect()
}

/// Runs a psycopg script with `HOST`, `PORT` and `connect(user, purpose=None)` defined;
/// returns what it printed, one item per line.
pub(crate) fn psycopg(server: &Server, script: &str) -> Vec<String> {
    let pg = server.running.pg.unwrap();
    let tokens = serde_json::to_string(&server.tokens).unwrap();
    let prelude = format!(
        r#"
import json, sys, time, datetime, decimal, psycopg
HOST, PORT, TOKENS = "{}", {}, json.loads({:?})
def connect(user, purpose=None, password=None, **kw):
    return psycopg.connect(host=HOST, port=PORT, user=user, dbname="mesh",
        password=TOKENS.get(user, "") if password is None else password,
        options=("-c tessera.purpose=" + purpose) if purpose else None, autocommit=True, **kw)
def error(e):
    return "%s %s" % (e.sqlstate, e.diag.message_primary)
"#,
        pg.ip(),
        pg.port(),
        tokens
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(format!("{prelude}\n{script}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "the script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_lists_only_what_each_principal_may_see() {
    let s = server("").await;
    let (ana, _, ok) = psql(&s, "ana", s.token("ana"), Some("analytics"), &["\\dt"]);
    assert!(ok);
    assert_eq!(
        lines(&ana),
        [
            "analytics|revenue_by_country|table|postgres",
            "shop|consents|table|postgres",
            "shop|customers|table|postgres",
            "shop|legacy_orders|table|postgres",
            "shop|orders|table|postgres",
            "web|visits|table|postgres",
        ]
    );
    // The e-mail service may read the customers only (policy activation-customers-only).
    let (mailer, _, _) = psql(
        &s,
        "mailer",
        s.token("mailer"),
        Some("email_marketing"),
        &["\\dt"],
    );
    assert_eq!(lines(&mailer), ["shop|customers|table|postgres"]);

    // ana sees customers' names (hashed); dan, for modelling, does not see the column.
    let (ana, _, _) = psql(
        &s,
        "ana",
        s.token("ana"),
        Some("analytics"),
        &["\\d shop.customers"],
    );
    assert_eq!(
        lines(&ana),
        [
            "id|bigint|||",
            "name|text|||",
            "email|text|||",
            "country|text|||",
            "signup_date|date|||",
        ]
    );
    let (dan, _, _) = psql(
        &s,
        "dan",
        s.token("dan"),
        Some("modelling"),
        &["\\d shop.customers"],
    );
    assert_eq!(
        lines(&dan),
        [
            "id|bigint|||",
            "email|text|||",
            "country|text|||",
            "signup_date|date|||",
        ]
    );
    // The same through BI tools' catalog queries.
    let columns = "SELECT a.attname FROM pg_catalog.pg_attribute a \
                   JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
                   JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
                   WHERE n.nspname = 'shop' AND c.relname = 'customers' ORDER BY a.attnum";
    let (dan, _, _) = psql(&s, "dan", s.token("dan"), Some("modelling"), &[columns]);
    assert_eq!(lines(&dan), ["id", "email", "country", "signup_date"]);
    let (mailer, _, _) = psql(
        &s,
        "mailer",
        s.token("mailer"),
        Some("email_marketing"),
        &[
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_schema NOT IN ('information_schema', 'mesh_meta') ORDER BY 1",
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'orders'",
        ],
    );
    assert_eq!(lines(&mailer), ["shop.customers", "0"]);

    let (out, err, _) = psql(
        &s,
        "ana",
        s.token("ana"),
        Some("analytics"),
        &["SELECT version(), current_database(), current_schema(), current_user"],
    );
    assert!(
        out.starts_with("PostgreSQL 16.6 (Tessera ")
            && out.trim_end().ends_with("|mesh|public|ana"),
        "{out}{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purpose_comes_from_the_options_or_set_and_the_token_bounds_it() {
    let s = server("").await;
    let (out, err, ok) = psql(
        &s,
        "ana",
        s.token("ana"),
        None,
        &[
            "SHOW tessera.purpose",
            "SET tessera.purpose = 'analytics'",
            "SHOW tessera.purpose",
            "SELECT count(*) FROM shop.customers",
            "SET tessera.purpose TO modelling",
            "SHOW tessera.purpose",
            "RESET tessera.purpose",
            "SHOW tessera.purpose",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "\nSET\nanalytics\n3\nSET\nmodelling\nRESET\n\n");

    // A token made for analytics only.
    let engine = s.running.shared.engine();
    let analytics_only = tessera_serve::issue(
        engine.catalog.as_ref(),
        "ana",
        vec!["analytics".into()],
        None,
        "test",
        None,
    )
    .await
    .unwrap()
    .token;
    let (out, _, ok) = psql(&s, "ana", &analytics_only, None, &["SHOW tessera.purpose"]);
    assert!(ok);
    assert_eq!(
        out, "analytics\n",
        "the token's only purpose is the default"
    );
    let (_, err, ok) = psql(&s, "ana", &analytics_only, Some("modelling"), &["SELECT 1"]);
    assert!(!ok);
    assert!(
        err.contains("FATAL:  token tok_")
            && err.contains("may be used for the purposes analytics, not for `modelling`"),
        "{err}"
    );
    let (_, err, _) = psql(
        &s,
        "ana",
        &analytics_only,
        None,
        &["SET tessera.purpose = 'modelling'"],
    );
    assert!(err.contains("ERROR:  42501: token tok_"), "{err}");
    let (_, err, _) = psql(&s, "ana", s.token("ana"), Some("nonsense"), &["SELECT 1"]);
    assert!(
        err.contains("FATAL:  not permitted: this session: unknown purpose `nonsense`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_end_the_login() {
    let s = server("").await;
    let cases = [
        ("ana", "tsr_wrong", "FATAL:  the token is not valid"),
        (
            "ana",
            s.token("dan"),
            "FATAL:  the token belongs to another principal, not to `ana`",
        ),
        ("ana", "", "no password supplied"),
    ];
    for (user, password, expected) in cases {
        let (_, err, ok) = psql(&s, user, password, None, &["SELECT 1"]);
        assert!(!ok && err.contains(expected), "{user}/{password}: {err}");
    }
    let out = psycopg(
        &s,
        r#"
for user, password in [("ana", "tsr_wrong"), ("ana", TOKENS["dan"])]:
    try:
        connect(user, password=password)
    except psycopg.OperationalError as e:
        print(str(e).split("FATAL:  ")[-1].split(":")[0])
"#,
    );
    assert_eq!(
        out,
        [
            "the token is not valid (unknown to this mesh, or malformed)",
            "the token belongs to another principal, not to `ana`"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_runs_the_extended_protocol_with_parameters_in_both_formats() {
    let s = server("").await;
    let out = psycopg(
        &s,
        r#"
c = connect("ana", "analytics")
cur = c.execute("SELECT id, email, country, signup_date FROM shop.customers WHERE country = %s AND id > %s ORDER BY id", ("US", 1))
print([(d.name, d.type_code) for d in cur.description])
print(cur.fetchall())
print(c.execute("SELECT %s AS a, %s AS b, %s AS c, %s AS d, %s AS e, %s AS f",
    ("it's' OR 1=1 --", 3.5, decimal.Decimal("-12.50"), datetime.date(2026, 3, 15), None, True)).fetchall())
print(c.execute("SELECT id FROM shop.customers WHERE id = %b", (2,)).fetchall())
print(c.cursor(binary=True).execute("SELECT id, signup_date FROM shop.customers WHERE id = %s", (2,)).fetchall())
print([c.execute("SELECT id FROM shop.customers WHERE id = %s", (i,), prepare=True).fetchone() for i in (1, 2, 4)])
for q, p in [("SELECT * FROM mesh_meta.audit WHERE seq > %s", (0,)),
             ("SELECT * FROM generate_series(1, %s)", (5000,)),
             ("SELECT nope FROM shop.customers WHERE id = %s", (1,))]:
    try:
        c.execute(q, p).fetchall()
    except psycopg.Error as e:
        print(error(e).splitlines()[0])
"#,
    );
    assert_eq!(
        out,
        [
            "[('id', 20), ('email', 25), ('country', 25), ('signup_date', 1082)]",
            "[(2, '***@example.com', 'US', datetime.date(2026, 2, 1)), (4, '***@example.com', 'US', datetime.date(2026, 3, 1))]",
            "[(\"it's' OR 1=1 --\", 3.5, Decimal('-12.50'), datetime.date(2026, 3, 15), None, True)]",
            "[(2,)]",
            "[(2, datetime.date(2026, 2, 1))]",
            "[(1,), (2,), (4,)]",
            "42501 not permitted: mesh_meta.audit: ana (user) for purpose analytics may not read the audit log: no policy permits it (deny by default)",
            "54000 the query exceeded its result row limit of 1000 (`query.max_rows` in mesh.yaml)",
            "42000 unknown column nope (line 1, column 8)",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_queries_run_in_turn_and_stop_at_the_first_error() {
    let s = server("").await;
    let (out, err, ok) = psql(
        &s,
        "ana",
        s.token("ana"),
        Some("analytics"),
        &["BEGIN; SELECT count(*) FROM shop.customers; SELECT 2; COMMIT"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "BEGIN\n3\n2\nCOMMIT\n");
    let (_, err, ok) = psql(
        &s,
        "ana",
        s.token("ana"),
        Some("analytics"),
        &["SELECT 1; SELECT * FROM generate_series(1, 5000); SELECT 3"],
    );
    assert!(!ok);
    assert!(
        err.contains("ERROR:  54000: the query exceeded its result row limit of 1000"),
        "{err}"
    );
    let (_, err, _) = psql(
        &s,
        "ana",
        s.token("ana"),
        Some("analytics"),
        &["DECLARE c CURSOR FOR SELECT 1"],
    );
    assert!(
        err.contains("ERROR:  42000: Tessera's SQL is read-only: DECLARE is not allowed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_surplus_connections_are_closed_with_a_reason() {
    let s =
        server("server:\n  idle_timeout: 1s\n  max_connections: 2\n  anonymous: nobody\n").await;
    let out = psycopg(
        &s,
        r#"
a = connect("ana", "analytics")
b = connect("sam", "analytics")
try:
    connect("dan", "modelling")
except psycopg.OperationalError as e:
    print(str(e).split("FATAL:  ")[-1])
time.sleep(2.5)
try:
    a.execute("SELECT 1")
except psycopg.OperationalError as e:
    print(str(e).split("\n")[0].split("FATAL:  ")[-1])
b.close()
time.sleep(0.2)
print(connect("nobody", "analytics", password="").execute("SELECT current_user").fetchall())
"#,
    );
    assert_eq!(
        out,
        [
            "too many connections (server.max_connections = 2); try again later",
            "terminating connection: idle longer than server.idle_timeout (1s)",
            "[('nobody',)]",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_the_running_statement() {
    let s = server("").await;
    let out = psycopg(
        &s,
        r#"
import threading
c = connect("ana", "analytics")
threading.Timer(1.0, c.cancel).start()
try:
    c.execute("SELECT count(*) FROM generate_series(1, 100000000000)").fetchall()
except psycopg.Error as e:
    print(error(e))
print(c.execute("SELECT 1").fetchall())
"#,
    );
    assert_eq!(
        out,
        ["57014 canceling statement due to user request", "[(1,)]"]
    );
}

/// A psycopg connection as `user` in another process, which runs `SELECT 1` each time it
/// is told to and answers `1`, or the first line of the error that ended it.
struct Session {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Session {
    fn open(server: &Server, user: &str, token: &str, purpose: &str) -> Session {
        let pg = server.running.pg.unwrap();
        let mut child = Command::new(python())
            .arg("-c")
            .arg(format!(
                r#"
import sys, psycopg
c = psycopg.connect(host="{}", port={}, user="{user}", password="{token}", dbname="mesh",
    options="-c tessera.purpose={purpose}", autocommit=True)
for line in sys.stdin:
    try:
        print(c.execute("SELECT 1").fetchone()[0], flush=True)
    except psycopg.Error as e:
        print(str(e).splitlines()[0], flush=True)
"#,
                pg.ip(),
                pg.port(),
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Session {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    fn select(&mut self) -> String {
        writeln!(self.stdin).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_its_connections() {
    let s = server("").await;
    let engine = s.running.shared.engine();
    let issued = tessera_serve::issue(engine.catalog.as_ref(), "ana", vec![], None, "test", None)
        .await
        .unwrap();
    let mut session = Session::open(&s, "ana", &issued.token, "analytics");
    assert_eq!(session.select(), "1");
    engine
        .catalog
        .revoke_token(&issued.record.id, chrono::Utc::now())
        .await
        .unwrap();
    s.running.shared.auth.forget();
    let ended = session.select();
    assert!(
        ended.contains(&format!("token {} was revoked at", issued.record.id)),
        "{ended}"
    );
    assert_ne!(session.select(), "1", "the connection was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_ends_idle_connections() {
    let s = server("").await;
    let mut session = Session::open(&s, "ana", s.token("ana"), "analytics");
    assert_eq!(session.select(), "1");
    let running = s.running; // the rest of `s` (its folder) lives on
    assert_eq!(running.shutdown(Duration::from_secs(2)).await, 0);
    assert_ne!(session.select(), "1");
}

/// Serves the fixture mesh for a person to try clients on: `TESSERA_PG_MANUAL=600 cargo
/// test -p tessera-serve --test it pg::manual -- --ignored --nocapture`, then connect as
/// printed (also written to /tmp/tessera-pg-manual.env). Stops after that many seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn manual() {
    let seconds: u64 = std::env::var("TESSERA_PG_MANUAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let server = server("").await;
    let pg = server.running.pg.unwrap();
    let mut lines = vec![format!("PG={pg}")];
    for (p, t) in &server.tokens {
        lines.push(format!("{p}={t}"));
    }
    std::fs::write("/tmp/tessera-pg-manual.env", lines.join("\n") + "\n").unwrap();
    println!("{}", lines.join("\n"));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}
