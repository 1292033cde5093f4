//! SLA monitoring: each output port's contract promises (`slaProperties`) measured against
//! the port as it is now, and the quality of its recent publishes.
//!
//! ```text
//!  contract slaProperties ─┐
//!  Delta table (newest / oldest element value, readable?) ─┼─▶ evaluate(now) ─▶ PortHealth per port
//!  metadata store (publish runs, checks, SLA history) ─────┘        │
//!                       tessera status ◀─────────────────────────────┤
//!  tessera serve: every monitoring.evaluate_every ─▶ record ─▶ history, transitions ─▶ webhooks, /metrics
//! ```
//!
//! What each property measures (docs/sla.md says the same for users):
//!
//! | property | measured | red when |
//! |---|---|---|
//! | `latency` (or `freshness`) with `element` | now − the newest value of that column in the published data (basis `data`) | older than the target |
//! | `latency` without `element` | now − the last good publish (basis `publish`) | older than the target |
//! | `frequency` | now − the last good publish (a publish that found nothing changed counts) | longer than the interval |
//! | `availability` | share of the monitor's probes (can the port's latest version be opened?) that succeeded in the last 30 days | below the target |
//! | `retention` with `element` | now − the oldest value of that column | a row is older than the retention (retention not applied) |
//! | `timeOfAvailability` (`HH:MM`, UTC; a range `09:00-08:00` uses its start) | the day's first good publish | nothing published since midnight once HH:MM has passed (amber: published, but late) |
//! | `quality` (every port with checks) | share of passing checks in the last 30 days | an error check of the newest publish failed (amber: a warning failed) |
//!
//! Latency and frequency are amber in the last fifth before the target ("at risk").
//! A property that cannot be measured (no data yet, an element that is not a date or
//! time, an unknown property) is `unknown`, with why; it never makes a port red.

pub mod schedule;
pub mod settings;
pub mod webhook;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use tessera_catalog::{PortKey, RunKind, RunQuery, RunStatus, SlaRecord};
use tessera_model::mesh::Product;
use tessera_model::odcs::SlaProperty;

use crate::{Engine, Result};

/// How long availability and quality look back.
pub const WINDOW_DAYS: i64 = 30;

/// Red, amber or green; `unknown` when it cannot be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlaState {
    Unknown,
    Green,
    Amber,
    Red,
}

impl SlaState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaState::Unknown => "unknown",
            SlaState::Green => "green",
            SlaState::Amber => "amber",
            SlaState::Red => "red",
        }
    }

    pub fn parse(text: &str) -> Option<SlaState> {
        Some(match text {
            "unknown" => SlaState::Unknown,
            "green" => SlaState::Green,
            "amber" => SlaState::Amber,
            "red" => SlaState::Red,
            _ => return None,
        })
    }

    /// For a gauge: 0 green, 1 amber, 2 red, -1 unknown.
    pub fn level(self) -> i64 {
        match self {
            SlaState::Unknown => -1,
            SlaState::Green => 0,
            SlaState::Amber => 1,
            SlaState::Red => 2,
        }
    }
}

/// One SLA of one port, measured.
#[derive(Debug, Clone, Serialize)]
pub struct SlaCheck {
    /// `domain.port`.
    pub table: String,
    /// The contract's property name (`latency`, `frequency`, …) or `quality`.
    pub property: String,
    /// The contract's `element` (`customers.signup_date`), if any.
    pub element: Option<String>,
    /// The promise as written: `8 h`, `99.5%`.
    pub target: String,
    /// Seconds for times, a percentage for availability and quality.
    pub measured: Option<f64>,
    /// The measurement for people: `3 h 12 min`, `99.8%`.
    pub shown: String,
    /// What was measured: `data` (the element's newest value), `publish` (the last good
    /// publish), `probes`, `checks`, `rows`.
    pub basis: &'static str,
    pub state: SlaState,
    /// One sentence: what was found, and why the state.
    pub detail: String,
}

impl SlaCheck {
    /// The history key: property and element.
    pub fn key(&self) -> (String, String) {
        (
            self.property.clone(),
            self.element.clone().unwrap_or_default(),
        )
    }
}

