//! What happens to a SQL text before DataFusion plans it: time travel clauses become
//! versioned table names, and only read-only statements are let through.
//!
//! Time travel is written as Delta Lake and Databricks write it, after a table name:
//! `crm.customers VERSION AS OF 3` or `crm.customers TIMESTAMP AS OF '2026-11-24 10:00'`.
//! DataFusion's parser does not read that clause, so it is rewritten, in place, into a
//! quoted table name the session's catalog understands: `crm."customers@v3"`. The
//! rewritten text keeps every other character at its line and column, so positions in
//! later errors still point into what the user wrote.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::QueryError;
use super::tables::At;

/// Rewrites `VERSION AS OF n` and `TIMESTAMP AS OF '…'` after table names (see the module
/// docs). Text the tokenizer cannot read is returned unchanged: the syntax check that
/// follows reports it.
pub(crate) fn time_travel(sql: &str) -> Result<String, QueryError> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Ok(sql.to_string());
    };
    let solid: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let offsets = LineOffsets::new(sql);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i + 3 < solid.len() {
        let kind = keyword(solid[i]);
        let clause = matches!(kind, Some(Keyword::VERSION) | Some(Keyword::TIMESTAMP))
            && keyword(solid[i + 1]) == Some(Keyword::AS)
            && keyword(solid[i + 2]) == Some(Keyword::OF)
            && i > 0
            && is_table_name_end(&solid, i - 1);
        if !clause {
            i += 1;
            continue;
        }
        let name = solid[i - 1];
        let Token::Word(word) = &name.token else {
            unreachable!("is_table_name_end checked the token is a word")
        };
        let mut value_at = i + 3;
        // `TIMESTAMP AS OF TIMESTAMP '…'` is accepted too.
        if kind == Some(Keyword::TIMESTAMP)
            && keyword(solid[value_at]) == Some(Keyword::TIMESTAMP)
            && value_at + 1 < solid.len()
        {
            value_at += 1;
        }
        let value = solid[value_at];
        let position = (value.span.start.line, value.span.start.column);
        let at = match (kind, &value.token) {
            (Some(Keyword::VERSION), Token::Number(n, _)) => n
                .parse::<u64>()
                .ok()
                .and_then(|v| i64::try_from(v).ok())
                .map(At::Version)
                .ok_or_else(|| {
                    clause_error(
                        sql,
                        position,
                        format!("`{n}` is not a version number (0, 1, 2, …)"),
                    )
                })?,
            (Some(Keyword::VERSION), _) => {
                return Err(clause_error(
                    sql,
                    position,
                    format!(
                        "VERSION AS OF needs a version number, e.g. `{} VERSION AS OF 3`",
                        word.value
                    ),
                ));
            }
            (_, Token::SingleQuotedString(text)) => {
                At::Time(parse_instant(text).ok_or_else(|| {
                    clause_error(
                        sql,
                        position,
                        format!(
                            "'{text}' is not a timestamp; write e.g. '2026-11-24', '2026-11-24 09:30:00' \
                             (UTC) or '2026-11-24T09:30:00+01:00'"
                        ),
                    )
                })?)
            }
            _ => {
                return Err(clause_error(
                    sql,
                    position,
                    format!(
                        "TIMESTAMP AS OF needs a quoted timestamp, e.g. `{} TIMESTAMP AS OF '2026-11-24 09:30:00'`",
                        word.value
                    ),
                ));
            }
        };
        let start = offsets.byte(sql, name.span.start.line, name.span.start.column);
        let end = offsets.byte(sql, value.span.end.line, value.span.end.column);
        let replacement = quote(&versioned_name(&word.value, &at));
        edits.push((start, end, pad(&sql[start..end], replacement)));
        i = value_at + 1;
    }
    let mut out = sql.to_string();
    for (start, end, text) in edits.into_iter().rev() {
        out.replace_range(start..end, &text);
    }
    Ok(out)
}

/// Splits a script into its statements at top-level semicolons (not those in strings,
/// quoted names or comments). Statements that are only whitespace or comments are dropped.
/// Text the tokenizer cannot read comes back whole, for the syntax check to report.
pub fn split_statements(sql: &str) -> Vec<String> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return vec![sql.to_string()];
    };
    let offsets = LineOffsets::new(sql);
    let mut out = Vec::new();
    let mut start = 0;
    let mut solid = false;
    for t in &tokens {
        match &t.token {
            Token::SemiColon => {
                let end = offsets.byte(sql, t.span.start.line, t.span.start.column);
                if solid {
                    out.push(sql[start..end].to_string());
                }
                start = offsets.byte(sql, t.span.end.line, t.span.end.column);
                solid = false;
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => solid = true,
        }
    }
    if solid {
        out.push(sql[start..].to_string());
    }
    out
}

