//! `tessera serve` and `tessera token`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use tessera_serve::{Listen, Shared};

use crate::cli::{
    Format, ServeArgs, TokenCommand, TokenCreateArgs, TokenListArgs, TokenRevokeArgs,
};
use crate::commands::{audit, mesh};
use crate::exit;

/// An address flag (or its mesh.yaml default): `host:port`, or `off`.
fn address(what: &str, flag: Option<&str>, configured: &str) -> Result<Option<SocketAddr>> {
    let text = flag.unwrap_or(configured).trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr = text.parse().with_context(|| {
        format!("the {what} address `{text}` is not host:port (e.g. 127.0.0.1:8080), or `off`")
    })?;
    Ok(Some(addr))
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // Tessera's own events at info; the libraries' (deltalake's kernel logs every
        // snapshot at info) only when they warn.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "warn,tessera=info,tessera_serve=info,tessera_engine=info",
            )
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let grace = tessera_model::config::parse_duration(&args.grace)
        .with_context(|| format!("--grace {}: write a duration such as 30s or 2m", args.grace))?;
    init_logs(&args.log_format);
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let config = &engine.mesh.config;
        let listen = Listen {
            http: address("HTTP", args.http.as_deref(), &config.http)?,
            pg: address("PostgreSQL", args.pg.as_deref(), &config.pg)?,
            flight: address("Flight SQL", args.flight.as_deref(), &config.flight)?,
        };
        if listen.http.is_none() && listen.pg.is_none() && listen.flight.is_none() {
            bail!("every protocol is off; leave at least one of --http, --pg, --flight on");
        }
        let governed = engine
            .governor
            .as_ref()
            .is_some_and(|g| g.governance.is_some());
        let anonymous = config.serve.anonymous.clone();
        let shared = Arc::new(Shared::new(engine));
        let running = tessera_serve::start(shared, &listen).await?;
        let mut lines = vec![format!("serving the mesh at {}", root.display())];
        if let Some(a) = running.http {
            lines.push(format!("  HTTP API     http://{a}/api/v1   (OpenAPI: http://{a}/api/v1/openapi.json)"));
        }
        if let Some(a) = running.pg {
            lines.push(format!("  PostgreSQL   postgresql://<principal>@{a}/mesh   (password: a token)"));
        }
        if let Some(a) = running.flight {
            lines.push(format!("  Flight SQL   grpc://{a}   (basic auth: principal + token)"));
        }
        if !governed {
            lines.push("  this mesh is not governed (no policies/principals.yaml): every token reads every port".into());
        }
        match anonymous {
            Some(p) => lines.push(format!("  requests without a token act as `{p}` (server.anonymous)")),
            None => lines.push("  every request needs a token: tessera token create --principal <name>".into()),
        }
        eprintln!("{}", lines.join("\n"));
        stop_signal().await;
        eprintln!("stopping: no new queries; waiting up to {} for running ones", args.grace);
        let left = running.shutdown(grace).await;
        if left > 0 {
            eprintln!("stopped with {left} quer(ies) still running (cancelled)");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C, or SIGTERM (what service managers and `docker stop` send).
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("the SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub fn token(cmd: TokenCommand) -> Result<ExitCode> {
    match cmd {
        TokenCommand::Create(args) => create(args),
        TokenCommand::List(args) => list(args),
        TokenCommand::Revoke(args) => revoke(args),
    }
}

/// Who ran the command, for the token's `created_by` and the audit log.
fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("local:{user}")
}

fn create(args: TokenCreateArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let expires_at = match &args.expires {
        Some(text) => Some(Utc::now() + audit::duration("--expires", text)?),
        None => None,
    };
    let purposes: Vec<String> = args
        .purposes
        .iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        if let Some(gov) = engine.governor.as_ref().and_then(|g| g.governance.as_ref()) {
            if gov.principals.get(&args.principal).is_none() {
                let near = tessera_model::diagnostic::suggest(
                    &args.principal,
                    gov.principals.principals.keys().map(String::as_str),
                );
                eprintln!(
                    "error: `{}` is not declared in policies/principals.yaml{}",
                    args.principal,
                    near.map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default()
                );
                return Ok(ExitCode::from(exit::INVALID));
            }
            let known: Vec<&String> = gov.settings.purposes.keys().collect();
            if let Some(p) = purposes.iter().find(|p| !gov.settings.purposes.contains_key(*p)) {
                eprintln!(
                    "error: --purposes: `{p}` is not a purpose of this mesh (mesh.yaml purposes: {})",
                    known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                );
                return Ok(ExitCode::from(exit::INVALID));
            }
        }
        let issued = tessera_serve::issue(
            engine.catalog.as_ref(),
            &args.principal,
            purposes,
            expires_at,
            &operator(),
            args.note.clone(),
        )
        .await?;
        engine
            .audit_action(
                None,
                None,
                "create_token",
                serde_json::json!([{"token": issued.record.id, "principal": issued.record.principal, "purposes": issued.record.purposes}]),
                tessera_catalog::AuditOutcome::Ok,
                None,
            )
            .await
            .context("the audit log could not be written")?;
        if args.format == Format::Json {
            let mut v = serde_json::to_value(&issued.record)?;
            v["token"] = serde_json::Value::String(issued.token.clone());
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("{}", issued.token);
            eprintln!(
                "token {} for {}{}{} — shown once; store it as a secret",
                issued.record.id,
                issued.record.principal,
                if issued.record.purposes.is_empty() {
                    String::new()
                } else {
                    format!(", purposes {}", issued.record.purposes.join(", "))
                },
                issued
                    .record
                    .expires_at
                    .map(|at| format!(", expires {}", at.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn list(args: TokenListArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::engine(&root).await?;
        let tokens = engine.catalog.tokens(args.principal.as_deref()).await?;
        if args.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&tokens)?);
            return Ok(ExitCode::SUCCESS);
        }
        if tokens.is_empty() {
            println!("no tokens; create one with `tessera token create --principal <name>`");
            return Ok(ExitCode::SUCCESS);
        }
        let now = Utc::now();
        let day = |t: Option<chrono::DateTime<Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<17} {:<28} {:<24} {:<8} {:<16} {:<16} NOTE",
            "ID", "PRINCIPAL", "PURPOSES", "STATE", "EXPIRES", "LAST USED"
        );
        for t in tokens {
            let state = if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|at| at <= now) {
                "expired"
            } else {
                "active"
            };
            let purposes = if t.purposes.is_empty() {
                "(any)".to_string()
            } else {
                t.purposes.join(",")
            };
            println!(
                "{:<17} {:<28} {:<24} {:<8} {:<16} {:<16} {}",
                t.id,
                t.principal,
                purposes,
                state,
                day(t.expires_at),
                day(t.last_used_at),
                t.note.unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn revoke(args: TokenRevokeArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        match engine.catalog.revoke_token(&args.id, Utc::now()).await {
            Ok(newly) => {
                engine
                    .audit_action(
                        None,
                        None,
                        "revoke_token",
                        serde_json::json!([{"token": args.id}]),
                        tessera_catalog::AuditOutcome::Ok,
                        None,
                    )
                    .await
                    .context("the audit log could not be written")?;
                if newly {
                    println!("revoked {}", args.id);
                } else {
                    println!("{} was already revoked", args.id);
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(tessera_catalog::CatalogError::NotFound(_)) => {
                eprintln!(
                    "error: no token `{}`; `tessera token list` shows the ids",
                    args.id
                );
                Ok(ExitCode::from(exit::INVALID))
            }
            Err(e) => Err(e.into()),
        }
    })
}
