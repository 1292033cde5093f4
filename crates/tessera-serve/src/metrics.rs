//! Prometheus metrics (`GET /metrics`, text exposition format): requests and their
//! latencies, queries, rows and errors by kind, per interface; SLA states and measured
//! values, breaches and recoveries, webhook deliveries and scheduled publishes.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Sla {
    /// `domain.port`.
    pub port: String,
    pub property: String,
    /// The contract's element, `""` when none.
    pub element: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlaEvent {
    pub port: String,
    pub property: String,
    /// `breach` or `recovery`.
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Delivery {
    /// `delivered` or `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Scheduled {
    /// `domain/product`.
    pub product: String,
    /// `succeeded`, `skipped`, `failed`, `blocked`.
    pub status: &'static str,
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
    pub sla_state: Family<Sla, Gauge>,
    pub sla_measured: Family<Sla, Gauge<f64, AtomicU64>>,
    pub sla_events: Family<SlaEvent, Counter>,
    pub webhook_deliveries: Family<Delivery, Counter>,
    pub scheduled_publishes: Family<Scheduled, Counter>,
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
        let sla_state = Family::<Sla, Gauge>::default();
        let sla_measured = Family::<Sla, Gauge<f64, AtomicU64>>::default();
        let sla_events = Family::<SlaEvent, Counter>::default();
        let webhook_deliveries = Family::<Delivery, Counter>::default();
        let scheduled_publishes = Family::<Scheduled, Counter>::default();
        registry.register(
            "sla_state",
            "each SLA's state at the last evaluation: 0 green, 1 amber, 2 red, -1 unknown",
            sla_state.clone(),
        );
        registry.register(
            "sla_measured",
            "each SLA's measured value at the last evaluation: seconds for times (latency, frequency, retention), percent for availability and quality",
            sla_measured.clone(),
        );
        registry.register(
            "sla_events",
            "SLA breaches (into red) and recoveries (out of red)",
            sla_events.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "webhook deliveries by outcome (after retries)",
            webhook_deliveries.clone(),
        );
        registry.register(
            "scheduled_publishes",
            "publishes started by a product's tesseraSchedule, by outcome",
            scheduled_publishes.clone(),
        );
        Metrics {
            sla_state,
            sla_measured,
            sla_events,
            webhook_deliveries,
            scheduled_publishes,
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

    /// An evaluation's states and values, and its breaches and recoveries.
    pub fn observe_slas(
        &self,
        ports: &[tessera_engine::sla::PortHealth],
        transitions: &[tessera_engine::sla::Transition],
    ) {
        for check in ports.iter().flat_map(|p| &p.checks) {
            let labels = Sla {
                port: check.table.clone(),
                property: check.property.clone(),
                element: check.element.clone().unwrap_or_default(),
            };
            self.sla_state
                .get_or_create(&labels)
                .set(check.state.level());
            match check.measured {
                Some(v) => {
                    self.sla_measured.get_or_create(&labels).set(v);
                }
                None => {
                    self.sla_measured.remove(&labels);
                }
            }
        }
        for t in transitions {
            self.sla_events
                .get_or_create(&SlaEvent {
                    port: t.check.table.clone(),
                    property: t.check.property.clone(),
                    event: t.event,
                })
                .inc();
        }
    }

    pub fn observe_delivery(&self, delivered: bool) {
        self.webhook_deliveries
            .get_or_create(&Delivery {
                outcome: if delivered { "delivered" } else { "failed" },
            })
            .inc();
    }

    pub fn observe_scheduled(&self, product: &str, status: tessera_engine::Status) {
        let status = match status {
            tessera_engine::Status::Succeeded => "succeeded",
            tessera_engine::Status::Skipped => "skipped",
            tessera_engine::Status::Failed => "failed",
            tessera_engine::Status::Blocked => "blocked",
        };
        self.scheduled_publishes
            .get_or_create(&Scheduled {
                product: product.to_string(),
                status,
            })
            .inc();
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
