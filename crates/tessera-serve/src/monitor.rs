//! What `tessera serve` does on its own, besides answering: measure every SLA on a
//! schedule, tell webhooks about breaches and recoveries, and rebuild products on their
//! build schedules.
//!
//! ```text
//!  every monitoring.evaluate_every ─▶ Engine::evaluate_slas ─▶ record_slas (history)
//!        │                                        └▶ transitions ─▶ webhook::deliver (own task each)
//!        └▶ /metrics gauges (tessera_sla_state, tessera_sla_measured)
//!  tesseraSchedule (cron, UTC) per product ─▶ at each due time: publish it (one publish at a
//!        time with the API's publishes) ─▶ evaluate at once
//! ```
//!
//! Invariant: a failed evaluation or publish is logged and tried again at the next tick;
//! it never stops the server or the other jobs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tessera_engine::run::Quiet;
use tessera_engine::sla::PortHealth;
use tessera_engine::sla::schedule::Scheduled;
use tessera_engine::sla::settings::MonitoringSettings;
use tessera_engine::{Mode, RunOptions, Status};
use tokio::sync::{Notify, watch};

use crate::state::Shared;

/// Evaluates every SLA now and then every `every`, and whenever `now` is notified (after a
/// scheduled publish). Until the server stops.
pub async fn sla_job(
    shared: Arc<Shared>,
    settings: MonitoringSettings,
    every: Duration,
    now: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = crate::until_stopped(&mut stopped) => return,
            _ = ticks.tick() => {}
            _ = now.notified() => {}
        }
        if let Err(e) = evaluate(&shared, &settings).await {
            tracing::warn!("SLA evaluation: {e}; trying again in {every:?}");
        }
    }
}

/// The newest evaluation of each mesh served in this process, and the mesh it was of.
type Evaluations = HashMap<PathBuf, (usize, DateTime<Utc>, Arc<Vec<PortHealth>>)>;

fn evaluations() -> &'static Mutex<Evaluations> {
    static LAST: OnceLock<Mutex<Evaluations>> = OnceLock::new();
    LAST.get_or_init(Default::default)
}

/// How old an evaluation the API and the UI show before measuring again.
const FRESH: Duration = Duration::from_secs(60);

fn remember(engine: &tessera_engine::Engine, at: DateTime<Utc>, ports: Arc<Vec<PortHealth>>) {
    evaluations().lock().expect("never poisoned").insert(
        engine.mesh_dir.clone(),
        (Arc::as_ptr(&engine.mesh) as usize, at, ports),
    );
}

/// The SLAs as last measured: the monitor's newest evaluation when it is of the mesh being
/// served and under a minute old, else a fresh one (not recorded in the history: only the
/// monitor's evaluations are).
pub async fn current(shared: &Shared) -> Result<(DateTime<Utc>, Arc<Vec<PortHealth>>), String> {
    let engine = shared.engine();
    let mesh = Arc::as_ptr(&engine.mesh) as usize;
    let cached = evaluations()
        .lock()
        .expect("never poisoned")
        .get(&engine.mesh_dir)
        .cloned();
    if let Some((of, at, ports)) = cached
        && of == mesh
        && (Utc::now() - at).to_std().unwrap_or_default() < FRESH
    {
        return Ok((at, ports));
    }
    let at = Utc::now();
    let ports = Arc::new(engine.evaluate_slas(at).await.map_err(|e| e.to_string())?);
    remember(&engine, at, ports.clone());
    Ok((at, ports))
}

