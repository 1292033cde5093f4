//! SLA monitoring history and webhook deliveries: what the catalog keeps of them.
//!
//! ```text
//!   record_slas([SlaRecord])        one row per SLA per evaluation; a repeat is a no-op
//!   latest_slas()                   the newest row of each (port, property, element)
//!   sla_history(port?, since)       rows since a time, by port, property, element, time
//!   record_webhook_delivery(d)      one row per delivery, with its attempts and outcome
//!   webhook_deliveries(limit)       newest first
//! ```
//!
//! What is measured, and what counts as a breach, is the engine's business
//! (`tessera_engine::sla`); states are stored as their names.

use chrono::{DateTime, Utc};

use crate::Result;

/// One SLA of one port, as one evaluation found it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlaRecord {
    /// `domain.port`.
    pub port: String,
    pub property: String,
    /// The contract's `element`; empty when none.
    pub element: String,
    pub evaluated_at: DateTime<Utc>,
    /// `green`, `amber`, `red` or `unknown`.
    pub state: String,
    /// Seconds for times, a percentage for shares.
    pub measured: Option<f64>,
    pub target: String,
    pub detail: String,
    /// Whether the monitor could read the port at that time.
    pub probe_ok: bool,
}

/// One webhook delivery: every attempt at sending one event to one URL.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WebhookDelivery {
    /// A UUID v7, sent as the `Tessera-Delivery` header.
    pub id: String,
    /// Without query, user or password.
    pub url: String,
    /// `breach` or `recovery`.
    pub event: String,
    pub port: String,
    pub property: String,
    pub attempts: u32,
    pub delivered: bool,
    /// The last HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The last error, when not delivered.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The JSON body sent.
    pub payload: String,
}

pub(crate) const SLA_COLUMNS: &str =
    "port, property, element, evaluated_at, state, measured, target, detail, probe_ok";

pub(crate) const INSERT_SLA: &str = "INSERT INTO sla_evaluations \
     (port, property, element, evaluated_at, state, measured, target, detail, probe_ok) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (port, property, element, evaluated_at) DO NOTHING";

pub(crate) const LATEST_SLAS: &str = "SELECT port, property, element, evaluated_at, state, \
     measured, target, detail, probe_ok FROM sla_evaluations e \
     WHERE evaluated_at = (SELECT max(x.evaluated_at) FROM sla_evaluations x \
       WHERE x.port = e.port AND x.property = e.property AND x.element = e.element) \
     ORDER BY port, property, element";

pub(crate) const DELIVERIES: &str = "SELECT id, url, event, port, property, attempts, \
     delivered, status, error, created_at, finished_at, payload FROM webhook_deliveries \
     ORDER BY created_at DESC, id DESC LIMIT $1";

pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries \
     (id, url, event, port, property, attempts, delivered, status, error, created_at, finished_at, payload) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (id) DO NOTHING";

pub(crate) fn sla_record(row: &impl crate::sql::Columns) -> Result<SlaRecord> {
    Ok(SlaRecord {
        port: row.text("port")?,
        property: row.text("property")?,
        element: row.text("element")?,
        evaluated_at: row.time("evaluated_at")?,
        state: row.text("state")?,
        measured: row.opt_float("measured")?,
        target: row.text("target")?,
        detail: row.text("detail")?,
        probe_ok: row.flag("probe_ok")?,
    })
}

pub(crate) fn delivery(row: &impl crate::sql::Columns) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: row.text("id")?,
        url: row.text("url")?,
        event: row.text("event")?,
        port: row.text("port")?,
        property: row.text("property")?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        delivered: row.flag("delivered")?,
        status: row.opt_int("status")?.and_then(|s| u16::try_from(s).ok()),
        error: row.opt_text("error")?,
        created_at: row.time("created_at")?,
        finished_at: row.time("finished_at")?,
        payload: row.text("payload")?,
    })
}

macro_rules! sla_body {
    (record, $self:ident, $records:ident) => {{
        let mut tx = $self.write_tx().await?;
        for r in $records {
            sqlx::query($crate::sla::INSERT_SLA)
                .bind(&r.port)
                .bind(&r.property)
                .bind(&r.element)
                .bind($crate::sql::time_text(&r.evaluated_at))
                .bind(&r.state)
                .bind(r.measured)
                .bind(&r.target)
                .bind(&r.detail)
                .bind(r.probe_ok)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }};
    (latest, $self:ident) => {{
        let rows = sqlx::query($crate::sla::LATEST_SLAS)
            .fetch_all($self.reader())
            .await?;
        rows.iter().map($crate::sla::sla_record).collect()
    }};
    (history, $self:ident, $db:ty, $port:ident, $since:ident) => {{
        let mut sql = sqlx::QueryBuilder::<$db>::new(format!(
            "SELECT {} FROM sla_evaluations WHERE evaluated_at >= ",
            $crate::sla::SLA_COLUMNS
        ));
        sql.push_bind($crate::sql::time_text(&$since));
        if let Some(port) = $port {
            sql.push(" AND port = ").push_bind(port.to_string());
        }
        sql.push(" ORDER BY port, property, element, evaluated_at");
        let rows = sql.build().fetch_all($self.reader()).await?;
        rows.iter().map($crate::sla::sla_record).collect()
    }};
    (deliver, $self:ident, $d:ident) => {{
        let mut tx = $self.write_tx().await?;
        sqlx::query($crate::sla::INSERT_DELIVERY)
            .bind(&$d.id)
            .bind(&$d.url)
            .bind(&$d.event)
            .bind(&$d.port)
            .bind(&$d.property)
            .bind(i64::from($d.attempts))
            .bind($d.delivered)
            .bind($d.status.map(i64::from))
            .bind(&$d.error)
            .bind($crate::sql::time_text(&$d.created_at))
            .bind($crate::sql::time_text(&$d.finished_at))
            .bind(&$d.payload)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }};
    (deliveries, $self:ident, $limit:ident) => {{
        let rows = sqlx::query($crate::sla::DELIVERIES)
            .bind(i64::from($limit))
            .fetch_all($self.reader())
            .await?;
        rows.iter().map($crate::sla::delivery).collect()
    }};
}
pub(crate) use sla_body;