/// Whether a script ends with a complete statement (a top-level `;` after the last
/// token), for a shell deciding whether to read another line.
pub fn is_complete(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        // An unterminated string or quoted name: keep reading.
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .is_some_and(|t| *t == Token::SemiColon)
}

/// The catalog name of a table read at `at`: `customers@v3`, `customers@2026-11-24T…Z`.
pub(crate) fn versioned_name(name: &str, at: &At) -> String {
    match at {
        At::Latest => name.to_string(),
        At::Version(v) => format!("{name}@v{v}"),
        At::Time(t) => format!(
            "{name}@{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
    }
}

/// Splits a catalog name made by [`versioned_name`] back into the table and the version.
pub(crate) fn split_versioned(name: &str) -> (&str, Option<At>) {
    let Some((base, suffix)) = name.rsplit_once('@') else {
        return (name, Some(At::Latest));
    };
    let at = if let Some(v) = suffix.strip_prefix('v') {
        v.parse::<i64>().ok().filter(|v| *v >= 0).map(At::Version)
    } else {
        DateTime::parse_from_rfc3339(suffix)
            .ok()
            .map(|t| At::Time(t.with_timezone(&Utc)))
    };
    (base, at)
}

/// `2026-11-24`, `2026-11-24 09:30[:00[.123]]` (UTC), or RFC 3339 with an offset.
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

fn keyword(t: &TokenWithSpan) -> Option<Keyword> {
    match &t.token {
        Token::Word(w) if w.quote_style.is_none() && w.keyword != Keyword::NoKeyword => {
            Some(w.keyword)
        }
        _ => None,
    }
}

/// Whether `solid[i]` ends a table name that follows FROM, JOIN or a comma: a word, or a
/// dotted chain of words. This keeps aliases (`FROM t c VERSION …`) and expressions out.
fn is_table_name_end(solid: &[&TokenWithSpan], i: usize) -> bool {
    let is_name = |t: &TokenWithSpan| matches!(&t.token, Token::Word(w) if w.quote_style.is_some() || w.keyword == Keyword::NoKeyword || !is_reserved(w.keyword));
    if !is_name(solid[i]) {
        return false;
    }
    let mut j = i;
    while j >= 2 && solid[j - 1].token == Token::Period && is_name(solid[j - 2]) {
        j -= 2;
    }
    j > 0
        && (matches!(keyword(solid[j - 1]), Some(Keyword::FROM | Keyword::JOIN))
            || solid[j - 1].token == Token::Comma)
}

fn is_reserved(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::SELECT
            | Keyword::FROM
            | Keyword::WHERE
            | Keyword::JOIN
            | Keyword::ON
            | Keyword::AS
            | Keyword::AND
            | Keyword::OR
            | Keyword::NOT
            | Keyword::CAST
    )
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `replacement`, then spaces up to the length of `original`, keeping its line breaks.
fn pad(original: &str, replacement: String) -> String {
    let mut out = replacement;
    let used = out.chars().count();
    for ch in original.chars().skip(used) {
        out.push(if ch == '\n' { '\n' } else { ' ' });
    }
    out
}

fn clause_error(sql: &str, (line, column): (u64, u64), message: String) -> QueryError {
    QueryError::syntax(sql, message, Some((line as usize, column as usize)))
}

/// Byte offsets of each line's start, to turn sqlparser's (line, character column) into
/// byte offsets.
struct LineOffsets(Vec<usize>);

impl LineOffsets {
    fn new(text: &str) -> LineOffsets {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineOffsets(starts)
    }

    fn byte(&self, text: &str, line: u64, column: u64) -> usize {
        let Some(&start) = self.0.get((line as usize).saturating_sub(1)) else {
            return text.len();
        };
        text[start..]
            .char_indices()
            .nth((column as usize).saturating_sub(1))
            .map_or(text.len(), |(i, _)| start + i)
    }
}

/// Lets a read-only statement through; `SHOW TABLES` becomes a query over
/// `information_schema.tables`. Everything that would change data, files or settings is
/// refused with what to do instead.
pub(crate) fn admit(statement: &DfStatement) -> Result<Admitted, QueryError> {
    match statement {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Query(_) | Statement::ExplainTable { .. } => Ok(Admitted::AsIs),
            Statement::ShowTables { .. } => Ok(Admitted::Replace(SHOW_TABLES.to_string())),
            Statement::Explain { statement, .. } => {
                admit(&DfStatement::Statement(statement.clone()))
            }
            Statement::Set(_) => Err(QueryError::ReadOnly {
                statement: "SET".into(),
                help: "query settings are fixed by mesh.yaml (`query:`); the session's \
                       principal and purpose are set when it is opened"
                    .into(),
            }),
            other => Err(QueryError::ReadOnly {
                statement: statement_name(&other.to_string()),
                help: WRITE_HELP.into(),
            }),
        },
        DfStatement::Explain(e) => match admit(&e.statement)? {
            Admitted::AsIs => Ok(Admitted::AsIs),
            Admitted::Replace(_) => Err(QueryError::ReadOnly {
                statement: "EXPLAIN SHOW".into(),
                help: "EXPLAIN a SELECT instead".into(),
            }),
        },
        DfStatement::CreateExternalTable(_) => Err(QueryError::ReadOnly {
            statement: "CREATE EXTERNAL TABLE".into(),
            help: "a table is a data product's output port: declare it in the mesh and \
                   publish it with `tessera publish`"
                .into(),
        }),
        DfStatement::CopyTo(_) => Err(QueryError::ReadOnly {
            statement: "COPY".into(),
            help: "export a query's result with `tessera sql … -o FILE` (csv, json, ndjson, \
                   parquet, arrow)"
                .into(),
        }),
        DfStatement::Reset(_) => Err(QueryError::ReadOnly {
            statement: "RESET".into(),
            help: "query settings are fixed by mesh.yaml (`query:`)".into(),
        }),
    }
}

