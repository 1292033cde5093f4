//! sqllogictest over query sessions: the engine's own SQL tests and `tessera policy
//! test` (governance as testable code) run `.slt` files through this.
//!
//! Besides SQL, a file may switch who is asking:
//!
//! ```text
//! statement ok
//! SET tessera.principal = 'ana'
//!
//! statement ok
//! SET tessera.purpose = 'analytics'
//! ```
//!
//! Each switch starts a new governed session (audited as interface `test`); queries
//! before both are set fail as they would for anyone who did not say who they are.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::Engine;
use crate::query::{QueryError, QueryResult, QuerySession};

/// A sqllogictest database: a fixed session, or sessions of an engine switched by `SET`.
#[derive(Clone)]
pub struct SessionDb {
    engine: Option<Arc<Engine>>,
    principal: Option<String>,
    purpose: Option<String>,
    session: Option<QuerySession>,
}

impl SessionDb {
    /// Always this session.
    pub fn fixed(session: QuerySession) -> SessionDb {
        SessionDb {
            engine: None,
            principal: None,
            purpose: None,
            session: Some(session),
        }
    }

    /// Sessions of `engine`, as `SET tessera.principal/purpose` say.
    pub fn switching(engine: Arc<Engine>) -> SessionDb {
        SessionDb {
            engine: Some(engine),
            principal: None,
            purpose: None,
            session: None,
        }
    }

    /// `SET tessera.<key> = '<value>'`, if the statement is one.
    fn setting(sql: &str) -> Option<(String, String)> {
        let rest = sql.trim().trim_end_matches(';').trim();
        if !rest.get(..4)?.eq_ignore_ascii_case("set ") {
            return None;
        }
        let rest = rest[4..].trim();
        let (key, value) = rest.split_once('=').or_else(|| {
            let i = rest.to_ascii_lowercase().find(" to ")?;
            Some((&rest[..i], &rest[i + 4..]))
        })?;
        let key = key.trim().to_ascii_lowercase();
        let key = key.strip_prefix("tessera.")?.to_string();
        let value = value.trim().trim_matches('\'').to_string();
        Some((key, value))
    }

    async fn switch(&mut self, key: &str, value: String) -> Result<(), QueryError> {
        let Some(engine) = &self.engine else {
            return Err(QueryError::Plan {
                message: "this test runs one fixed session; SET tessera.* is not available".into(),
                position: None,
                snippet: None,
            });
        };
        match key {
            "principal" => self.principal = Some(value),
            "purpose" => self.purpose = Some(value),
            other => {
                return Err(QueryError::Plan {
                    message: format!(
                        "unknown setting tessera.{other}; use tessera.principal or tessera.purpose"
                    ),
                    position: None,
                    snippet: None,
                });
            }
        }
        self.session = None;
        if self.principal.is_some() && self.purpose.is_some() {
            self.session =
                Some(engine.session(self.principal.as_deref(), self.purpose.as_deref(), "test")?);
        }
        Ok(())
    }
}

/// A result as sqllogictest compares it: NULL as `NULL`, an empty string as `(empty)`.
pub fn output(result: &QueryResult) -> DBOutput<DefaultColumnType> {
    let types = result
        .schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            t if t.is_integer() => DefaultColumnType::Integer,
            DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                DefaultColumnType::FloatingPoint
            }
            _ => DefaultColumnType::Text,
        })
        .collect();
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in &result.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("every type formats"))
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| match f.value(row).to_string() {
                        s if s.is_empty() => "(empty)".to_string(),
                        s => s,
                    })
                    .collect(),
            );
        }
    }
    DBOutput::Rows { types, rows }
}

#[async_trait]
impl sqllogictest::AsyncDB for SessionDb {
    type Error = QueryError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, QueryError> {
        if let Some((key, value)) = Self::setting(sql)
            && self.engine.is_some()
        {
            self.switch(&key, value).await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let Some(session) = &self.session else {
            return Err(QueryError::Denied {
                name: "this session".into(),
                why: "say who is asking first: SET tessera.principal = '…' and SET tessera.purpose = '…'".into(),
            });
        };
        Ok(output(&session.collect(sql).await?))
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tessera"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }
}

/// Runs one `.slt` file; with `rewrite`, writes the actual results into it instead of
/// comparing. The error is the first mismatch, rendered for a terminal.
pub async fn run_file(
    db: SessionDb,
    file: &Path,
    vars: &[(&str, String)],
    rewrite: bool,
) -> Result<(), String> {
    let make = move || {
        let db = db.clone();
        async move { Ok::<_, QueryError>(db) }
    };
    let mut runner = sqllogictest::Runner::new(make);
    for (k, v) in vars {
        runner.set_var(k.to_string(), v.clone());
    }
    if rewrite {
        return runner
            .update_test_file(
                file,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| format!("{}: {e}", file.display()));
    }
    runner.run_file_async(file).await.map_err(|e| {
        let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
        format!("{}: {}", file.display(), e.display(colour))
    })
}

#[cfg(test)]
mod tests {
    use super::SessionDb;

    #[test]
    fn settings_are_recognised() {
        assert_eq!(
            SessionDb::setting("SET tessera.principal = 'ana';"),
            Some(("principal".into(), "ana".into()))
        );
        assert_eq!(
            SessionDb::setting("set TESSERA.PURPOSE to 'analytics'"),
            Some(("purpose".into(), "analytics".into()))
        );
        assert_eq!(SessionDb::setting("SET datafusion.x = 1"), None);
        assert_eq!(SessionDb::setting("SELECT 1"), None);
    }
}
