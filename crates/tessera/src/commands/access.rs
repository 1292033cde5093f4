//! `tessera access request|list|approve|deny|revoke|withdraw`: the access request flow of
//! `tessera_engine::access`, as the principal `--as` names (the CLI has no tokens: it runs
//! where the mesh's files are, as `tessera sql --as` does).

use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::Utc;
use tessera_catalog::AccessStatus;
use tessera_engine::Engine;
use tessera_engine::access::{AccessError, AccessErrorKind, AccessFilter, AccessRequestView};

use crate::cli::{AccessAs, AccessCommand, AccessState, Format, MeshArg};
use crate::commands::mesh;
use crate::exit;

pub fn run(cmd: AccessCommand) -> Result<ExitCode> {
    match cmd {
        AccessCommand::Request(a) => with_engine(&a.mesh, &a.who, a.format, move |e, who| {
            Box::pin(async move {
                let v = e
                    .request_access("cli", &who, &a.port, &a.purpose, &a.justification)
                    .await?;
                Ok(vec![v])
            })
        }),
        AccessCommand::List(a) => {
            let filter = AccessFilter {
                status: a.status.map(|s| match s {
                    AccessState::Requested => AccessStatus::Requested,
                    AccessState::Approved | AccessState::Expired => AccessStatus::Approved,
                    AccessState::Denied => AccessStatus::Denied,
                    AccessState::Withdrawn => AccessStatus::Withdrawn,
                    AccessState::Revoked => AccessStatus::Revoked,
                }),
                port: a.port.clone(),
                mine: match (a.mine, a.to_decide) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                limit: None,
            };
            let state = a.status;
            with_engine(&a.mesh, &a.who, a.format, move |e, who| {
                Box::pin(async move {
                    let all = e.access_requests(&who, &filter).await?;
                    Ok(all
                        .into_iter()
                        .filter(|v| match state {
                            Some(AccessState::Approved) => v.state == "approved",
                            Some(AccessState::Expired) => v.state == "expired",
                            _ => true,
                        })
                        .collect())
                })
            })
        }
        AccessCommand::Approve(a) => {
            let expires_at = match &a.expires {
                Some(text) => match tessera_engine::access::parse_expiry(text, Utc::now()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        eprintln!("error: --expires: {e}");
                        return Ok(ExitCode::from(exit::INVALID));
                    }
                },
                None => None,
            };
            with_engine(&a.mesh, &a.who, a.format, move |e, who| {
                Box::pin(async move {
                    let v = e
                        .approve_access("cli", &who, &a.id, expires_at, a.reason.as_deref())
                        .await?;
                    Ok(vec![v])
                })
            })
        }
        AccessCommand::Deny(a) => with_engine(&a.mesh, &a.who, a.format, move |e, who| {
            Box::pin(async move { Ok(vec![e.deny_access("cli", &who, &a.id, &a.reason).await?]) })
        }),
        AccessCommand::Revoke(a) => with_engine(&a.mesh, &a.who, a.format, move |e, who| {
            Box::pin(async move {
                Ok(vec![
                    e.revoke_access("cli", &who, &a.id, a.reason.as_deref())
                        .await?,
                ])
            })
        }),
        AccessCommand::Withdraw(a) => with_engine(&a.mesh, &a.who, a.format, move |e, who| {
            Box::pin(async move { Ok(vec![e.withdraw_access("cli", &who, &a.id).await?]) })
        }),
    }
}

type Step<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<AccessRequestView>, AccessError>> + 'a>,
>;

/// Opens the governed engine, runs `step` as the `--as` principal and prints what it
/// returns; a refusal is printed as `error: …` with exit code 1.
fn with_engine<F>(mesh_arg: &MeshArg, who: &AccessAs, format: Format, step: F) -> Result<ExitCode>
where
    F: for<'a> FnOnce(&'a Engine, String) -> Step<'a>,
{
    let Some(principal) = who
        .principal
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        bail!(
            "say who you are: --as PRINCIPAL (or TESSERA_PRINCIPAL), a principal of policies/principals.yaml"
        );
    };
    let principal = principal.to_string();
    let root = mesh::root(mesh_arg.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        match step(&engine, principal).await {
            Ok(views) => {
                print(&views, format)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) if e.kind() == AccessErrorKind::Internal => Err(e.into()),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(exit::INVALID))
            }
        }
    })
}

fn print(views: &[AccessRequestView], format: Format) -> Result<()> {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(views)?);
        return Ok(());
    }
    if views.is_empty() {
        println!("no access requests");
        return Ok(());
    }
    for v in views {
        let r = &v.request;
        let mut line = format!(
            "{}  {:<9}  {} → {} for {}",
            r.id, v.state, r.principal, r.port, r.purpose
        );
        if v.can_decide {
            line.push_str("  (you may decide)");
        }
        println!("{line}");
        println!(
            "    asked {}: {}",
            r.created_at.format("%Y-%m-%d %H:%M UTC"),
            r.justification
        );
        if let (Some(by), Some(at)) = (&r.decided_by, r.decided_at) {
            let verb = match r.status {
                AccessStatus::Withdrawn => "withdrawn",
                AccessStatus::Denied => "denied",
                _ => "approved",
            };
            let mut decided = format!("    {verb} by {by} {}", at.format("%Y-%m-%d %H:%M UTC"));
            if let Some(until) = r.expires_at {
                decided.push_str(&format!(
                    ", until {}",
                    until.format("%Y-%m-%d %H:%M:%S UTC")
                ));
            }
            if let Some(reason) = &r.reason {
                decided.push_str(&format!(": {reason}"));
            }
            println!("{decided}");
        }
        if let (Some(by), Some(at)) = (&r.revoked_by, r.revoked_at) {
            println!("    revoked by {by} {}", at.format("%Y-%m-%d %H:%M UTC"));
        }
    }
    Ok(())
}
