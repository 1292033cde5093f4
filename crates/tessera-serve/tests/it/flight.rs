//! Arrow Flight SQL through real clients: ADBC's Flight SQL driver (the Go driver BI and
//! data-science tools use) and pyarrow.flight, against the governed fixture mesh.
//!
//! Each test runs one Python script (below) that performs named steps and prints one JSON
//! object: each step's result, or `{"error": {"class", "text", "detail"}}` where `detail`
//! is the `tessera-error-bin` trailer — how a client recovers the server's exact message.

use std::process::Command;

use datafusion::arrow::util::display::array_value_to_string;
use serde_json::{Value, json};

use crate::support::{Server, python, server};

/// Shared by every script: connections, and errors as JSON.
pub(crate) const PRELUDE: &str = r#"
import base64, json, sys
import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow.flight as flight

config = json.loads(sys.argv[1])
uri = "grpc://" + config["address"]
tokens = config["tokens"]

def adbc(principal, purpose=None, password=None):
    kwargs = {"username": principal, "password": password or tokens[principal]}
    if purpose:
        kwargs["adbc.flight.sql.rpc.call_header.tessera-purpose"] = purpose
    return flightsql.connect(uri, db_kwargs=kwargs, autocommit=True)

def query(principal, purpose, sql, params=None, password=None):
    with adbc(principal, purpose, password) as conn:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            table = cur.fetch_arrow_table()
    return [[None if v is None else str(v) for v in row.values()] for row in table.to_pylist()]

def trailer(e):
    # ADBC lists the gRPC trailers in the error's details; keys are bytes in 1.8.
    for key, value in getattr(e, "details", None) or []:
        if (key.decode() if isinstance(key, bytes) else key) == "tessera-error-bin":
            return json.loads(bytes(value))
    return None

class Trailers(flight.ClientMiddlewareFactory):
    """pyarrow: errors carry no trailers, but a middleware sees them."""
    last = None
    def start_call(self, info):
        factory = self
        class Capture(flight.ClientMiddleware):
            def received_headers(self, headers):
                for value in headers.get("tessera-error-bin", []):
                    factory.last = json.loads(value)
        return Capture()

results = {}
def step(name, f):
    try:
        results[name] = f()
    except Exception as e:
        results[name] = {"error": {"class": type(e).__name__, "text": str(e), "detail": trailer(e)}}