/// Every SLA of a port, and its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct PortHealth {
    /// `domain.port`.
    pub table: String,
    /// `domain/product`.
    pub product: String,
    /// `active`, `deprecated`, `draft` or `retired` (see [`Engine::port_status`]).
    pub lifecycle: &'static str,
    pub version: Option<i64>,
    pub published_at: Option<DateTime<Utc>>,
    /// The worst state of its checks (unknown ones do not count); `unknown` with none.
    pub state: SlaState,
    pub checks: Vec<SlaCheck>,
}

/// A change of an SLA's state between two evaluations that someone should hear about.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// `breach` (into red) or `recovery` (out of red).
    pub event: &'static str,
    pub previous: Option<SlaState>,
    pub check: SlaCheck,
    pub product: String,
    pub at: DateTime<Utc>,
}

/// Amber in the last fifth before a time limit.
const AT_RISK: f64 = 0.8;

fn by_limit(measured: f64, limit: f64) -> SlaState {
    if measured > limit {
        SlaState::Red
    } else if measured > limit * AT_RISK {
        SlaState::Amber
    } else {
        SlaState::Green
    }
}

/// `3 d 4 h`, `5 h 12 min`, `42 s`: the two largest units.
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        if h > 0 {
            format!("{d} d {h} h")
        } else {
            format!("{d} d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h} h {m} min")
        } else {
            format!("{h} h")
        }
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

fn percent(p: f64) -> String {
    if (99.95..100.0).contains(&p) {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%").replace(".0%", "%")
    }
}

/// A column's newest and oldest values, as UTC times (`None`: no values).
type Extremes = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// What a port's published data says about its element columns.
#[derive(Debug, Default)]
struct DataFacts {
    /// The latest version could be opened and read.
    readable: bool,
    problem: Option<String>,
    /// column → (newest, oldest) as UTC times.
    extremes: BTreeMap<String, Extremes>,
}

/// What the monitor reads of a port once, for all its properties.
struct Facts {
    data: DataFacts,
    /// Newest first: good (succeeded or skipped) publish runs' finish times in the window.
    publishes: Vec<DateTime<Utc>>,
    /// (passing, all, newest publish's failed error checks, … warning checks).
    checks: Option<(usize, usize, usize, usize)>,
    /// Probes recorded in the window: (ok, all).
    probes: (usize, usize),
}

impl Engine {
    /// Measures every SLA of every published output port at `now`; ports that declare no
    /// SLA and have no checks are left out. Reads the metadata store and each port's newest
    /// Delta version; writes nothing.
    pub async fn evaluate_slas(&self, now: DateTime<Utc>) -> Result<Vec<PortHealth>> {
        let history = self
            .catalog
            .sla_history(None, now - Duration::days(WINDOW_DAYS))
            .await?;
        let mut probes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for r in history.iter().filter(|r| r.property == "availability") {
            let e = probes.entry(r.port.as_str()).or_default();
            e.1 += 1;
            if r.probe_ok {
                e.0 += 1;
            }
        }
        let mut out = Vec::new();
        for product in self.mesh.products() {
            let publishes = self.publish_facts(product, now).await?;
            for port in &product.ports {
                let Some(contract) = &port.contract else {
                    continue;
                };
                let table = format!("{}.{}", product.domain, port.name);
                let key = Engine::port_key(product, port);
                let latest = self.catalog.latest_version(&key).await?;
                let facts = Facts {
                    data: self.data_facts(&key, &contract.sla).await,
                    publishes: publishes.times.clone(),
                    checks: check_facts(&publishes.checks, port.name.as_str()),
                    probes: probes.get(table.as_str()).copied().unwrap_or_default(),
                };
                let mut checks: Vec<SlaCheck> = contract
                    .sla
                    .iter()
                    .map(|s| measure(&table, s, &facts, now))
                    .collect();
                if let Some(q) = quality(&table, &facts) {
                    checks.push(q);
                }
                if checks.is_empty() {
                    continue;
                }
                // Unknown orders lowest: the max is the worst known state.
                let state = checks
                    .iter()
                    .map(|c| c.state)
                    .max()
                    .unwrap_or(SlaState::Unknown);
                out.push(PortHealth {
                    table,
                    product: product.reference().to_string(),
                    lifecycle: Engine::port_status(product, port),
                    version: latest.as_ref().map(|v| v.version),
                    published_at: latest.map(|v| v.committed_at),
                    state,
                    checks,
                });
            }
        }
        Ok(out)
    }

