//! Why a query failed, said so that the person who wrote it can fix it: where in the SQL,
//! which names exist instead, which limit was hit and where it is set.

use std::fmt;

use datafusion::error::DataFusionError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("SQL syntax error: {message}{}", Snippet(position, snippet))]
    Syntax {
        message: String,
        /// 1-based line and column.
        position: Option<(usize, usize)>,
        snippet: Option<String>,
    },
    #[error("no SQL statement to run")]
    Empty,
    #[error("expected one SQL statement, found {0}; run them one at a time")]
    Multiple(usize),
    #[error("Tessera's SQL is read-only: {statement} is not allowed\n  help: {help}")]
    ReadOnly { statement: String, help: String },
    #[error("unknown table {name}{}", suggest(suggestions))]
    UnknownTable {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("{name} cannot be queried: {why}")]
    Unavailable { name: String, why: String },
    /// Governance: the session may not query this table.
    #[error("not permitted: {name}: {why}")]
    Denied { name: String, why: String },
    /// Governance: the session may not see this column.
    #[error(
        "not permitted: column {column}{}\n  why: {why}",
        Snippet(position, snippet)
    )]
    NotPermitted {
        column: String,
        table: String,
        why: String,
        position: Option<(usize, usize)>,
        snippet: Option<String>,
    },
    #[error(
        "unknown column {column}{}{}",
        Snippet(position, snippet),
        columns(tables)
    )]
    UnknownColumn {
        column: String,
        /// `web.events has event_id, customer_id, …` for each table in scope.
        tables: Vec<String>,
        position: Option<(usize, usize)>,
        snippet: Option<String>,
    },
    #[error("{table}: {why}")]
    TimeTravel { table: String, why: String },
    #[error(
        "the query exceeded its {what} limit of {value} (`{key}` in mesh.yaml){}",
        detail.as_deref().map(|d| format!("\n  help: {d}")).unwrap_or_default()
    )]
    Limit {
        /// "memory", "time", "result row".
        what: &'static str,
        key: &'static str,
        value: String,
        detail: Option<String>,
    },
    #[error("{message}{}", Snippet(position, snippet))]
    Plan {
        message: String,
        position: Option<(usize, usize)>,
        snippet: Option<String>,
    },
    #[error("query failed: {0}")]
    Execution(String),
    /// The audit log could not be written, so the result is withheld (fail closed).
    #[error("the audit log could not be written, so the result is withheld: {0}")]
    Audit(String),
    /// A table could not be opened (storage or metadata store).
    #[error("{table}: {why}")]
    Open { table: String, why: String },
}

/// A short, stable name for the kind of error (for JSON output and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryErrorKind {
    Syntax,
    ReadOnly,
    UnknownTable,
    Unavailable,
    NotPermitted,
    UnknownColumn,
    TimeTravel,
    Limit,
    Plan,
    Execution,
    Open,
    Audit,
}

impl QueryError {
    pub fn kind(&self) -> QueryErrorKind {
        match self {
            QueryError::Syntax { .. } | QueryError::Empty | QueryError::Multiple(_) => {
                QueryErrorKind::Syntax
            }
            QueryError::ReadOnly { .. } => QueryErrorKind::ReadOnly,
            QueryError::UnknownTable { .. } => QueryErrorKind::UnknownTable,
            QueryError::Unavailable { .. } => QueryErrorKind::Unavailable,
            QueryError::Denied { .. } | QueryError::NotPermitted { .. } => {
                QueryErrorKind::NotPermitted
            }
            QueryError::UnknownColumn { .. } => QueryErrorKind::UnknownColumn,
            QueryError::TimeTravel { .. } => QueryErrorKind::TimeTravel,
            QueryError::Limit { .. } => QueryErrorKind::Limit,
            QueryError::Plan { .. } => QueryErrorKind::Plan,
            QueryError::Execution(_) => QueryErrorKind::Execution,
            QueryError::Open { .. } => QueryErrorKind::Open,
            QueryError::Audit(_) => QueryErrorKind::Audit,
        }
    }

    pub(crate) fn syntax(sql: &str, message: String, position: Option<(usize, usize)>) -> Self {
        QueryError::Syntax {
            message,
            snippet: position.and_then(|p| snippet(sql, p)),
            position,
        }
    }

    /// Turns a DataFusion error into what the user needs: a Tessera error raised inside
    /// DataFusion (by the catalog) comes back as it was; a missing column lists the
    /// columns that exist.
    pub(crate) fn from_datafusion(e: DataFusionError, sql: &str) -> QueryError {
        let position = e
            .diagnostic()
            .and_then(|d| d.span)
            .map(|s| (s.start.line as usize, s.start.column as usize))
            .filter(|(l, _)| *l > 0);
        let root = e.find_root();
        if let DataFusionError::External(inner) = root
            && let Some(q) = inner.downcast_ref::<QueryError>()
        {
            return q.clone_error();
        }
        let text = root.to_string();
        if text.contains("does not support logical expression InSubquery")
            || text.contains("does not support logical expression Exists")
        {
            return QueryError::Plan {
                message: "IN (subquery) and EXISTS are supported in WHERE, HAVING and JOIN \
                          conditions, not in a select list or an aggregate's FILTER\n  help: \
                          rewrite with a JOIN, or move the condition into WHERE"
                    .into(),
                position: None,
                snippet: None,
            };
        }
        match root {
            DataFusionError::SchemaError(schema_error, _) => {
                if let datafusion::common::SchemaError::FieldNotFound {
                    field,
                    valid_fields,
                } = schema_error.as_ref()
                {
                    return QueryError::UnknownColumn {
                        column: field.flat_name(),
                        tables: group_columns(valid_fields),
                        snippet: position.and_then(|p| snippet(sql, p)),
                        position,
                    };
                }
                QueryError::Plan {
                    message: clean(&root.to_string()),
                    snippet: position.and_then(|p| snippet(sql, p)),
                    position,
                }
            }
            DataFusionError::SQL(parser, _) => {
                let (message, at) = split_position(&parser.to_string());
                QueryError::syntax(sql, message, at.or(position))
            }
            DataFusionError::Plan(_) | DataFusionError::NotImplemented(_) => QueryError::Plan {
                message: clean(&root.to_string()),
                snippet: position.and_then(|p| snippet(sql, p)),
                position,
            },
            _ => QueryError::Execution(clean(&root.to_string())),
        }
    }

