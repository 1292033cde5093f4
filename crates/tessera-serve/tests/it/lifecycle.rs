//! A deprecated port says so on every interface — when it is retired and what replaces it
//! — and its owners can see who still uses it.

use serde_json::{Value, json};

use crate::support::server;

const NOTICE: &str = "shop.legacy_orders is deprecated (shop/legacy): it will be retired on 2027-03-31; use shop.orders instead";
const SQL: &str = "SELECT count(*) AS n FROM shop.legacy_orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deprecated_port_says_so_on_every_interface() {
    let server = server("").await;
    let client = reqwest::Client::new();

    // HTTP: a header in every format, and in the JSON document.
    for format in ["json", "ndjson", "csv", "arrow"] {
        let response = client
            .post(server.http_url("/api/v1/query"))
            .bearer_auth(server.token("sam"))
            .header("tessera-purpose", "analytics")
            .json(&json!({"sql": SQL, "format": format}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{format}");
        let notices: Vec<&str> = response
            .headers()
            .get_all("tessera-notice")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(notices, [NOTICE], "{format}");
        let body = response.bytes().await.unwrap();
        if format == "json" {
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["notices"], json!([NOTICE]));
        }
    }

    // PostgreSQL wire: a WARNING the client's notice handler gets.
    let out = crate::pg::psycopg(
        &server,
        &format!(
            r#"
conn = connect("sam", "analytics")
notes = []
conn.add_notice_handler(lambda d: notes.append([d.severity, d.message_primary]))
rows = conn.execute("{SQL}").fetchall()
print(json.dumps({{"notes": notes, "rows": len(rows)}}))
"#
        ),
    );
    let pg: Value = serde_json::from_str(out.last().unwrap()).unwrap();
    assert_eq!(pg, json!({"notes": [["WARNING", NOTICE]], "rows": 1}));

    // Flight SQL: a `tessera-notice` header on the result stream (pyarrow's middleware
    // sees it).
    let flight = crate::flight::run_script(
        &server,
        json!({}),
        &format!(
            r#"
class Notices(flight.ClientMiddlewareFactory):
    seen = []
    def start_call(self, info):
        factory = self
        class Capture(flight.ClientMiddleware):
            def received_headers(self, headers):
                factory.seen.extend(headers.get("tessera-notice", []))
        return Capture()
notices = Notices()
client = flight.FlightClient(uri, middleware=[notices])
header = client.authenticate_basic_token("sam", tokens["sam"])
options = flight.FlightCallOptions(headers=[header, (b"tessera-purpose", b"analytics")])
info = client.get_flight_info(statement("{SQL}"), options)
results["rows"] = client.do_get(info.endpoints[0].ticket, options).read_all().num_rows
results["notices"] = notices.seen
"#
        ),
    );
    assert_eq!(flight["rows"], 1);
    assert_eq!(flight["notices"], json!([NOTICE]));

    // The owners' view: lifecycle, sunset, replacement, and who still reads it (sam did,
    // above, on three interfaces).
    let sla: Value = client
        .get(server.http_url("/api/v1/ports/shop/legacy_orders/sla"))
        .bearer_auth(server.token("wendy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sla["lifecycle"], "deprecated", "{sla:#}");
    assert_eq!(sla["sunset"], "2027-03-31");
    assert_eq!(sla["replacement"], "shop.orders");
    let consumers = sla["consumers"].as_array().unwrap();
    let sam = consumers
        .iter()
        .find(|c| c["name"] == "sam")
        .unwrap_or_else(|| panic!("{sla:#}"));
    assert_eq!(sam["kind"], "principal");

    // The web UI's product page says the same, with its service levels.
    let base = server.http_url("");
    let (_, cookie) = crate::ui::sign_in(&base, server.token("wendy")).await;
    let cookie = cookie.unwrap();
    let cookie = cookie.split(';').next().unwrap();
    let page = crate::ui::client()
        .get(format!("{base}/products/shop/legacy"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for expected in [
        "It will be retired on <strong>2027-03-31</strong>.",
        "Use <code>shop.orders</code> instead.",
        "Still used in the last 30 days by: sam (",
        "Service levels",
        "checks pass",
    ] {
        assert!(
            html.contains(expected),
            "no {expected:?} in the page:\n{html}"
        );
    }
    // Search filters by SLA health: every check of shop/legacy passes, so it is green.
    for (health, listed) in [("green", true), ("red", false)] {
        let html = crate::ui::client()
            .get(format!("{base}/search?sla={health}&fragment=1"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            html.contains("href=\"/products/shop/legacy\""),
            listed,
            "sla={health}: {html}"
        );
    }
    assert!(sam["reads"].as_u64().unwrap() >= 6, "{sam}");
}