# Flight SQL messages by hand (pyarrow.flight speaks Flight, not Flight SQL).
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])
def field(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data
def command(name, body):
    url = "type.googleapis.com/arrow.flight.protocol.sql." + name
    return flight.FlightDescriptor.for_command(field(1, url.encode()) + field(2, body))
def statement(sql):
    return command("CommandStatementQuery", field(1, sql.encode()))
"#;

pub(crate) fn run_script(server: &Server, extra: Value, script: &str) -> Value {
    let mut config = json!({
        "address": server.running.flight.unwrap().to_string(),
        "tokens": server.tokens,
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        c.extend(e);
    }
    let program = format!("{PRELUDE}\n{script}\nprint(json.dumps(results))\n");
    let out = Command::new(python())
        .arg("-c")
        .arg(program)
        .arg(config.to_string())
        .output()
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

/// The error a step ended with: (exception class, its text, the trailer's JSON).
fn error(results: &Value, step: &str) -> (String, String, Value) {
    let e = &results[step]["error"];
    assert!(e.is_object(), "{step} did not fail: {}", results[step]);
    (
        e["class"].as_str().unwrap().to_string(),
        e["text"].as_str().unwrap().to_string(),
        e["detail"].clone(),
    )
}

/// The engine's own rows for `sql`, in-process, as the scripts render them.
async fn engine_rows(server: &Server, principal: &str, purpose: &str, sql: &str) -> Value {
    let session = server
        .running
        .shared
        .engine()
        .session(Some(principal), Some(purpose), "test")
        .unwrap();
    let result = session.collect(sql).await.unwrap();
    let mut rows = Vec::new();
    for batch in &result.batches {
        for i in 0..batch.num_rows() {
            let row: Vec<Value> = batch
                .columns()
                .iter()
                .map(|c| match c.is_null(i) {
                    true => Value::Null,
                    false => Value::String(array_value_to_string(c, i).unwrap()),
                })
                .collect();
            rows.push(Value::Array(row));
        }
    }
    Value::Array(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adbc_reads_the_governed_mesh_as_the_engine_does() {
    let s = server("").await;
    const MASKED: &str = "SELECT * FROM shop.customers ORDER BY id";
    let results = run_script(
        &s,
        json!({ "masked": MASKED }),
        r#"
step("masked", lambda: query("ana", "analytics", config["masked"]))
# dora's basic auth needs padding: the Go driver sends it without
step("unpadded", lambda: query("dora", "compliance", "SELECT count(*) AS n FROM shop.customers"))
step("prepared", lambda: query("ana", "analytics",
    "SELECT id, country FROM shop.customers WHERE id > ? AND country = ? ORDER BY id", (1, "US")))
step("literals", lambda: query("ana", "analytics", "SELECT ? AS s, ? AS d, ? AS n", ("it's", 2.5, None)))

def parameter_schema():
    with adbc("ana", "analytics") as conn:
        with conn.cursor() as cur:
            schema = cur.adbc_prepare("SELECT id FROM shop.customers WHERE id = ?")
            return [[f.name, str(f.type)] for f in schema]
step("parameter_schema", parameter_schema)

def tables(principal, purpose):
    with adbc(principal, purpose) as conn:
        out = {}
        for catalog in conn.adbc_get_objects(depth="all").read_all().to_pylist():
            for schema in catalog["catalog_db_schemas"]:
                if schema["db_schema_name"] in ("information_schema", "mesh_meta"):
                    continue
                for t in schema["db_schema_tables"]:
                    name = catalog["catalog_name"] + "." + schema["db_schema_name"] + "." + t["table_name"]
                    out[name] = [c["column_name"] for c in t["table_columns"] or []]
        return out
step("tables_mailer", lambda: tables("mailer", "email_marketing"))
step("tables_dan", lambda: tables("dan", "modelling"))

def table_schema():
    with adbc("dan", "modelling") as conn:
        schema = conn.adbc_get_table_schema("customers", db_schema_filter="shop")
        return [[f.name, str(f.type)] for f in schema]
step("table_schema", table_schema)

def info():
    with adbc("ana", "analytics") as conn:
        i = conn.adbc_get_info()
        return [i["vendor_name"], conn.adbc_get_table_types()]
step("info", info)
"#,
    );

    // A masked column has the engine's value, byte for byte.
    assert_eq!(
        results["masked"],
        engine_rows(&s, "ana", "analytics", MASKED).await
    );
    assert_eq!(
        results["masked"][0][1], "762afde1f1c5ed04ace24f56a2408d5f",
        "the hash of the engine's policy matrix (matrix_ana.slt Q1)"
    );
    assert_eq!(results["unpadded"], json!([["5"]]));
    assert_eq!(results["prepared"], json!([["2", "US"], ["4", "US"]]));
    assert_eq!(results["literals"], json!([["it's", "2.5", null]]));
    assert_eq!(results["parameter_schema"], json!([["$1", "int64"]]));
    // Listings are the caller's governed view: the e-mail service sees one table, the
    // data scientist the customers without the absent `name`.
    assert_eq!(
        results["tables_mailer"],
        json!({ "mesh.shop.customers": ["id", "name", "email", "country", "signup_date"] })
    );
    assert_eq!(
        results["tables_dan"]["mesh.shop.customers"],
        json!(["id", "email", "country", "signup_date"])
    );
    assert!(
        results["tables_dan"]["mesh.shop.orders"].is_array(),
        "{}",
        results["tables_dan"]
    );
    assert_eq!(
        results["table_schema"],
        json!([
            ["id", "int64"],
            ["email", "string"],
            ["country", "string"],
            ["signup_date", "date32[day]"]
        ])
    );
    assert_eq!(results["info"], json!(["Tessera", ["BASE TABLE", "VIEW"]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_exact_message() {
    let s = server("").await;
    let analytics_only = tessera_serve::issue(
        s.running.shared.engine().catalog.as_ref(),
        "ana",
        vec!["analytics".into()],
        None,
        "test",
        None,
    )
    .await
    .unwrap();
    let results = run_script(
        &s,
        json!({ "analytics_only": analytics_only.token }),
        r#"
step("wrong_token", lambda: query("ana", "analytics", "SELECT 1", password="tsr_not-a-token"))
step("wrong_user", lambda: query("sam", "analytics", "SELECT 1", password=tokens["ana"]))
step("purpose_of_token", lambda: query("ana", "modelling", "SELECT 1", password=config["analytics_only"]))
step("purpose_default", lambda: query("ana", None, "SELECT count(*) AS n FROM shop.customers",
    password=config["analytics_only"]))
step("forbidden", lambda: query("mailer", "email_marketing", "SELECT * FROM shop.orders"))
step("read_only", lambda: query("ana", "analytics", "INSERT INTO shop.customers VALUES (1)"))
# 600 rows, then 600 more past query.max_rows (1000): the stream ends with the error
step("row_cap", lambda: query("ana", "analytics",
    "SELECT value FROM generate_series(1, 600) UNION ALL SELECT value FROM generate_series(1, 600)"))

def pyarrow_error():
    trailers = Trailers()
    client = flight.FlightClient(uri, middleware=[trailers])
    header = client.authenticate_basic_token("ana", tokens["ana"])
    options = flight.FlightCallOptions(headers=[header, (b"tessera-purpose", b"analytics")])
    try:
        client.get_flight_info(statement("SELECT * FROM nowhere"), options)
    except Exception as e:
        return {"class": type(e).__name__, "detail": trailers.last}
step("pyarrow_error", pyarrow_error)
"#,
    );

    let (class, text, detail) = error(&results, "wrong_token");
    assert_eq!(class, "ProgrammingError");
    assert!(text.starts_with("UNAUTHENTICATED: "), "{text}");
    assert_eq!(detail["kind"], "unauthenticated");
    assert_eq!(
        detail["message"],
        "the token is not valid (unknown to this mesh, or malformed)"
    );
    let (_, _, detail) = error(&results, "wrong_user");
    assert!(
        detail["message"]
            .as_str()
            .unwrap()
            .contains("the user name `sam` is not the principal of the token"),
        "{detail}"
    );

    // A purpose the token does not allow: the auth error, word for word.
    let (_, text, detail) = error(&results, "purpose_of_token");
    let expected = tessera_serve::AuthError::PurposeNotAllowed {
        id: analytics_only.record.id.clone(),
        purpose: "modelling".into(),
        allowed: "analytics".into(),
    }
    .to_string();
    assert_eq!(detail["kind"], "not_permitted");
    assert_eq!(detail["message"], expected.as_str());
    assert!(text.contains(&expected), "{text}");
    // …and without a purpose header, the token's only purpose.
    assert_eq!(results["purpose_default"], json!([["3"]]));

    // Policy's refusal, and the read-only SQL: the engine's messages, several lines intact.
    let (_, text, detail) = error(&results, "forbidden");
    assert_eq!(detail["kind"], "not_permitted");
    let message = detail["message"].as_str().unwrap();
    assert!(message.contains("activation-customers-only"), "{message}");
    assert!(text.contains(message), "{text}");
    let (_, text, detail) = error(&results, "read_only");
    let message = detail["message"].as_str().unwrap();
    assert!(
        message.starts_with("Tessera's SQL is read-only: INSERT is not allowed\n  help: "),
        "{message}"
    );
    assert!(text.contains(message), "{text}");

    let (_, _, detail) = error(&results, "row_cap");
    assert_eq!(detail["kind"], "limit");
    assert!(
        detail["message"]
            .as_str()
            .unwrap()
            .contains("`query.max_rows`"),
        "{detail}"
    );

    assert_eq!(results["pyarrow_error"]["class"], "ArrowInvalid");
    let detail = &results["pyarrow_error"]["detail"];
    assert_eq!(detail["kind"], "bad_request");
    assert!(
        detail["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown table nowhere"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_tickets_belong_to_their_caller() {
    let s = server("").await;
    let results = run_script(
        &s,
        json!({}),
        r#"
def code(f):
    try:
        f()
        return "ok"
    except Exception as e:
        return type(e).__name__

ana = flight.FlightClient(uri)
header = ana.authenticate_basic_token("ana", tokens["ana"])
results["handshake"] = [header[0].decode(), header[1].decode()[:11], tokens["ana"] in header[1].decode()]
ana_options = flight.FlightCallOptions(headers=[header, (b"tessera-purpose", b"analytics")])
info = ana.get_flight_info(statement("SELECT id FROM shop.customers ORDER BY id"), ana_options)
ticket = info.endpoints[0].ticket
results["schema"] = str(info.schema)
results["rows"] = ana.do_get(ticket, ana_options).read_all().column("id").to_pylist()

sam = flight.FlightClient(uri)
sam_header = sam.authenticate_basic_token("sam", tokens["sam"])
sam_options = flight.FlightCallOptions(headers=[sam_header, (b"tessera-purpose", b"analytics")])
results["stolen_ticket"] = code(lambda: sam.do_get(ticket, sam_options).read_all())
results["again_by_owner"] = ana.do_get(ticket, ana_options).read_all().num_rows

# An API token as bearer, without a handshake; basic auth without padding on a call.
bearer = flight.FlightCallOptions(headers=[
    (b"authorization", b"Bearer " + tokens["ana"].encode()), (b"tessera-purpose", b"analytics")])
info = sam.get_flight_info(statement("SELECT count(*) AS n FROM shop.customers"), bearer)
results["bearer_token"] = sam.do_get(info.endpoints[0].ticket, bearer).read_all().to_pylist()
raw = ("dora:" + tokens["dora"]).encode()
assert len(raw) % 3, "needs padding"
unpadded = flight.FlightCallOptions(headers=[
    (b"authorization", b"Basic " + base64.b64encode(raw).rstrip(b"=")),
    (b"tessera-purpose", b"compliance")])
info = sam.get_flight_info(statement("SELECT count(*) AS n FROM shop.customers"), unpadded)
results["unpadded_basic"] = sam.do_get(info.endpoints[0].ticket, unpadded).read_all().to_pylist()

nobody = flight.FlightClient(uri)
results["no_credentials"] = code(lambda: nobody.get_flight_info(statement("SELECT 1")))
unknown = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer tfs_unknown")])
results["unknown_session"] = code(lambda: nobody.get_flight_info(statement("SELECT 1"), unknown))

def update():
    descriptor = command("CommandStatementUpdate", field(1, b"DELETE FROM shop.customers"))
    import pyarrow
    writer, _ = ana.do_put(descriptor, pyarrow.schema([]), ana_options)
    writer.close()
step("update", update)
"#,
    );
    assert_eq!(
        results["handshake"],
        json!(["authorization", "Bearer tfs_", false]),
        "a session handle, not the API token"
    );
    assert_eq!(results["schema"], "id: int64");
    assert_eq!(results["rows"], json!([1, 2, 4]));
    assert_eq!(
        results["stolen_ticket"], "ArrowKeyError",
        "NOT_FOUND for another caller"
    );
    assert_eq!(results["again_by_owner"], 3);
    assert_eq!(results["bearer_token"], json!([{ "n": 3 }]));
    assert_eq!(results["unpadded_basic"], json!([{ "n": 5 }]));
    assert_eq!(results["no_credentials"], "FlightUnauthenticatedError");
    assert_eq!(results["unknown_session"], "FlightUnauthenticatedError");
    let text = results["update"]["error"]["text"].as_str().unwrap();
    assert!(
        text.contains("Tessera's SQL is read-only: DELETE is not allowed"),
        "{text}"
    );
}