    /// Stores an evaluation as history and returns the breaches and recoveries since the
    /// previous one recorded for each SLA. A red SLA with no history is a breach; unknown
    /// states neither breach nor recover.
    pub async fn record_slas(
        &self,
        ports: &[PortHealth],
        now: DateTime<Utc>,
    ) -> Result<Vec<Transition>> {
        let previous = self.catalog.latest_slas().await?;
        let previous: BTreeMap<(String, String, String), SlaState> = previous
            .into_iter()
            .filter_map(|r| {
                let state = SlaState::parse(&r.state)?;
                Some(((r.port, r.property, r.element), state))
            })
            .collect();
        let mut records = Vec::new();
        let mut transitions = Vec::new();
        for port in ports {
            for check in &port.checks {
                let (property, element) = check.key();
                let before = previous
                    .get(&(check.table.clone(), property.clone(), element.clone()))
                    .copied();
                let event = match (before, check.state) {
                    (Some(SlaState::Red), SlaState::Green | SlaState::Amber) => Some("recovery"),
                    (Some(SlaState::Red), _) | (_, SlaState::Unknown) => None,
                    (_, SlaState::Red) => Some("breach"),
                    _ => None,
                };
                if let Some(event) = event {
                    transitions.push(Transition {
                        event,
                        previous: before,
                        check: check.clone(),
                        product: port.product.clone(),
                        at: now,
                    });
                }
                records.push(SlaRecord {
                    port: check.table.clone(),
                    property,
                    element,
                    evaluated_at: now,
                    state: check.state.as_str().to_string(),
                    measured: check.measured,
                    target: check.target.clone(),
                    detail: check.detail.clone(),
                    probe_ok: check.basis != "probe-failed",
                });
            }
        }
        self.catalog.record_slas(&records).await?;
        Ok(transitions)
    }

    async fn data_facts(&self, key: &PortKey, slas: &[SlaProperty]) -> DataFacts {
        let mut facts = DataFacts::default();
        let url = self.port_url(key);
        let provider = match self.storage.provider(&url, None).await {
            Ok(p) => p,
            Err(e) => {
                facts.problem = Some(e.to_string());
                return facts;
            }
        };
        facts.readable = true;
        let mut columns: Vec<String> = slas
            .iter()
            .filter_map(|s| s.element.as_deref())
            .map(|e| e.rsplit('.').next().unwrap_or(e).to_string())
            .collect();
        columns.sort();
        columns.dedup();
        if columns.is_empty() {
            return facts;
        }
        let ctx = datafusion::prelude::SessionContext::new();
        if let Err(e) = ctx.register_table("port", provider) {
            facts.problem = Some(e.to_string());
            return facts;
        }
        for column in columns {
            // to_unixtime reads dates, timestamps (any unit and zone) and ISO text alike;
            // DataFusion answers min/max from the Delta files' statistics when it can.
            let sql = format!(
                "SELECT to_unixtime(max(\"{c}\")) AS newest, to_unixtime(min(\"{c}\")) AS oldest FROM port",
                c = column.replace('"', "\"\"")
            );
            let got = async {
                let batches = ctx.sql(&sql).await?.collect().await?;
                let batch = batches.first().cloned();
                Ok::<_, datafusion::error::DataFusionError>(batch)
            }
            .await;
            let value = |batch: &datafusion::arrow::record_batch::RecordBatch, i: usize| {
                use datafusion::arrow::array::{Array, Float64Array, Int64Array};
                let col = batch.column(i);
                if col.is_null(0) {
                    return None;
                }
                let secs = if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
                    a.value(0) as f64
                } else if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
                    a.value(0)
                } else {
                    return None;
                };
                Utc.timestamp_opt(secs.floor() as i64, 0).single()
            };
            match got {
                Ok(Some(batch)) if batch.num_rows() == 1 => {
                    facts
                        .extremes
                        .insert(column, (value(&batch, 0), value(&batch, 1)));
                }
                Ok(_) => {
                    facts.extremes.insert(column, (None, None));
                }
                Err(e) => {
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    facts.problem = Some(format!("column {column}: {first}"));
                }
            }
        }
        facts
    }

    /// A product's publish runs and their checks, read once for all its ports: the finish
    /// times of the good (succeeded or skipped) publishes, newest first — in the window,
    /// and the newest even when older —, and the checks of each publish in the window that
    /// ran checks, newest first.
    async fn publish_facts(&self, product: &Product, now: DateTime<Utc>) -> Result<Publishes> {
        let since = now - Duration::days(WINDOW_DAYS);
        let runs = self
            .catalog
            .runs(&RunQuery {
                domain: Some(product.domain.to_string()),
                product: Some(product.name.to_string()),
                kind: Some(RunKind::Publish),
                status: None,
                limit: Some(1000),
            })
            .await?;
        let mut times: Vec<DateTime<Utc>> = runs
            .iter()
            .filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Skipped))
            .filter_map(|r| r.finished_at)
            .collect();
        times.sort_by(|a, b| b.cmp(a));
        // Keep the newest even when it is older than the window: frequency needs it.
        if let Some(newest) = times.first().copied() {
            times.retain(|t| *t >= since || *t == newest);
        }
        let mut checks = Vec::new();
        // A skipped publish ran no checks.
        for run in runs
            .iter()
            .filter(|r| r.started_at >= since && r.status != RunStatus::Skipped)
        {
            let recorded = self.catalog.checks(&run.id).await?;
            if !recorded.is_empty() {
                checks.push(recorded);
            }
        }
        Ok(Publishes { times, checks })
    }
}

