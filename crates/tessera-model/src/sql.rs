//! The SQL of an output port (`<port>.sql`) and of global rules: parsed with `sqlparser`
//! 0.64 (generic dialect), which, unlike DataFusion 55's 0.62, does not backtrack
//! exponentially on crafted invalid input (ARCHITECTURE.md). Errors point into the `.sql`
//! file.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{ObjectName, ObjectNamePart, Query, Spanned, Statement, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};

use crate::diagnostic::{Diagnostic, Location};

/// A table a query reads, as written (`crm.customers`), and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The name's parts, lower-cased unless quoted.
    pub parts: Vec<String>,
    pub loc: Location,
}

impl TableRef {
    pub fn name(&self) -> String {
        self.parts.join(".")
    }
}

/// A parsed single-`SELECT` SQL file.
#[derive(Debug, Clone)]
pub struct SqlQuery {
    pub file: String,
    pub text: String,
    pub statement: Statement,
    /// Tables read, without CTE names, in order of appearance.
    pub tables: Vec<TableRef>,
}

/// Parses `text` as exactly one query (`SELECT`, `WITH … SELECT`, `VALUES`).
pub fn parse_query(file: &str, text: &str) -> Result<SqlQuery, Diagnostic> {
    let statements =
        Parser::parse_sql(&GenericDialect {}, text).map_err(|e| parse_error(file, text, e))?;
    let mut statements = statements.into_iter();
    let Some(statement) = statements.next() else {
        return Err(
            Diagnostic::error("sql-empty", file, "the SQL file has no statement")
                .at(Location::new(1, 1))
                .with_help("write one SELECT that builds the port from its inputs"),
        );
    };
    if let Some(extra) = statements.next() {
        return Err(Diagnostic::error(
            "sql-multiple-statements",
            file,
            "the SQL file has more than one statement; a port is built by exactly one query",
        )
        .at_opt(span_loc(&extra)));
    }
    if !matches!(statement, Statement::Query(_)) {
        let kind = statement.to_string();
        let first_word = kind
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        return Err(Diagnostic::error(
            "sql-not-a-query",
            file,
            format!("expected a query (SELECT, WITH … SELECT or VALUES), not {first_word}"),
        )
        .at_opt(span_loc(&statement))
        .with_help("ports and rules are read-only queries; Tessera writes the result itself"));
    }
    let mut collector = Relations::default();
    let _ = statement.visit(&mut collector);
    let tables = collector
        .relations
        .into_iter()
        .filter(|t| !(t.parts.len() == 1 && collector.ctes.contains(&t.parts[0])))
        .collect();
    Ok(SqlQuery {
        file: file.to_string(),
        text: text.to_string(),
        statement,
        tables,
    })
}

/// Checks that `text` is well-formed SQL (any statements) with sqlparser 0.64, before
/// DataFusion's 0.62 parser sees it (ARCHITECTURE.md). Returns the number of statements,
/// or the error message and where it is.
pub fn check_syntax(text: &str) -> Result<usize, (String, Option<Location>)> {
    match Parser::parse_sql(&GenericDialect {}, text) {
        Ok(statements) => Ok(statements.len()),
        Err(ParserError::RecursionLimitExceeded) => {
            Err(("the query nests too deeply".into(), None))
        }
        Err(ParserError::ParserError(m) | ParserError::TokenizerError(m)) => {
            Err(split_position(&m))
        }
    }
}

fn span_loc(node: &impl Spanned) -> Option<Location> {
    let span = node.span();
    (span.start.line > 0)
        .then(|| Location::new(span.start.line as usize, span.start.column as usize))
}

/// sqlparser puts the position in the message text ("… at Line: 3, Column: 7").
fn parse_error(file: &str, text: &str, e: ParserError) -> Diagnostic {
    let (message, loc) = match &e {
        ParserError::RecursionLimitExceeded => ("the query nests too deeply".to_string(), None),
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => split_position(m),
    };
    let loc = loc.or_else(|| Some(Location::of_offset(text, text.len())));
    Diagnostic::error("sql-syntax", file, format!("SQL syntax error: {message}")).at_opt(loc)
}

