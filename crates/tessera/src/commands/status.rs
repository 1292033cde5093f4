//! `tessera status`: every port's SLAs measured now, red/amber/green, and its lifecycle —
//! for a deprecated port, when it is retired, what replaces it and who still uses it.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::Utc;
use serde_json::json;
use tessera_engine::evolution;
use tessera_engine::sla::{PortHealth, SlaState};

use crate::cli::{Format, StatusArgs};
use crate::commands::{audit, mesh};
use crate::exit;

pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let since = Utc::now() - audit::duration("--since", &args.since)?;
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::engine(&root).await?;
        tessera_engine::sla::settings::MonitoringSettings::read(&engine.mesh)?;
        for wanted in &args.ports {
            if evolution::find_port(&engine, wanted).is_none() {
                bail!(
                    "{wanted} is not an output port of this mesh (write domain.port, e.g. crm.customers)"
                );
            }
        }
        if let Some(n) = args.deliveries {
            return deliveries(&engine, n, args.format).await;
        }
        let now = Utc::now();
        let mut ports = engine.evaluate_slas(now).await?;
        if args.record {
            let transitions = engine.record_slas(&ports, now).await?;
            for t in &transitions {
                eprintln!(
                    "{}: {} {} ({})",
                    t.event, t.check.table, t.check.property, t.check.detail
                );
            }
        }
        if !args.ports.is_empty() {
            ports.retain(|p| args.ports.contains(&p.table));
        }
        // Who still reads each deprecated port, for its owners to tell.
        let mut consumers = Vec::new();
        for p in &ports {
            let found = if p.lifecycle == "deprecated" {
                Some(evolution::port_consumers(&engine, &p.table, since).await)
            } else {
                None
            };
            consumers.push(found);
        }
        let lifecycle_of = |p: &PortHealth| {
            let (product, port) = evolution::find_port(&engine, &p.table).expect("a mesh port");
            let contract = port.contract.as_ref();
            (
                contract.and_then(|c| c.sunset()).map(str::to_string),
                contract.and_then(|c| c.replacement()).map(str::to_string),
                product.reference().to_string(),
            )
        };
        let red = ports.iter().any(|p| p.state == SlaState::Red);
        if args.format == Format::Json {
            let out: Vec<_> = ports
                .iter()
                .zip(&consumers)
                .map(|(p, c)| {
                    let (sunset, replacement, _) = lifecycle_of(p);
                    let mut v = serde_json::to_value(p).expect("serialises");
                    v["sunset"] = json!(sunset);
                    v["replacement"] = json!(replacement);
                    v["consumers"] = match c {
                        Some(Ok(list)) => json!(list),
                        Some(Err(e)) => json!({"error": e}),
                        None => json!(null),
                    };
                    v
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"evaluated_at": now, "ports": out}))?
            );
        } else {
            print_table(&ports, &consumers, &lifecycle_of, !args.ports.is_empty());
        }
        Ok(if args.check && red {
            ExitCode::from(exit::INVALID)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// The newest `n` webhook deliveries.
async fn deliveries(engine: &tessera_engine::Engine, n: u32, format: Format) -> Result<ExitCode> {
    let list = engine.catalog.webhook_deliveries(n).await?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!(
            "no webhook deliveries yet: `tessera serve` sends breaches and recoveries to monitoring.webhooks in mesh.yaml (docs/sla.md)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<19}  {:<8}  {:<28}  {:<18}  {:>8}  {:<9}  url / last error",
        "created", "event", "port", "sla", "attempts", "outcome"
    );
    for d in &list {
        let outcome = if d.delivered { "delivered" } else { "failed" };
        let last = match (&d.status, &d.error) {
            (_, Some(e)) => format!("{}  ({e})", d.url),
            (Some(s), None) => format!("{}  (HTTP {s})", d.url),
            (None, None) => d.url.clone(),
        };
        println!(
            "{:<19}  {:<8}  {:<28}  {:<18}  {:>8}  {:<9}  {last}",
            d.created_at.format("%Y-%m-%d %H:%M:%S"),
            d.event,
            d.port,
            d.property,
            d.attempts,
            outcome
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn state_text(state: SlaState, colour: bool) -> String {
    let (text, code) = match state {
        SlaState::Red => ("RED", "31;1"),
        SlaState::Amber => ("AMBER", "33;1"),
        SlaState::Green => ("green", "32"),
        SlaState::Unknown => ("unknown", "2"),
    };
    if colour {
        format!("\x1b[{code}m{text:<7}\x1b[0m")
    } else {
        format!("{text:<7}")
    }
}

type Lifecycle<'a> = dyn Fn(&PortHealth) -> (Option<String>, Option<String>, String) + 'a;

fn print_table(
    ports: &[PortHealth],
    consumers: &[Option<Result<Vec<evolution::Consumer>, String>>],
    lifecycle_of: &Lifecycle<'_>,
    details: bool,
) {
    if ports.is_empty() {
        println!(
            "no port declares an SLA (slaProperties in its contract) or has checks yet; `tessera publish` first"
        );
        return;
    }
    let colour = colour();
    let name_width = ports
        .iter()
        .map(|p| p.table.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<name_width$}  {:<10}  {:<7}  {:<34}  {:>10}  {:>12}  state",
        "port", "lifecycle", "health", "sla", "target", "now"
    );
    for (p, c) in ports.iter().zip(consumers) {
        for (i, check) in p.checks.iter().enumerate() {
            let sla = match (&check.element, check.basis) {
                (Some(e), basis) => format!(
                    "{} ({}{})",
                    check.property,
                    e.rsplit('.').next().unwrap_or(e),
                    if basis == "data" { ", data" } else { "" }
                ),
                (None, "publish") if check.property == "latency" => {
                    format!("{} (publish)", check.property)
                }
                (None, _) => check.property.clone(),
            };
            let (port, lifecycle, health) = if i == 0 {
                (p.table.as_str(), p.lifecycle, state_text(p.state, colour))
            } else {
                ("", "", " ".repeat(7))
            };
            println!(
                "{port:<name_width$}  {lifecycle:<10}  {health}  {sla:<34}  {:>10}  {:>12}  {}",
                check.target,
                check.shown,
                state_text(check.state, colour).trim_end()
            );
            if details {
                println!("{:<name_width$}  {}", "", check.detail);
            }
        }
        if p.lifecycle == "deprecated" {
            let (sunset, replacement, product) = lifecycle_of(p);
            println!(
                "{:<name_width$}  deprecated ({product}): retired on {}{}",
                "",
                sunset.as_deref().unwrap_or("(no sunset date)"),
                replacement
                    .map(|r| format!("; replaced by {r}"))
                    .unwrap_or_default()
            );
            match c {
                Some(Ok(list)) if list.is_empty() => {
                    println!("{:<name_width$}  no one used it in the window", "")
                }
                Some(Ok(list)) => println!(
                    "{:<name_width$}  still used by: {}",
                    "",
                    list.iter()
                        .map(|c| match c.kind {
                            "principal" => format!("{} ({} queries)", c.name, c.reads),
                            _ => format!("{} (product)", c.name),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(Err(e)) => println!("{:<name_width$}  consumers unknown: {e}", ""),
                None => {}
            }
        }
    }
    let count = |s: SlaState| ports.iter().filter(|p| p.state == s).count();
    println!(
        "\n{} port{}: {} red, {} amber, {} green{}",
        ports.len(),
        if ports.len() == 1 { "" } else { "s" },
        count(SlaState::Red),
        count(SlaState::Amber),
        count(SlaState::Green),
        if count(SlaState::Unknown) > 0 {
            format!(", {} unknown", count(SlaState::Unknown))
        } else {
            String::new()
        }
    );
    if !details {
        println!("why: tessera status <domain.port>; everything: --format json");
    }
}