/// What [`Engine::publish_facts`] read of a product.
struct Publishes {
    times: Vec<DateTime<Utc>>,
    checks: Vec<Vec<tessera_catalog::CheckRecord>>,
}

/// (passing, all, newest publish's failed error checks, … failed warning checks) of one
/// port — `port` as the checks name it, its name within the product — or `None` when no
/// publish in the window checked it.
fn check_facts(
    checks: &[Vec<tessera_catalog::CheckRecord>],
    port: &str,
) -> Option<(usize, usize, usize, usize)> {
    let (mut passing, mut all) = (0, 0);
    let mut newest: Option<(usize, usize)> = None;
    for run in checks {
        let mine: Vec<_> = run.iter().filter(|c| c.port == port).collect();
        if mine.is_empty() {
            continue;
        }
        all += mine.len();
        passing += mine.iter().filter(|c| c.passed).count();
        newest.get_or_insert_with(|| {
            let failed = |error: bool| {
                mine.iter()
                    .filter(|c| !c.passed && (c.severity == "error") == error)
                    .count()
            };
            (failed(true), failed(false))
        });
    }
    let (errors, warnings) = newest?;
    Some((passing, all, errors, warnings))
}

fn check(table: &str, s: &SlaProperty, basis: &'static str) -> SlaCheck {
    SlaCheck {
        table: table.to_string(),
        property: s.property.clone(),
        element: s.element.clone(),
        target: s.shown(),
        measured: None,
        shown: "—".into(),
        basis,
        state: SlaState::Unknown,
        detail: String::new(),
    }
}

fn column_of(element: &str) -> String {
    element.rsplit('.').next().unwrap_or(element).to_string()
}

/// One property of one port, measured from `facts`.
fn measure(table: &str, s: &SlaProperty, facts: &Facts, now: DateTime<Utc>) -> SlaCheck {
    let name = s.property.to_ascii_lowercase();
    match name.as_str() {
        "latency" | "freshness" => latency(table, s, facts, now),
        "frequency" => frequency(table, s, facts, now),
        "availability" => availability(table, s, facts),
        "retention" => retention(table, s, facts, now),
        "timeofavailability" => time_of_availability(table, s, facts, now),
        _ => {
            let mut c = check(table, s, "none");
            c.detail = format!(
                "Tessera does not measure `{}`; it measures latency, frequency, availability, retention and timeOfAvailability",
                s.property
            );
            c
        }
    }
}