    /// A copy, for the audit record of a failed stream.
    pub(crate) fn clone_for_audit(&self) -> QueryError {
        self.clone_error()
    }

    /// QueryError holds only strings, so a copy can be taken out of a DataFusion error.
    fn clone_error(&self) -> QueryError {
        match self {
            QueryError::Syntax {
                message,
                position,
                snippet,
            } => QueryError::Syntax {
                message: message.clone(),
                position: *position,
                snippet: snippet.clone(),
            },
            QueryError::Empty => QueryError::Empty,
            QueryError::Multiple(n) => QueryError::Multiple(*n),
            QueryError::ReadOnly { statement, help } => QueryError::ReadOnly {
                statement: statement.clone(),
                help: help.clone(),
            },
            QueryError::UnknownTable { name, suggestions } => QueryError::UnknownTable {
                name: name.clone(),
                suggestions: suggestions.clone(),
            },
            QueryError::Unavailable { name, why } => QueryError::Unavailable {
                name: name.clone(),
                why: why.clone(),
            },
            QueryError::Denied { name, why } => QueryError::Denied {
                name: name.clone(),
                why: why.clone(),
            },
            QueryError::NotPermitted {
                column,
                table,
                why,
                position,
                snippet,
            } => QueryError::NotPermitted {
                column: column.clone(),
                table: table.clone(),
                why: why.clone(),
                position: *position,
                snippet: snippet.clone(),
            },
            QueryError::UnknownColumn {
                column,
                tables,
                position,
                snippet,
            } => QueryError::UnknownColumn {
                column: column.clone(),
                tables: tables.clone(),
                position: *position,
                snippet: snippet.clone(),
            },
            QueryError::TimeTravel { table, why } => QueryError::TimeTravel {
                table: table.clone(),
                why: why.clone(),
            },
            QueryError::Limit {
                what,
                key,
                value,
                detail,
            } => QueryError::Limit {
                what,
                key,
                value: value.clone(),
                detail: detail.clone(),
            },
            QueryError::Plan {
                message,
                position,
                snippet,
            } => QueryError::Plan {
                message: message.clone(),
                position: *position,
                snippet: snippet.clone(),
            },
            QueryError::Execution(m) => QueryError::Execution(m.clone()),
            QueryError::Audit(m) => QueryError::Audit(m.clone()),
            QueryError::Open { table, why } => QueryError::Open {
                table: table.clone(),
                why: why.clone(),
            },
        }
    }
}

/// DataFusion prefixes messages with the error's kind ("Error during planning: …"); the
/// kind is ours to say.
fn clean(message: &str) -> String {
    let mut m = message.trim();
    for prefix in [
        "Error during planning: ",
        "This feature is not implemented: ",
        "Schema error: ",
        "Execution error: ",
        "Arrow error: ",
        "External error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m.to_string()
}

/// `a.b, c.d` grouped as `a: b, …` lines.
fn group_columns(fields: &[datafusion::common::Column]) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for f in fields {
        let table = f
            .relation
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(unnamed)".into());
        match groups.iter_mut().find(|(t, _)| *t == table) {
            Some((_, cols)) => cols.push(f.name.clone()),
            None => groups.push((table, vec![f.name.clone()])),
        }
    }
    groups
        .into_iter()
        .map(|(t, cols)| format!("{t} has {}", cols.join(", ")))
        .collect()
}

/// sqlparser puts the position at the end of its message ("… at Line: 1, Column: 8");
/// DataFusion wraps the message in "SQL error: ParserError(\"…\")".
pub(crate) fn split_position(message: &str) -> (String, Option<(usize, usize)>) {
    let message = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")");
    let (message, at) = tessera_model::sql::split_position(message);
    (message, at.map(|l| (l.line, l.column)))
}

/// The line of `sql` at `(line, column)` with a caret under the column.
pub(crate) fn snippet(sql: &str, (line, column): (usize, usize)) -> Option<String> {
    let text = sql.lines().nth(line.checked_sub(1)?)?;
    let caret: String = text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some(format!("  | {text}\n  | {caret}^"))
}

struct Snippet<'a>(&'a Option<(usize, usize)>, &'a Option<String>);

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.0 {
            write!(f, " (line {line}, column {column})")?;
        }
        if let Some(s) = self.1 {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

fn suggest(names: &[String]) -> String {
    match names {
        [] => "\n  help: `\\d` (or SHOW TABLES) lists the tables you can query".into(),
        [one] => format!("\n  help: did you mean {one}?"),
        many => format!("\n  help: did you mean one of {}?", many.join(", ")),
    }
}

fn columns(tables: &[String]) -> String {
    match tables {
        [] => String::new(),
        [one] => format!("\n  help: {one}"),
        many => format!(
            "\n  help: the tables in scope:\n    {}",
            many.join("\n    ")
        ),
    }
}
