//! Prometheus metrics (`GET /metrics`, text exposition format): requests and their
//! latencies, queries, rows and errors by kind, per interface.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Interface {
    pub interface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub interface: &'static str,
    /// `ok` or an error kind (`not_permitted`, `bad_request`, …).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub method: String,
    /// The route's pattern (`/api/v1/products/{domain}/{product}`), not the path, so
    /// the label set stays small.
    pub route: String,
    pub status: u16,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_requests: Family<Route, Counter>,
    pub http_latency: Family<Interface, Histogram>,
    pub queries: Family<Outcome, Counter>,
    pub query_latency: Family<Interface, Histogram>,
    pub rows: Family<Interface, Counter>,
    pub connections: Family<Interface, Gauge>,
    pub running: Gauge,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    pub fn new() -> Metrics {
        let http_requests = Family::<Route, Counter>::default();
        let http_latency =
            Family::<Interface, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let queries = Family::<Outcome, Counter>::default();
        let query_latency =
            Family::<Interface, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let rows = Family::<Interface, Counter>::default();
        let connections = Family::<Interface, Gauge>::default();
        let running = Gauge::default();
        let mut registry = Registry::with_prefix("tessera");
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency (until the response starts)",
            http_latency.clone(),
        );
        registry.register(
            "queries",
            "SQL statements by interface and outcome",
            queries.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "SQL statement latency, planning to the last row",
            query_latency.clone(),
        );
        registry.register("rows_sent", "result rows sent to clients", rows.clone());
        registry.register(
            "connections_open",
            "open client connections",
            connections.clone(),
        );
        registry.register(
            "queries_running",
            "SQL statements running now",
            running.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            http_requests,
            http_latency,
            queries,
            query_latency,
            rows,
            connections,
            running,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .expect("metrics lock is never poisoned");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