fn unmeasurable(mut c: SlaCheck, why: String) -> SlaCheck {
    c.state = SlaState::Unknown;
    c.detail = why;
    c
}

fn latency(table: &str, s: &SlaProperty, facts: &Facts, now: DateTime<Utc>) -> SlaCheck {
    let Some(limit) = s.seconds() else {
        return unmeasurable(
            check(table, s, "none"),
            format!(
                "the target `{}` is not a duration (a number and a unit such as h or d)",
                s.shown()
            ),
        );
    };
    let (basis, at, what) = match &s.element {
        Some(element) => {
            let column = column_of(element);
            if let Some(problem) = &facts.data.problem {
                return unmeasurable(
                    check(table, s, "data"),
                    format!("cannot read the data: {problem}"),
                );
            }
            match facts.data.extremes.get(&column) {
                Some((Some(newest), _)) => (
                    "data",
                    *newest,
                    format!(
                        "the newest {column} is {}",
                        newest.format("%Y-%m-%d %H:%M UTC")
                    ),
                ),
                Some((None, _)) => {
                    return unmeasurable(
                        check(table, s, "data"),
                        format!("{column} has no values"),
                    );
                }
                None => {
                    return unmeasurable(
                        check(table, s, "data"),
                        "the port has not been published".into(),
                    );
                }
            }
        }
        None => match facts.publishes.first() {
            Some(t) => (
                "publish",
                *t,
                format!(
                    "the last good publish was {}",
                    t.format("%Y-%m-%d %H:%M UTC")
                ),
            ),
            None => {
                return unmeasurable(
                    check(table, s, "publish"),
                    "the port has never been published".into(),
                );
            }
        },
    };
    let age = (now - at).num_seconds().max(0) as f64;
    let mut c = check(table, s, basis);
    c.measured = Some(age);
    c.shown = human_duration(age);
    c.state = by_limit(age, limit);
    c.detail = format!(
        "{what}, {} ago; the contract promises at most {}",
        human_duration(age),
        s.shown()
    );
    c
}

fn frequency(table: &str, s: &SlaProperty, facts: &Facts, now: DateTime<Utc>) -> SlaCheck {
    let Some(limit) = s.seconds() else {
        return unmeasurable(
            check(table, s, "publish"),
            format!(
                "the interval `{}` is not a duration (a number and a unit such as h or d)",
                s.shown()
            ),
        );
    };
    let Some(last) = facts.publishes.first() else {
        return unmeasurable(
            check(table, s, "publish"),
            "the port has never been published".into(),
        );
    };
    let since = (now - *last).num_seconds().max(0) as f64;
    let mut c = check(table, s, "publish");
    c.measured = Some(since);
    c.shown = human_duration(since);
    c.state = by_limit(since, limit);
    c.detail = format!(
        "the last good publish was {} ago ({}); expected every {}",
        human_duration(since),
        last.format("%Y-%m-%d %H:%M UTC"),
        s.shown()
    );
    c
}

fn availability(table: &str, s: &SlaProperty, facts: &Facts) -> SlaCheck {
    let Some(target) = s.number() else {
        return unmeasurable(
            check(table, s, "probes"),
            format!("the target `{}` is not a percentage", s.shown()),
        );
    };
    let (ok, all) = facts.probes;
    let (ok, all) = (ok + usize::from(facts.data.readable), all + 1);
    let share = 100.0 * ok as f64 / all as f64;
    let mut c = check(
        table,
        s,
        if facts.data.readable {
            "probes"
        } else {
            "probe-failed"
        },
    );
    c.measured = Some(share);
    c.shown = percent(share);
    c.state = if share < target {
        SlaState::Red
    } else if !facts.data.readable {
        SlaState::Amber
    } else {
        SlaState::Green
    };
    let now_text = match (&facts.data.readable, &facts.data.problem) {
        (true, _) => "readable now".to_string(),
        (false, Some(p)) => format!("not readable now ({p})"),
        (false, None) => "not readable now".to_string(),
    };
    c.detail = format!(
        "{ok} of {all} probes in the last {WINDOW_DAYS} days could read the port ({}); {now_text}; the contract promises {}",
        percent(share),
        s.shown()
    );
    c
}