/// One evaluation: measure, store, export, notify.
pub async fn evaluate(
    shared: &Arc<Shared>,
    settings: &MonitoringSettings,
) -> tessera_engine::Result<()> {
    let engine = shared.engine();
    let now = Utc::now();
    let ports = engine.evaluate_slas(now).await?;
    let transitions = engine.record_slas(&ports, now).await?;
    shared.metrics.observe_slas(&ports, &transitions);
    let ports = Arc::new(ports);
    remember(&engine, now, ports.clone());
    let red = ports
        .iter()
        .filter(|p| p.state == tessera_engine::sla::SlaState::Red)
        .count();
    tracing::info!(
        ports = ports.len(),
        red,
        transitions = transitions.len(),
        "SLAs evaluated"
    );
    for t in transitions {
        tracing::warn!(
            event = t.event,
            port = %t.check.table,
            property = %t.check.property,
            "SLA {}: {}",
            t.event,
            t.check.detail
        );
        for hook in settings
            .webhooks
            .iter()
            .filter(|h| h.events.iter().any(|e| e == t.event))
        {
            let (engine, hook, t, shared) =
                (engine.clone(), hook.clone(), t.clone(), shared.clone());
            tokio::spawn(async move {
                let d = tessera_engine::sla::webhook::deliver(
                    engine.catalog.as_ref(),
                    &engine.mesh.config.name,
                    &hook,
                    &t,
                )
                .await;
                shared.metrics.observe_delivery(d.delivered);
            });
        }
    }
    Ok(())
}

/// Publishes each scheduled product at its due times, until the server stops. The
/// schedule is read from the engine being served when each wait starts, so an API publish
/// that changes `tesseraSchedule` takes effect at the next due time.
pub async fn build_job(
    shared: Arc<Shared>,
    evaluate_now: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let engine = shared.engine();
        let schedule = tessera_engine::sla::schedule::scheduled(&engine.mesh);
        let now = Utc::now();
        let Some((due, products)) = next_due(&schedule, now) else {
            // Nothing scheduled: look again later (a publish may add a schedule).
            tokio::select! {
                _ = crate::until_stopped(&mut stopped) => return,
                _ = tokio::time::sleep(Duration::from_secs(60)) => continue,
            }
        };
        let wait = (due - now).to_std().unwrap_or_default();
        // Wake at least every minute to see schedule changes.
        let nap = wait.min(Duration::from_secs(60));
        tokio::select! {
            _ = crate::until_stopped(&mut stopped) => return,
            _ = tokio::time::sleep(nap) => {}
        }
        if nap < wait {
            continue;
        }
        for product in products {
            let lock = crate::publish_lock(&engine.mesh_dir);
            let _guard = lock.lock_owned().await;
            let engine = shared.engine();
            tracing::info!(product = %product, "scheduled publish");
            let outcome = engine
                .run(
                    std::slice::from_ref(&product),
                    Mode::Publish,
                    &RunOptions::default(),
                    &Quiet,
                )
                .await;
            let status = match &outcome {
                Ok(outcomes) => outcomes
                    .iter()
                    .find(|o| o.product == product.to_string())
                    .map(|o| o.status)
                    .unwrap_or(Status::Failed),
                Err(_) => Status::Failed,
            };
            shared
                .metrics
                .observe_scheduled(&product.to_string(), status);
            match outcome {
                Ok(outcomes) => {
                    for o in outcomes {
                        match o.status {
                            Status::Succeeded | Status::Skipped => tracing::info!(
                                product = %o.product,
                                status = ?o.status,
                                "scheduled publish done"
                            ),
                            _ => tracing::warn!(
                                product = %o.product,
                                status = ?o.status,
                                "scheduled publish: {}",
                                o.message.as_deref().unwrap_or("failed")
                            ),
                        }
                    }
                }
                Err(e) => tracing::warn!(product = %product, "scheduled publish: {e}"),
            }
        }
        evaluate_now.notify_one();
    }
}

/// The earliest due time after `now`, and every product due then.
fn next_due(
    schedule: &[Scheduled],
    now: chrono::DateTime<Utc>,
) -> Option<(chrono::DateTime<Utc>, Vec<tessera_model::ProductRef>)> {
    let mut due: Option<(chrono::DateTime<Utc>, Vec<tessera_model::ProductRef>)> = None;
    for s in schedule {
        let Some(at) = s.next_after(now) else {
            continue;
        };
        match &mut due {
            Some((t, products)) if at == *t => products.push(s.product.clone()),
            Some((t, _)) if at > *t => {}
            _ => due = Some((at, vec![s.product.clone()])),
        }
    }
    due
}
