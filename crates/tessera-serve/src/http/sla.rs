//! SLA health and lifecycle over HTTP: `GET /api/v1/status` (every port, red/amber/green,
//! as `tessera status` shows it) and `GET /api/v1/ports/{domain}/{port}/sla` (one port:
//! its SLAs now, their history, its lifecycle and, when deprecated, who still uses it).
//! Metadata like the catalog: any authenticated caller may read it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tessera_engine::evolution;
use tessera_engine::sla::SlaCheck;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller;
use super::catalog::{Params, Segments};
use crate::error::{ErrorBody, ServeError};
use crate::state::Shared;

pub fn routes() -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(port_sla))
}

/// One SLA of a port, measured.
#[derive(Serialize, ToSchema)]
pub struct MeasuredSla {
    /// `latency`, `frequency`, `availability`, `retention`, `timeOfAvailability` or `quality`.
    pub property: String,
    /// The contract's element (`customers.signup_date`), if any.
    pub element: Option<String>,
    /// The promise as written: `8 h`, `99.5%`.
    pub target: String,
    /// Seconds for times, percent for availability and quality.
    pub measured: Option<f64>,
    /// The measurement for people: `3 h 12 min`.
    pub shown: String,
    /// What was measured: `data`, `publish`, `probes`, `probe-failed`, `rows`, `checks`, `none`.
    pub basis: String,
    /// `green`, `amber`, `red` or `unknown`.
    pub state: String,
    pub detail: String,
}

impl From<&SlaCheck> for MeasuredSla {
    fn from(c: &SlaCheck) -> MeasuredSla {
        MeasuredSla {
            property: c.property.clone(),
            element: c.element.clone(),
            target: c.target.clone(),
            measured: c.measured,
            shown: c.shown.clone(),
            basis: c.basis.to_string(),
            state: c.state.as_str().to_string(),
            detail: c.detail.clone(),
        }
    }
}

/// A port's health and lifecycle.
#[derive(Serialize, ToSchema)]
pub struct PortHealth {
    /// `domain.port`.
    pub port: String,
    /// `domain/product`.
    pub product: String,
    /// `active`, `deprecated`, `draft` or `retired`.
    pub lifecycle: String,
    /// A deprecated port's retirement date (`tesseraSunset`).
    pub sunset: Option<String>,
    /// The port that replaces it (`tesseraReplacement`).
    pub replacement: Option<String>,
    pub version: Option<i64>,
    pub published_at: Option<DateTime<Utc>>,
    /// The worst state of its SLAs: `green`, `amber`, `red` or `unknown`.
    pub state: String,
    pub slas: Vec<MeasuredSla>,
}

fn port_out(engine: &tessera_engine::Engine, p: &tessera_engine::sla::PortHealth) -> PortHealth {
    let contract =
        evolution::find_port(engine, &p.table).and_then(|(_, port)| port.contract.as_ref());
    PortHealth {
        port: p.table.clone(),
        product: p.product.clone(),
        lifecycle: p.lifecycle.to_string(),
        sunset: contract.and_then(|c| c.sunset()).map(str::to_string),
        replacement: contract.and_then(|c| c.replacement()).map(str::to_string),
        version: p.version,
        published_at: p.published_at,
        state: p.state.as_str().to_string(),
        slas: p.checks.iter().map(MeasuredSla::from).collect(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SlaStatus {
    /// When the SLAs were measured (the server's last evaluation, at most a minute old).
    pub evaluated_at: DateTime<Utc>,
    /// Ports with an SLA or checks, by name.
    pub ports: Vec<PortHealth>,
}

/// Every port's SLAs, red/amber/green, as `tessera status` shows them.
#[utoipa::path(get, path = "/api/v1/status", tag = "sla",
    responses(
        (status = 200, description = "Every port with an SLA or checks", body = SlaStatus),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody)
    ))]