fn retention(table: &str, s: &SlaProperty, facts: &Facts, now: DateTime<Utc>) -> SlaCheck {
    let Some(element) = &s.element else {
        return unmeasurable(
            check(table, s, "rows"),
            "no `element` names the column rows are aged by, so retention cannot be checked".into(),
        );
    };
    let column = column_of(element);
    let cutoff = match crate::privacy::retention::cutoff(now, &s.value, s.unit.as_deref()) {
        Ok(c) => c,
        Err(e) => return unmeasurable(check(table, s, "rows"), e),
    };
    if let Some(problem) = &facts.data.problem {
        return unmeasurable(
            check(table, s, "rows"),
            format!("cannot read the data: {problem}"),
        );
    }
    let Some((_, oldest)) = facts.data.extremes.get(&column) else {
        return unmeasurable(
            check(table, s, "rows"),
            "the port has not been published".into(),
        );
    };
    let mut c = check(table, s, "rows");
    match oldest {
        None => {
            c.state = SlaState::Green;
            c.shown = "no rows".into();
            c.detail = format!("{column} has no values, so no row is past the retention");
        }
        Some(oldest) => {
            let age = (now - *oldest).num_seconds().max(0) as f64;
            c.measured = Some(age);
            c.shown = human_duration(age);
            if *oldest < cutoff {
                c.state = SlaState::Red;
                c.detail = format!(
                    "the oldest {column} is {} — older than the retention of {} (rows before {} should be gone); run `tessera retention apply` or set privacy.retention_schedule",
                    oldest.format("%Y-%m-%d"),
                    s.shown(),
                    cutoff.format("%Y-%m-%d")
                );
            } else {
                c.state = SlaState::Green;
                c.detail = format!(
                    "the oldest {column} is {}, within the retention of {}",
                    oldest.format("%Y-%m-%d"),
                    s.shown()
                );
            }
        }
    }
    c
}

/// `09:00` or `09:00-08:00` (ODCS's example writes a window; its start is the deadline).
fn deadline_of(value: &serde_json::Value) -> Option<NaiveTime> {
    let text = value.as_str()?.trim();
    let first = text.split(['-', '/']).next()?.trim();
    NaiveTime::parse_from_str(first, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(first, "%H:%M:%S"))
        .ok()
}

fn time_of_availability(
    table: &str,
    s: &SlaProperty,
    facts: &Facts,
    now: DateTime<Utc>,
) -> SlaCheck {
    let Some(deadline) = deadline_of(&s.value) else {
        return unmeasurable(
            check(table, s, "publish"),
            format!("`{}` is not a time of day such as 09:00 (UTC)", s.shown()),
        );
    };
    // The most recent deadline that has passed, and the start of its day.
    let today = now.date_naive();
    let mut due = Utc.from_utc_datetime(&today.and_time(deadline));
    if due > now {
        due -= Duration::days(1);
    }
    let day_start =
        Utc.from_utc_datetime(&due.date_naive().and_hms_opt(0, 0, 0).expect("midnight"));
    let first_of_day = facts
        .publishes
        .iter()
        .filter(|t| **t >= day_start)
        .min()
        .copied();
    let mut c = check(table, s, "publish");
    let day = due.format("%Y-%m-%d");
    match first_of_day {
        Some(t) => {
            let late = (t - due).num_seconds();
            c.measured = Some(t.timestamp() as f64);
            c.shown = t.format("%H:%M UTC").to_string();
            if late > 0 {
                c.state = SlaState::Amber;
                c.detail = format!(
                    "{day}'s data was published at {}, {} after {} UTC",
                    t.format("%H:%M"),
                    human_duration(late as f64),
                    deadline.format("%H:%M")
                );
            } else {
                c.state = SlaState::Green;
                c.detail = format!(
                    "{day}'s data was published at {}, by {} UTC",
                    t.format("%H:%M"),
                    deadline.format("%H:%M")
                );
            }
        }
        None => {
            c.state = SlaState::Red;
            c.shown = "not yet".into();
            c.detail = format!(
                "nothing was published on {day} by {} UTC (the contract promises the day's data by then)",
                deadline.format("%H:%M")
            );
        }
    }
    c
}

