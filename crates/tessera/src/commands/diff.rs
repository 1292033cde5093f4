//! `tessera diff`: what changed between two versions of a contract, which changes break
//! consumers, whether the version allows it, and who would be broken.
//!
//! A side is a contract file, a git revision of one (`REV:PATH`, as `git show` reads
//! it), a port of the mesh (`domain.port`: its contract file now), or a published version
//! (`published:domain.port[@N]`: the contract it was committed under, from the metadata
//! store). With one port the diff is its newest published version → its file; with no
//! arguments, every published port of the mesh.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tessera_engine::Engine;
use tessera_engine::evolution::{self, ChangeImpact};
use tessera_model::diff::{ContractDiff, Impact, diff};
use tessera_model::odcs::Contract;

use crate::cli::{DiffArgs, Format};
use crate::commands::{audit, mesh};
use crate::exit;

/// One side of a diff, read.
struct Side {
    /// How the user named it, for messages.
    label: String,
    contract: Contract,
    /// The mesh port it is a contract of, when known (`domain.port`).
    port: Option<String>,
}

/// One compared pair and what came of it.
struct Compared {
    old: Side,
    new: Side,
    diff: ContractDiff,
    impact: Option<Result<Vec<ChangeImpact>, String>>,
}

pub fn run(args: DiffArgs) -> Result<ExitCode> {
    let since = Utc::now() - audit::duration("--since", &args.since)?;
    let needs_mesh = args.sides.len() != 2
        || args
            .sides
            .iter()
            .any(|s| s.starts_with("published:") || is_port_name(s));
    let root = if needs_mesh {
        Some(mesh::root(args.mesh.mesh.as_deref())?)
    } else {
        mesh::root(args.mesh.mesh.as_deref()).ok()
    };
    mesh::runtime()?.block_on(async {
        let engine = match &root {
            Some(root) => match mesh::engine(root).await {
                Ok(e) => Some(e),
                Err(e) if needs_mesh => return Err(e),
                // Two files outside a usable mesh: no consumer impact, said so below.
                Err(_) => None,
            },
            None => None,
        };
        let pairs = pairs(&args.sides, engine.as_ref()).await?;
        let mut compared = Vec::new();
        for (old, new) in pairs {
            let d = diff(&old.contract, &new.contract);
            let port = new.port.clone().or_else(|| old.port.clone());
            let impact = match (&engine, &port) {
                (Some(engine), Some(port)) if d.is_breaking() => {
                    Some(evolution::consumers(engine, port, &d, since).await)
                }
                _ => None,
            };
            compared.push(Compared {
                old,
                new,
                diff: d,
                impact,
            });
        }
        let refused = compared
            .iter()
            .any(|c| c.diff.version_gate().is_err() || (args.strict && c.diff.is_breaking()));
        match args.format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&to_json(&compared, &args.since))?
            ),
            Format::Text => print_text(&compared, &args.since),
        }
        Ok(if refused {
            ExitCode::from(exit::INVALID)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// `crm.customers`: a port name, not a file.
fn is_port_name(s: &str) -> bool {
    let file_like = [".yaml", ".yml", ".json"].iter().any(|e| s.ends_with(e));
    !file_like
        && !Path::new(s).exists()
        && !s.contains(['/', ':', '\\'])
        && s.split('.').count() == 2
        && s.split('.').all(|p| !p.is_empty())
}

async fn pairs(sides: &[String], engine: Option<&Engine>) -> Result<Vec<(Side, Side)>> {
    match sides {
        [old, new] => Ok(vec![(read(old, engine).await?, read(new, engine).await?)]),
        [port] => {
            if !is_port_name(port) {
                bail!(
                    "one argument is a port (`domain.port`), compared with its newest published version; \
                     `{port}` is not one. To compare two contracts, name both."
                );
            }
            let engine = engine.expect("a port needs the mesh");
            let new = read(port, engine.into()).await?;
            let old = read(&format!("published:{port}"), engine.into())
                .await
                .with_context(|| format!("{port} has nothing to compare with"))?;
            Ok(vec![(old, new)])
        }
        [] => {
            let engine = engine.expect("no arguments needs the mesh");
            let mut out = Vec::new();
            for port in port_names(engine) {
                let (product, p) = evolution::find_port(engine, &port).expect("listed above");
                if p.contract.is_none() {
                    continue;
                }
                let published = evolution::published_contract(engine, product, p, None)
                    .await
                    .map_err(anyhow::Error::msg)?;
                if let Some((version, contract)) = published {
                    out.push((
                        Side {
                            label: format!("{port} published version {version}"),
                            contract,
                            port: Some(port.clone()),
                        },
                        read(&port, Some(engine)).await?,
                    ));
                }
            }
            Ok(out)
        }
        _ => bail!("give two contracts to compare, one port, or none (every published port)"),
    }
}

/// Reads one side.
async fn read(side: &str, engine: Option<&Engine>) -> Result<Side> {
    if let Some(rest) = side.strip_prefix("published:") {
        let engine = engine.context("`published:` needs a mesh (--mesh DIR)")?;
        let (port, version) = match rest.split_once('@') {
            Some((port, n)) => (
                port,
                Some(n.parse::<i64>().with_context(|| {
                    format!("`{side}`: the version after @ is a Delta version number")
                })?),
            ),
            None => (rest, None),
        };
        let (product, p) = port_of(engine, port)?;
        let (version, contract) = evolution::published_contract(engine, product, p, version)
            .await
            .map_err(anyhow::Error::msg)?
            .with_context(|| format!("{port} was never published"))?;
        return Ok(Side {
            label: format!("{port} published version {version}"),
            contract,
            port: Some(port.to_string()),
        });
    }
    if let Some(engine) = engine
        && is_port_name(side)
    {
        let (_, p) = port_of(engine, side)?;
        let contract = p
            .contract
            .clone()
            .with_context(|| format!("{side} has no contract in the mesh"))?;
        return Ok(Side {
            label: format!("{side} ({})", contract.file),
            contract,
            port: Some(side.to_string()),
        });
    }
    let (name, text) = if Path::new(side).is_file() {
        let text = std::fs::read_to_string(side).with_context(|| format!("cannot read {side}"))?;
        (side.to_string(), text)
    } else if let Some((rev, path)) = side.split_once(':') {
        let out = std::process::Command::new("git")
            .args(["show", &format!("{rev}:{path}")])
            .output()
            .context("cannot run git (needed for REV:PATH)")?;
        if !out.status.success() {
            bail!(
                "`{side}`: git show {rev}:{path} failed: {}(a path is from the repository root; ./PATH is from here)",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        (
            side.to_string(),
            String::from_utf8(out.stdout).with_context(|| format!("{side} is not UTF-8"))?,
        )
    } else {
        bail!(
            "`{side}` is neither a file, a git REV:PATH, a port of the mesh (domain.port) nor published:domain.port[@N]"
        );
    };
    let (contract, diags) = Contract::parse(&name, &text);
    let Some(contract) = contract else {
        let errors: Vec<String> = diags.iter().map(ToString::to_string).collect();
        bail!("{name} is not a valid contract:\n{}", errors.join("\n"));
    };
    // A file of a mesh port: its consumers can be named.
    let port = engine.and_then(|e| {
        e.mesh.products().find_map(|p| {
            p.ports.iter().find_map(|q| {
                q.contract
                    .as_ref()
                    .filter(|c| c.id == contract.id)
                    .map(|_| format!("{}.{}", p.domain, q.name))
            })
        })
    });
    Ok(Side {
        label: name,
        contract,
        port,
    })
}

fn port_of<'a>(
    engine: &'a Engine,
    port: &str,
) -> Result<(
    &'a tessera_model::mesh::Product,
    &'a tessera_model::mesh::Port,
)> {
    evolution::find_port(engine, port).with_context(|| {
        format!(
            "no port {port} in the mesh (ports: {})",
            port_names(engine).join(", ")
        )
    })
}

fn print_text(compared: &[Compared], since: &str) {
    if compared.is_empty() {
        println!("no published port to compare (publish first, or name two contracts)");
    }
    // Of many ports, only the changed ones are shown.
    let unchanged = compared
        .iter()
        .filter(|c| c.diff.changes.is_empty())
        .count();
    let many = compared.len() > 1;
    for c in compared
        .iter()
        .filter(|c| !many || !c.diff.changes.is_empty())
    {
        println!(
            "{} → {}: contract version {} → {}",
            c.old.label, c.new.label, c.diff.old_version, c.diff.new_version
        );
        if c.diff.changes.is_empty() {
            println!("  no changes");
        }
        for change in &c.diff.changes {
            println!("  {change}");
            if change.impact != Impact::Breaking {
                continue;
            }
            match &c.impact {
                Some(Ok(impacts)) => {
                    let consumers = impacts
                        .iter()
                        .find(|i| i.path == change.path)
                        .map(|i| i.consumers.as_slice())
                        .unwrap_or_default();
                    if consumers.is_empty() {
                        println!("            no consumer read it in the last {since}");
                    } else {
                        let names: Vec<String> = consumers
                            .iter()
                            .map(|k| match k.kind {
                                "product" => format!("{} (product)", k.name),
                                _ => format!(
                                    "{} ({} {}, last {})",
                                    k.name,
                                    k.reads,
                                    if k.reads == 1 { "query" } else { "queries" },
                                    k.last_read
                                        .map(|t: DateTime<Utc>| t.format("%Y-%m-%d").to_string())
                                        .unwrap_or_default()
                                ),
                            })
                            .collect();
                        println!(
                            "            breaks {} consumer{} (last {since}): {}",
                            consumers.len(),
                            if consumers.len() == 1 { "" } else { "s" },
                            names.join(", ")
                        );
                    }
                }
                Some(Err(e)) => println!("            consumers unknown: {e}"),
                None => {}
            }
        }
        match c.diff.version_gate() {
            Ok(()) if c.diff.is_breaking() => println!(
                "  allowed: the breaking changes come with a new major version ({})",
                c.diff.new_version
            ),
            Ok(()) => println!("  compatible: nothing a consumer relied on changed"),
            Err(e) => println!("  refused: {e}"),
        }
        if c.impact.is_none() && c.diff.is_breaking() && c.new.port.is_none() {
            println!(
                "  (consumers not looked up: neither side is a contract of a port of this mesh)"
            );
        }
    }
    if many && unchanged > 0 {
        println!(
            "{unchanged} of {} published ports unchanged",
            compared.len()
        );
    }
}

fn to_json(compared: &[Compared], since: &str) -> Value {
    let ports: Vec<Value> = compared
        .iter()
        .map(|c| {
            let gate = c.diff.version_gate();
            json!({
                "old": {"source": c.old.label, "version": c.diff.old_version, "port": c.old.port},
                "new": {"source": c.new.label, "version": c.diff.new_version, "port": c.new.port},
                "breaking": c.diff.is_breaking(),
                "allowed": gate.is_ok(),
                "refusal": gate.err().map(|e| e.to_string()),
                "changes": c.diff.changes,
                "consumers": match &c.impact {
                    Some(Ok(i)) => json!({"since": since, "changes": i}),
                    Some(Err(e)) => json!({"error": e}),
                    None => Value::Null,
                },
            })
        })
        .collect();
    json!({ "diffs": ports })
}

/// Every output port of the mesh, as `domain.port`.
fn port_names(engine: &Engine) -> Vec<String> {
    engine
        .mesh
        .products()
        .flat_map(|p| {
            p.ports
                .iter()
                .map(move |q| format!("{}.{}", p.domain, q.name))
        })
        .collect()
}
