//! `monitoring:` in mesh.yaml.
//!
//! ```yaml
//! monitoring:
//!   evaluate_every: 5m            # tessera serve measures every SLA this often (default 5m; off: never)
//!   webhooks:
//!     - url: https://hooks.example.com/tessera
//!       secret_env: TESSERA_WEBHOOK_SECRET  # the signing key, read from this environment variable
//!       events: [breach, recovery]          # default: both
//!       retries: 5                          # after the first attempt (default 5)
//!       backoff: 2s                         # the first wait; doubled after each try (default 2s)
//! ```
//!
//! The signing key never appears in mesh.yaml (which is in git): only the name of the
//! environment variable that holds it.

use std::time::Duration;

use tessera_model::Mesh;
use tessera_model::yaml::Node;

use crate::privacy::settings::parse_window;
use crate::{EngineError, Result};

pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);
pub const EVENTS: &[&str] = &["breach", "recovery"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: url::Url,
    /// The environment variable holding the signing key; `None`: deliveries are unsigned.
    pub secret_env: Option<String>,
    pub events: Vec<String>,
    pub retries: u32,
    pub backoff: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringSettings {
    /// `None`: `tessera serve` does not evaluate SLAs on its own.
    pub evaluate_every: Option<Duration>,
    pub webhooks: Vec<Webhook>,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            evaluate_every: Some(DEFAULT_EVERY),
            webhooks: Vec::new(),
        }
    }
}

fn at(n: &Node) -> String {
    format!("mesh.yaml:{}:{}", n.loc.line, n.loc.column)
}

fn invalid(n: &Node, message: String) -> EngineError {
    EngineError::Invalid(format!("{}: {message}", at(n)))
}

impl MonitoringSettings {
    /// Reads `monitoring:` from the mesh's mesh.yaml; an error names the line and column.
    pub fn read(mesh: &Mesh) -> Result<MonitoringSettings> {
        let mut settings = MonitoringSettings::default();
        let Some(file) = mesh.governance_files.iter().find(|f| f.path == "mesh.yaml") else {
            return Ok(settings);
        };
        let text = String::from_utf8_lossy(&file.bytes);
        let Ok(root) = tessera_model::yaml::parse("mesh.yaml", &text) else {
            return Ok(settings); // validation reports a broken mesh.yaml
        };
        let Some(monitoring) = root.get("monitoring") else {
            return Ok(settings);
        };
        let Some(entries) = monitoring.as_map() else {
            return Err(invalid(
                monitoring,
                "monitoring: expected a mapping such as {evaluate_every: 5m}".into(),
            ));
        };
        for (key, value) in entries {
            match key.name.as_str() {
                "evaluate_every" => {
                    let text = value.as_str().unwrap_or_default();
                    settings.evaluate_every = if text == "off" {
                        None
                    } else {
                        Some(parse_window(text).filter(|d| !d.is_zero()).ok_or_else(|| {
                            invalid(
                                value,
                                "monitoring.evaluate_every: expected how often, such as 30s, 5m or 1h, or off".into(),
                            )
                        })?)
                    };
                }
                "webhooks" => {
                    let Some(items) = value.as_seq() else {
                        return Err(invalid(
                            value,
                            "monitoring.webhooks: expected a list of {url: …}".into(),
                        ));
                    };
                    for (i, item) in items.iter().enumerate() {
                        settings.webhooks.push(webhook(item, i)?);
                    }
                }
                other => {
                    return Err(invalid(
                        value,
                        format!(
                            "monitoring.{other}: unknown setting; monitoring has evaluate_every and webhooks"
                        ),
                    ));
                }
            }
        }
        Ok(settings)
    }
}

fn webhook(item: &Node, i: usize) -> Result<Webhook> {
    let path = format!("monitoring.webhooks[{i}]");
    let Some(entries) = item.as_map() else {
        return Err(invalid(
            item,
            format!("{path}: expected a mapping such as {{url: https://…}}"),
        ));
    };
    let mut url = None;
    let mut hook = Webhook {
        url: url::Url::parse("http://unset.invalid").expect("a valid URL"),
        secret_env: None,
        events: EVENTS.iter().map(|e| e.to_string()).collect(),
        retries: 5,
        backoff: Duration::from_secs(2),
    };
    for (key, value) in entries {
        let field = format!("{path}.{}", key.name);
        match key.name.as_str() {
            "url" => {
                let text = value.as_str().unwrap_or_default();
                let parsed = url::Url::parse(text)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"));
                url = Some(parsed.ok_or_else(|| {
                    invalid(
                        value,
                        format!("{field}: expected an http or https URL, got `{text}`"),
                    )
                })?);
            }
            "secret_env" => {
                let text = value.as_str().unwrap_or_default();
                if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(invalid(
                        value,
                        format!(
                            "{field}: expected the name of an environment variable, such as TESSERA_WEBHOOK_SECRET (the key itself never goes in mesh.yaml)"
                        ),
                    ));
                }
                hook.secret_env = Some(text.to_string());
            }
            "events" => {
                let events: Option<Vec<String>> = value.as_seq().map(|items| {
                    items
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                });
                match events {
                    Some(events)
                        if !events.is_empty()
                            && events.iter().all(|e| EVENTS.contains(&e.as_str())) =>
                    {
                        hook.events = events;
                    }
                    _ => {
                        return Err(invalid(
                            value,
                            format!("{field}: expected a list of {}", EVENTS.join(" and ")),
                        ));
                    }
                }
            }
            "retries" => {
                hook.retries = value
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .or_else(|| value.to_json().as_u64().and_then(|n| u32::try_from(n).ok()))
                    .filter(|n| *n <= 20)
                    .ok_or_else(|| {
                        invalid(
                            value,
                            format!("{field}: expected a whole number from 0 to 20"),
                        )
                    })?;
            }
            "backoff" => {
                hook.backoff = value.as_str().and_then(parse_window).ok_or_else(|| {
                    invalid(
                        value,
                        format!("{field}: expected a duration such as 1s or 30s"),
                    )
                })?;
            }
            other => {
                return Err(invalid(
                    value,
                    format!(
                        "{path}.{other}: unknown setting; a webhook has url, secret_env, events, retries and backoff"
                    ),
                ));
            }
        }
    }
    hook.url = url.ok_or_else(|| invalid(item, format!("{path}: `url` is required")))?;
    Ok(hook)
}