fn quality(table: &str, facts: &Facts) -> Option<SlaCheck> {
    let (passing, all, errors, warnings) = facts.checks?;
    let share = 100.0 * passing as f64 / all as f64;
    let state = if errors > 0 {
        SlaState::Red
    } else if warnings > 0 {
        SlaState::Amber
    } else {
        SlaState::Green
    };
    let newest = match (errors, warnings) {
        (0, 0) => "every check of the newest publish passed".to_string(),
        (e, 0) => format!("{e} error check(s) of the newest publish failed"),
        (0, w) => format!("{w} warning check(s) of the newest publish failed"),
        (e, w) => format!("{e} error and {w} warning check(s) of the newest publish failed"),
    };
    Some(SlaCheck {
        table: table.to_string(),
        property: "quality".into(),
        element: None,
        target: "checks pass".into(),
        measured: Some(share),
        shown: percent(share),
        basis: "checks",
        state,
        detail: format!(
            "{passing} of {all} checks passed in the last {WINDOW_DAYS} days; {newest}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sla(
        property: &str,
        value: serde_json::Value,
        unit: Option<&str>,
        element: Option<&str>,
    ) -> SlaProperty {
        SlaProperty {
            property: property.into(),
            value,
            unit: unit.map(str::to_string),
            element: element.map(str::to_string),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn facts(newest: Option<&str>, publishes: &[&str]) -> Facts {
        let mut data = DataFacts {
            readable: true,
            ..Default::default()
        };
        data.extremes.insert(
            "signup_date".into(),
            (newest.map(at), Some(at("2020-01-01T00:00:00Z"))),
        );
        Facts {
            data,
            publishes: publishes.iter().map(|t| at(t)).collect(),
            checks: None,
            probes: (0, 0),
        }
    }

    #[test]
    fn latency_is_measured_from_the_data_when_an_element_is_named_else_from_the_publish() {
        let now = at("2026-11-25T12:00:00Z");
        let f = facts(Some("2026-11-25T06:00:00Z"), &["2026-11-25T11:00:00Z"]);
        let by_data = measure(
            "crm.customers",
            &sla(
                "latency",
                8.into(),
                Some("h"),
                Some("customers.signup_date"),
            ),
            &f,
            now,
        );
        assert_eq!(
            (by_data.basis, by_data.state, by_data.shown.as_str()),
            ("data", SlaState::Green, "6 h")
        );
        let by_publish = measure(
            "crm.customers",
            &sla("latency", 8.into(), Some("h"), None),
            &f,
            now,
        );
        assert_eq!(
            (
                by_publish.basis,
                by_publish.state,
                by_publish.shown.as_str()
            ),
            ("publish", SlaState::Green, "1 h")
        );
        let at_risk = measure(
            "crm.customers",
            &sla(
                "latency",
                7.into(),
                Some("h"),
                Some("customers.signup_date"),
            ),
            &f,
            now,
        );
        assert_eq!(at_risk.state, SlaState::Amber, "6 h of 7 h is past 80 %");
        let breached = measure(
            "crm.customers",
            &sla(
                "freshness",
                5.into(),
                Some("h"),
                Some("customers.signup_date"),
            ),
            &f,
            now,
        );
        assert_eq!(breached.state, SlaState::Red);
        assert!(breached.detail.contains("the newest signup_date is 2026-11-25 06:00 UTC, 6 h ago; the contract promises at most 5 h"), "{}", breached.detail);
    }

    #[test]
    fn frequency_counts_from_the_last_good_publish() {
        let now = at("2026-11-25T12:00:00Z");
        let daily = sla("frequency", 1.into(), Some("d"), None);
        assert_eq!(
            measure("t.p", &daily, &facts(None, &["2026-11-25T01:00:00Z"]), now).state,
            SlaState::Green
        );
        assert_eq!(
            measure("t.p", &daily, &facts(None, &["2026-11-24T16:00:00Z"]), now).state,
            SlaState::Amber
        );
        let late = measure("t.p", &daily, &facts(None, &["2026-11-23T10:00:00Z"]), now);
        assert_eq!(
            (late.state, late.shown.as_str()),
            (SlaState::Red, "2 d 2 h")
        );
        assert_eq!(
            measure("t.p", &daily, &facts(None, &[]), now).state,
            SlaState::Unknown
        );
    }

    #[test]
    fn availability_counts_probes_and_the_current_one() {
        let s = sla("availability", "99.5%".into(), None, None);
        let mut f = facts(None, &[]);
        f.probes = (999, 1000);
        let c = availability("t.p", &s, &f);
        assert_eq!((c.state, c.shown.as_str()), (SlaState::Green, "99.9%"));
        f.data.readable = false;
        f.data.problem = Some("no such table".into());
        let c = availability("t.p", &s, &f);
        assert_eq!(
            c.state,
            SlaState::Amber,
            "one failed probe keeps 99.8 %: at risk"
        );
        f.probes = (990, 1000);
        assert_eq!(availability("t.p", &s, &f).state, SlaState::Red);
    }

    #[test]
    fn retention_is_red_when_a_row_outlives_it() {
        let now = at("2026-11-25T12:00:00Z");
        let s = sla(
            "retention",
            3.into(),
            Some("y"),
            Some("customers.signup_date"),
        );
        let c = measure(
            "crm.customers",
            &s,
            &facts(Some("2026-11-01T00:00:00Z"), &[]),
            now,
        );
        assert_eq!(c.state, SlaState::Red, "{}", c.detail);
        assert!(c.detail.contains("tessera retention apply"));
        let s = sla(
            "retention",
            10.into(),
            Some("y"),
            Some("customers.signup_date"),
        );
        assert_eq!(
            measure(
                "crm.customers",
                &s,
                &facts(Some("2026-11-01T00:00:00Z"), &[]),
                now
            )
            .state,
            SlaState::Green
        );
    }

    #[test]
    fn time_of_availability_wants_the_days_data_by_the_deadline() {
        let s = sla("timeOfAvailability", "09:00-08:00".into(), None, None);
        let on_time = facts(None, &["2026-11-25T08:30:00Z"]);
        assert_eq!(
            measure("t.p", &s, &on_time, at("2026-11-25T12:00:00Z")).state,
            SlaState::Green
        );
        let late = facts(None, &["2026-11-25T10:30:00Z"]);
        assert_eq!(
            measure("t.p", &s, &late, at("2026-11-25T12:00:00Z")).state,
            SlaState::Amber
        );
        let none = facts(None, &["2026-11-24T08:00:00Z"]);
        let c = measure("t.p", &s, &none, at("2026-11-25T12:00:00Z"));
        assert_eq!(c.state, SlaState::Red);
        assert!(
            c.detail
                .contains("nothing was published on 2026-11-25 by 09:00 UTC"),
            "{}",
            c.detail
        );
        // Before today's deadline, yesterday's counts.
        assert_eq!(
            measure("t.p", &s, &none, at("2026-11-25T07:00:00Z")).state,
            SlaState::Green
        );
    }

    #[test]
    fn quality_counts_the_window_and_judges_by_the_newest_publish() {
        let check = |port: &str, passed: bool, severity: &str| tessera_catalog::CheckRecord {
            port: port.into(),
            name: "n".into(),
            kind: "required".into(),
            column: None,
            severity: severity.into(),
            passed,
            measured: None,
            expected: String::new(),
            failed_rows: None,
            samples: serde_json::Value::Null,
            message: None,
        };
        // Newest first: the newest publish of `a` failed a warning; an older one an error.
        let runs = vec![
            vec![check("b", false, "error")],
            vec![check("a", true, "error"), check("a", false, "warning")],
            vec![check("a", false, "error"), check("a", true, "error")],
        ];
        assert_eq!(check_facts(&runs, "a"), Some((2, 4, 0, 1)));
        assert_eq!(check_facts(&runs, "b"), Some((0, 1, 1, 0)));
        assert_eq!(check_facts(&runs, "c"), None);
    }

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(human_duration(42.0), "42 s");
        assert_eq!(human_duration(3.0 * 3600.0 + 720.0), "3 h 12 min");
        assert_eq!(human_duration(86_400.0 * 3.0 + 4.0 * 3600.0), "3 d 4 h");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(99.5), "99.5%");
        assert_eq!(percent(99.96), "99.96%");
    }
}
