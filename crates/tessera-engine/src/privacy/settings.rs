//! `privacy:` in mesh.yaml.
//!
//! ```yaml
//! privacy:
//!   vacuum_retention: 7d   # files of versions older than this are removed by `tessera vacuum`
//!   retention_schedule: 1d # `tessera serve` applies the contracts' retention this often (default: never)
//! ```
//!
//! The window is how long time travel to an older version keeps working, and how long an
//! erased subject's rows stay in old files. Delta's own default is 7 days; the demo mesh
//! uses a short one so its erasures are physically complete within minutes.

use std::time::Duration;

use tessera_model::Mesh;

use crate::{EngineError, Result};

pub const DEFAULT_VACUUM_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacySettings {
    pub vacuum_retention: Duration,
    /// How often `tessera serve` runs `retention apply`; `None`: only by hand. Off by
    /// default: a server should not start deleting rows because it was started.
    pub retention_schedule: Option<Duration>,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            vacuum_retention: DEFAULT_VACUUM_RETENTION,
            retention_schedule: None,
        }
    }
}

impl PrivacySettings {
    /// Reads `privacy:` from the mesh's mesh.yaml; an error names the line and column.
    pub fn read(mesh: &Mesh) -> Result<PrivacySettings> {
        let mut settings = PrivacySettings::default();
        let Some(file) = mesh.governance_files.iter().find(|f| f.path == "mesh.yaml") else {
            return Ok(settings);
        };
        let text = String::from_utf8_lossy(&file.bytes);
        let Ok(root) = tessera_model::yaml::parse("mesh.yaml", &text) else {
            return Ok(settings); // validation reports a broken mesh.yaml
        };
        let Some(privacy) = root.get("privacy") else {
            return Ok(settings);
        };
        let at =
            |n: &tessera_model::yaml::Node| format!("mesh.yaml:{}:{}", n.loc.line, n.loc.column);
        let Some(entries) = privacy.as_map() else {
            return Err(EngineError::Invalid(format!(
                "{}: privacy: expected a mapping such as {{vacuum_retention: 7d}}",
                at(privacy)
            )));
        };
        for (key, value) in entries {
            match key.name.as_str() {
                "vacuum_retention" => {
                    let parsed = value.as_str().and_then(parse_window);
                    settings.vacuum_retention = parsed.ok_or_else(|| {
                        EngineError::Invalid(format!(
                            "{}: privacy.vacuum_retention: expected a duration such as 0s, 10m, 1h or 7d",
                            at(value)
                        ))
                    })?;
                }
                "retention_schedule" => {
                    let parsed = value
                        .as_str()
                        .and_then(parse_window)
                        .filter(|d| !d.is_zero());
                    settings.retention_schedule = Some(parsed.ok_or_else(|| {
                        EngineError::Invalid(format!(
                            "{}: privacy.retention_schedule: expected how often, such as 30m, 6h or 1d",
                            at(value)
                        ))
                    })?);
                }
                other => {
                    return Err(EngineError::Invalid(format!(
                        "{}: privacy.{other}: unknown setting; privacy has vacuum_retention and retention_schedule",
                        at(value)
                    )));
                }
            }
        }
        Ok(settings)
    }
}

/// A window such as `0s`, `90s`, `10m`, `12h`, `7d` or `1d12h` (zero allowed).
pub fn parse_window(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs(n.checked_mul(secs)?);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_units_and_may_be_zero() {
        assert_eq!(parse_window("0s"), Some(Duration::ZERO));
        assert_eq!(parse_window("7d"), Some(DEFAULT_VACUUM_RETENTION));
        assert_eq!(parse_window("1d12h"), Some(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_window("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_window("10"), None);
        assert_eq!(parse_window("d"), None);
        assert_eq!(parse_window("3w"), None);
    }
}