pub(crate) enum Admitted {
    AsIs,
    /// Run this SQL instead.
    Replace(String),
}

const WRITE_HELP: &str = "Tessera's SQL reads data products; to change one, edit its SQL or \
                          contract and run `tessera publish`";

pub const SHOW_TABLES: &str = "SELECT table_schema, table_name, table_type, description \
     FROM information_schema.tables ORDER BY table_schema, table_name";

/// `INSERT`, `CREATE TABLE`, `DROP VIEW`: the words that name a statement.
fn statement_name(text: &str) -> String {
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("").to_ascii_uppercase();
    let second = words.next().unwrap_or("").to_ascii_uppercase();
    const OBJECTS: &[&str] = &[
        "TABLE", "VIEW", "SCHEMA", "DATABASE", "INDEX", "FUNCTION", "CATALOG", "EXTERNAL",
    ];
    if OBJECTS.contains(&second.as_str()) {
        format!("{first} {second}")
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_timestamp_clauses_become_names_in_place() {
        let sql = "SELECT count(*) FROM crm.customers VERSION AS OF 3 c\n  JOIN web.events TIMESTAMP AS OF '2026-11-24' e ON true";
        let out = time_travel(sql).unwrap();
        assert_eq!(
            out,
            "SELECT count(*) FROM crm.\"customers@v3\"            c\n  JOIN web.\"events@2026-11-24T00:00:00Z\"       e ON true"
        );
        assert_eq!(out.lines().count(), sql.lines().count());
        assert_eq!(
            out.find(" c\n"),
            sql.find(" c\n"),
            "columns after the clause keep their place"
        );
    }

    #[test]
    fn clauses_elsewhere_are_left_alone() {
        for sql in [
            "SELECT CAST(x AS TIMESTAMP) AS of FROM t",
            "SELECT 'VERSION AS OF 3' FROM t",
            "SELECT version FROM t AS version",
        ] {
            assert_eq!(time_travel(sql).unwrap(), sql);
        }
    }

    #[test]
    fn bad_clauses_say_what_to_write_and_where() {
        let e = time_travel("SELECT * FROM t VERSION AS OF 'x'").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("VERSION AS OF needs a version number"),
            "{text}"
        );
        assert!(text.contains("line 1, column 31"), "{text}");
        let e = time_travel("SELECT * FROM t TIMESTAMP AS OF 'soon'").unwrap_err();
        assert!(e.to_string().contains("'soon' is not a timestamp"), "{e}");
    }

    #[test]
    fn versioned_names_round_trip() {
        let t = parse_instant("2026-11-24T09:30:00+01:00").unwrap();
        for at in [At::Latest, At::Version(0), At::Version(42), At::Time(t)] {
            let name = versioned_name("events", &at);
            assert_eq!(split_versioned(&name), ("events", Some(at)));
        }
        assert_eq!(split_versioned("events@soon"), ("events", None));
    }

    #[test]
    fn scripts_split_at_top_level_semicolons_only() {
        let sql = "SELECT ';' AS a; -- one; two\nSELECT \"x;y\" FROM t;\n  ;\n/* c; */";
        assert_eq!(
            split_statements(sql),
            ["SELECT ';' AS a", " -- one; two\nSELECT \"x;y\" FROM t"]
        );
        assert!(is_complete("SELECT 1;  -- done"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1"));
    }

    #[test]
    fn statements_are_named_by_their_leading_words() {
        assert_eq!(statement_name("CREATE TABLE x (a INT)"), "CREATE TABLE");
        assert_eq!(statement_name("insert INTO x VALUES (1)"), "INSERT");
        assert_eq!(statement_name("DROP VIEW v"), "DROP VIEW");
    }
}
