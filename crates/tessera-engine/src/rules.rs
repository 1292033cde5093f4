//! Global rules (computational governance): `policies/rules/*.sql`, each a query over
//! `mesh_meta` whose every row is a violation. `tessera validate` lists them; `tessera
//! publish` refuses a product that violates an error-level rule.
//!
//! A rule file starts with comment lines that say what it is:
//!
//! ```sql
//! -- A column classified pii must have a masking method in mesh.yaml.
//! -- severity: error
//! SELECT domain, product, port, column_name FROM mesh_meta.columns
//! WHERE classification = 'pii' AND masking IS NULL
//! ```
//!
//! The first comment line is the rule's description; `severity:` is `error` (the default)
//! or `warning`. Columns named `domain` and `product` tie a violation to a product (so
//! publish can refuse it); a `message` column is shown as is; other columns are shown as
//! `name=value`.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::Engine;
use crate::query::{QueryError, QuerySession};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSeverity {
    Error,
    Warning,
}

/// One row of a rule's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule's file, relative to the mesh root.
    pub rule: String,
    pub description: String,
    pub severity: RuleSeverity,
    pub domain: Option<String>,
    pub product: Option<String>,
    /// What is wrong, from the row.
    pub message: String,
}

/// A rule that could not run.
#[derive(Debug)]
pub struct RuleFailure {
    pub rule: String,
    pub error: QueryError,
}

/// The description and severity from a rule's leading comments.
pub fn header(text: &str) -> (String, RuleSeverity) {
    let mut description = None;
    let mut severity = RuleSeverity::Error;
    for line in text.lines().map(str::trim) {
        let Some(comment) = line.strip_prefix("--") else {
            if line.is_empty() {
                continue;
            }
            break;
        };
        let comment = comment.trim();
        if let Some(s) = comment.strip_prefix("severity:") {
            if s.trim().eq_ignore_ascii_case("warning") {
                severity = RuleSeverity::Warning;
            }
        } else if description.is_none() && !comment.is_empty() {
            description = Some(comment.to_string());
        }
    }
    (
        description.unwrap_or_else(|| "a global rule".into()),
        severity,
    )
}

impl Engine {
    /// An engine for checking rules without touching the mesh's state: its metadata store
    /// is an empty one in memory, so `mesh_meta` shows what the files say (products,
    /// ports, columns, lineage) and no history.
    pub async fn for_rules(
        mesh: tessera_model::Mesh,
        mesh_dir: &std::path::Path,
        governance: Option<std::sync::Arc<tessera_governance::Governance>>,
    ) -> crate::Result<Engine> {
        let storage = tessera_storage::Storage::open(&mesh.config.storage_root, mesh_dir)?;
        let catalog = tessera_catalog::open("sqlite::memory:", mesh_dir).await?;
        Ok(Engine {
            mesh: std::sync::Arc::new(mesh),
            mesh_dir: mesh_dir.to_path_buf(),
            storage,
            catalog,
            governor: governance.map(|g| crate::query::Governor::new(g, b"rules: no data is read")),
        })
    }

    /// Runs every global rule over the mesh's metadata (ungoverned: rules see all of it).
    pub async fn check_rules(&self) -> (Vec<Violation>, Vec<RuleFailure>) {
        let session = QuerySession::new(self.table_set(), self.mesh.config.query);
        let mut violations = Vec::new();
        let mut failures = Vec::new();
        for rule in &self.mesh.rules {
            let (description, severity) = header(&rule.text);
            let result = match session.collect(&rule.text).await {
                Ok(r) => r,
                Err(error) => {
                    failures.push(RuleFailure {
                        rule: rule.file.clone(),
                        error,
                    });
                    continue;
                }
            };
            let options = FormatOptions::default().with_null("NULL");
            for batch in &result.batches {
                let names: Vec<String> = batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().to_ascii_lowercase())
                    .collect();
                let formatters: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<_, _>>()
                    .unwrap_or_default();
                for row in 0..batch.num_rows() {
                    let value = |name: &str| {
                        names
                            .iter()
                            .position(|n| n == name)
                            .and_then(|i| formatters.get(i))
                            .map(|f| f.value(row).to_string())
                    };
                    let details: Vec<String> = names
                        .iter()
                        .zip(&formatters)
                        .filter(|(n, _)| !matches!(n.as_str(), "domain" | "product" | "message"))
                        .map(|(n, f)| format!("{n}={}", f.value(row)))
                        .collect();
                    let domain = value("domain");
                    let product = value("product");
                    let subject = match (&domain, &product) {
                        (Some(d), Some(p)) => format!("{d}/{p}: "),
                        (Some(d), None) => format!("domain {d}: "),
                        _ => String::new(),
                    };
                    let message = match value("message") {
                        Some(m) => format!("{subject}{m}"),
                        None if details.is_empty() => format!("{subject}{description}"),
                        None => format!("{subject}{description} ({})", details.join(", ")),
                    };
                    violations.push(Violation {
                        rule: rule.file.clone(),
                        description: description.clone(),
                        severity,
                        domain,
                        product,
                        message,
                    });
                }
            }
        }
        (violations, failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_rule_and_its_severity() {
        let (d, s) = header("-- Every product has an owner.\n-- severity: warning\nSELECT 1");
        assert_eq!(
            (d.as_str(), s),
            ("Every product has an owner.", RuleSeverity::Warning)
        );
        let (d, s) = header("SELECT 1 -- severity: warning");
        assert_eq!((d.as_str(), s), ("a global rule", RuleSeverity::Error));
    }
}