async fn status(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Params(super::catalog::NoParams {}): Params<super::catalog::NoParams>,
) -> Result<Json<SlaStatus>, ServeError> {
    caller(&shared, &headers).await?;
    let engine = shared.engine();
    let (at, ports) = crate::monitor::current(&shared)
        .await
        .map_err(ServeError::internal)?;
    Ok(Json(SlaStatus {
        evaluated_at: at,
        ports: ports.iter().map(|p| port_out(&engine, p)).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    days: Option<String>,
}

/// One recorded evaluation of one SLA.
#[derive(Serialize, ToSchema)]
pub struct SlaEvaluation {
    pub property: String,
    /// `""` when the SLA names no element.
    pub element: String,
    pub evaluated_at: DateTime<Utc>,
    pub state: String,
    pub measured: Option<f64>,
    pub target: String,
    pub detail: String,
}

/// Someone who read a port.
#[derive(Serialize, ToSchema)]
pub struct PortConsumer {
    /// `principal` or `product`.
    pub kind: String,
    pub name: String,
    /// Queries in the window (0 for a product).
    pub reads: u64,
    pub last_read: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct PortSla {
    #[serde(flatten)]
    pub now: PortHealth,
    /// Every evaluation the server recorded in the window, by SLA then time.
    pub history: Vec<SlaEvaluation>,
    /// For a deprecated port: who used it in the window (principals from the audit log,
    /// products from lineage) — whom to tell before the sunset.
    pub consumers: Option<Vec<PortConsumer>>,
}

/// One port's SLAs now, their history, and its lifecycle.
#[utoipa::path(get, path = "/api/v1/ports/{domain}/{port}/sla", tag = "sla",
    params(
        ("domain" = String, Path, description = "The port's domain"),
        ("port" = String, Path, description = "The port's name"),
        ("days" = Option<u32>, Query, description = "How many days of history (and of consumers of a deprecated port), 1 to 365; default 7", minimum = 1, maximum = 365)
    ),
    responses(
        (status = 200, description = "The port's SLAs", body = PortSla),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 404, description = "No such port, or it declares no SLA and has no checks", body = ErrorBody)
    ))]
async fn port_sla(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Segments((domain, port)): Segments<(String, String)>,
    Params(params): Params<HistoryParams>,
) -> Result<Json<PortSla>, ServeError> {
    caller(&shared, &headers).await?;
    let days = match params.days.as_deref() {
        None => 7,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (1..=365).contains(&n) => n,
            _ => {
                return Err(ServeError::bad_request(format!(
                    "`days` must be a whole number from 1 to 365; got `{text}`"
                )));
            }
        },
    };
    let engine = shared.engine();
    let table = format!("{domain}.{port}");
    if evolution::find_port(&engine, &table).is_none() {
        return Err(ServeError::not_found(format!(
            "no output port `{table}` in the mesh"
        )));
    }
    let (_, ports) = crate::monitor::current(&shared)
        .await
        .map_err(ServeError::internal)?;
    let Some(now) = ports.iter().find(|p| p.table == table) else {
        return Err(ServeError::not_found(format!(
            "{table} declares no SLA (slaProperties) and has no checks yet"
        )));
    };
    let since = Utc::now() - Duration::days(days);
    let history = engine
        .catalog
        .sla_history(Some(&table), since)
        .await
        .map_err(|e| ServeError::internal(format!("metadata store: {e}")))?
        .into_iter()
        .map(|r| SlaEvaluation {
            property: r.property,
            element: r.element,
            evaluated_at: r.evaluated_at,
            state: r.state,
            measured: r.measured,
            target: r.target,
            detail: r.detail,
        })
        .collect();
    let consumers = if now.lifecycle == "deprecated" {
        Some(
            evolution::port_consumers(&engine, &table, since)
                .await
                .map_err(ServeError::internal)?
                .into_iter()
                .map(|c| PortConsumer {
                    kind: c.kind.to_string(),
                    name: c.name,
                    reads: c.reads,
                    last_read: c.last_read,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(Json(PortSla {
        now: port_out(&engine, now),
        history,
        consumers,
    }))
}