/// Splits sqlparser's trailing "… at Line: l, Column: c" off a message.
pub fn split_position(message: &str) -> (String, Option<Location>) {
    let Some(at) = message.rfind(" at Line: ") else {
        return (message.to_string(), None);
    };
    let rest = &message[at + " at Line: ".len()..];
    let mut parts = rest.split(", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let column = parts.next().and_then(|c| {
        c.trim()
            .trim_end_matches(|ch: char| !ch.is_ascii_digit())
            .parse()
            .ok()
    });
    match (line, column) {
        (Some(line), Some(column)) => {
            (message[..at].to_string(), Some(Location::new(line, column)))
        }
        _ => (message.to_string(), None),
    }
}

#[derive(Default)]
struct Relations {
    relations: Vec<TableRef>,
    ctes: BTreeSet<String>,
}

fn ident_text(part: &ObjectNamePart) -> String {
    match part {
        ObjectNamePart::Identifier(ident) if ident.quote_style.is_some() => ident.value.clone(),
        ObjectNamePart::Identifier(ident) => ident.value.to_ascii_lowercase(),
        other => other.to_string(),
    }
}

impl Visitor for Relations {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = &cte.alias.name;
                self.ctes.insert(if name.quote_style.is_some() {
                    name.value.clone()
                } else {
                    name.value.to_ascii_lowercase()
                });
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let loc = span_loc(relation).unwrap_or_default();
        self.relations.push(TableRef {
            parts: relation.0.iter().map(ident_text).collect(),
            loc,
        });
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_tables_but_not_ctes() {
        let q = parse_query(
            "p.sql",
            "WITH recent AS (SELECT * FROM web.events)\nSELECT c.id FROM crm.Customers c\n  JOIN recent r ON r.id = c.id",
        )
        .unwrap();
        let names: Vec<_> = q.tables.iter().map(TableRef::name).collect();
        assert_eq!(names, ["web.events", "crm.customers"]);
        assert_eq!(q.tables[1].loc, Location::new(2, 18));
    }

    #[test]
    fn syntax_errors_point_into_the_file() {
        let e = parse_query("p.sql", "SELECT a,\nFROM t WHERE").unwrap_err();
        assert_eq!(e.code, "sql-syntax");
        assert_eq!(e.location.map(|l| l.line), Some(2));
    }

    /// Shapes on which sqlparser 0.62 (DataFusion 55's) backtracks exponentially: with 40
    /// segments each would run for days there. Here each is a prompt syntax error.
    #[test]
    fn pathological_sql_is_a_prompt_syntax_error() {
        let n = 40;
        let shapes = [
            format!("SELECT {}[b", vec!["a"; n].join(".")),
            format!("SELECT {}", "x-not-b.".repeat(n)),
            format!("SELECT {}x", "if(current_time(".repeat(n)),
            format!("SELECT {}", "case\t-".repeat(n)),
            format!("SELECT {}x", "CAST(".repeat(n)),
            format!("SELECT 1 FROM {}", "(".repeat(n)),
        ];
        for sql in shapes {
            let e = parse_query("p.sql", &sql).unwrap_err();
            assert_eq!(e.code, "sql-syntax", "{sql}: {e}");
        }
    }

    #[test]
    fn only_one_query_is_accepted() {
        assert_eq!(
            parse_query("p.sql", "SELECT 1; SELECT 2").unwrap_err().code,
            "sql-multiple-statements"
        );
        assert_eq!(
            parse_query("p.sql", "DROP TABLE crm.customers")
                .unwrap_err()
                .code,
            "sql-not-a-query"
        );
        assert_eq!(
            parse_query("p.sql", "-- nothing\n").unwrap_err().code,
            "sql-empty"
        );
    }
}
