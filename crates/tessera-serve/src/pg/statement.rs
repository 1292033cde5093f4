//! What a client sent, statement by statement: a query for the governed session, or one
//! of the commands PostgreSQL clients send about their connection (`SET`, `SHOW`,
//! `BEGIN`, …), which this adapter answers itself.
//!
//! ```text
//!  text ─▶ sqlparser 0.64 (PostgreSQL dialect): well formed?
//!        │   no ─▶ each statement as written, to the session (its errors say what is wrong)
//!        └ yes ─▶ PostgresCompatibilityParser (psql/BI catalog rewrites)
//!                 ─▶ per statement: a connection command, or a query — as written when
//!                    the rewrite changed nothing, else as rewritten
//! ```
//!
//! The 0.64 check comes first because the compatibility parser runs on DataFusion's
//! sqlparser 0.62, which backtracks exponentially on some invalid SQL (ARCHITECTURE.md).
//! A query keeps its text when the rewrite left it alone, so positions and snippets in
//! the session's errors point into what the user wrote — the same messages the HTTP API
//! and Flight SQL return.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, Reset, ResetStatement, Set, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect as PostgreSqlDialect62;
use datafusion::sql::sqlparser::parser::Parser as Parser62;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The setting that chooses the connection's purpose.
pub(super) const PURPOSE: &str = "tessera.purpose";
/// The connection's principal (read-only: it is the user name the client logged in as).
pub(super) const PRINCIPAL: &str = "tessera.principal";

/// One statement of a client's text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Command {
    /// SQL for the governed session. `catalog`: it names `pg_catalog` or a PostgreSQL
    /// function, so the session needs the catalog extension.
    Query {
        sql: String,
        catalog: bool,
        parameters: usize,
    },
    /// `SET tessera.purpose = 'x'`; `None`: `RESET` (back to the token's default).
    SetPurpose(Option<String>),
    /// `SET name = value` of a client setting: remembered for `SHOW`, otherwise ignored
    /// (dates, numbers and text are always sent the same way). `None`: `RESET name`.
    Setting {
        name: String,
        value: Option<String>,
    },
    /// `RESET ALL`.
    ResetAll,
    /// `SHOW name` (lower case; `all` for `SHOW ALL`).
    Show(String),
    Begin,
    Commit,
    Rollback,
    /// Accepted and answered with this command tag: there is nothing to do (`DISCARD
    /// ALL`, a savepoint in a read-only "transaction").
    Done(&'static str),
    /// Refused with this message (a bad request) when run, so that the statements before
    /// it still run.
    Refuse(String),
}

/// psql's and BI tools' catalog queries rewritten into what DataFusion plans (built once:
/// it tokenizes its table of whole-query replacements).
static COMPATIBILITY: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// The statements of `text`, in order. Never fails: what cannot be read goes to the
/// session as written, whose error says why.
pub(super) fn commands(text: &str) -> Vec<Command> {
    let written = tessera_engine::query::split_statements(text);
    let as_written = || {
        written
            .iter()
            .map(|sql| query(sql.clone(), false))
            .collect::<Vec<_>>()
    };
    if Parser::parse_sql(&PostgreSqlDialect {}, text).is_err() {
        return as_written();
    }
    let Ok(plain) = Parser62::parse_sql(&PostgreSqlDialect62 {}, text) else {
        return as_written();
    };
    let Ok(rewritten) = COMPATIBILITY.parse(text) else {
        return as_written();
    };
    // The texts of the statements line up with the parsed statements, unless the
    // compatibility parser replaced a whole query (it may also join or drop some).
    let aligned = plain.len() == rewritten.len() && written.len() == rewritten.len();
    rewritten
        .into_iter()
        .enumerate()
        .map(|(i, statement)| {
            let sql = match aligned && plain[i] == statement {
                true => written[i].clone(),
                false => statement.to_string(),
            };
            command(&statement, sql)
        })
        .collect()
}

fn query(sql: String, catalog: bool) -> Command {
    let (parameters, names_catalog) = scan(&sql);
    Command::Query {
        sql,
        catalog: catalog || names_catalog,
        parameters,
    }
}

fn command(statement: &Statement, sql: String) -> Command {
    match statement {
        Statement::Set(set) => set_command(set),
        Statement::ShowVariable { variable } => Command::Show(show_name(variable)),
        Statement::Reset(ResetStatement { reset }) => match reset {
            Reset::ALL => Command::ResetAll,
            Reset::ConfigurationParameter(name) => setting(name, None),
        },
        Statement::StartTransaction { .. } => Command::Begin,
        Statement::Commit { .. } => Command::Commit,
        Statement::Rollback {
            savepoint: None, ..
        } => Command::Rollback,
        Statement::Rollback { .. } => Command::Done("ROLLBACK"),
        Statement::Savepoint { .. } => Command::Done("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Command::Done("RELEASE"),
        Statement::Discard { .. } => Command::Done("DISCARD ALL"),
        Statement::Deallocate { .. } => Command::Done("DEALLOCATE"),
        _ => query(sql, false),
    }
}

fn set_command(set: &Set) -> Command {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => setting(variable, values.first().map(value_text)),
        Set::SetTimeZone { value, .. } => Command::Setting {
            name: "timezone".into(),
            value: Some(value_text(value)),
        },
        Set::SetNames { charset_name, .. } => Command::Setting {
            name: "client_encoding".into(),
            value: Some(charset_name.value.clone()),
        },
        Set::SetRole { .. } | Set::SetSessionAuthorization(_) => Command::Refuse(principal_fixed()),
        // SET TRANSACTION … and the other dialects' forms: nothing to change.
        _ => Command::Done("SET"),
    }
}

/// `SET name = value` / `RESET name` (`value: None`).
fn setting(name: &ObjectName, value: Option<String>) -> Command {
    let name = name.to_string().to_ascii_lowercase();
    // `SET x TO DEFAULT` resets.
    let value = value.filter(|v| !v.eq_ignore_ascii_case("default"));
    match name.as_str() {
        PURPOSE => Command::SetPurpose(value.filter(|v| !v.trim().is_empty())),
        PRINCIPAL => Command::Refuse(principal_fixed()),
        other if other.starts_with("tessera.") => Command::Refuse(format!(
            "unknown setting {other}; Tessera has {PURPOSE} (and {PRINCIPAL}, read-only)"
        )),
        _ => Command::Setting { name, value },
    }
}

fn principal_fixed() -> String {
    "the principal of a connection is the user it logged in as, with that principal's token \
     as password; connect again to act as another"
        .into()
}

/// The text of a `SET` value: `'x'`, `x` and `"x"` all mean x; a list keeps its commas.
fn value_text(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(Ident { value, .. }) => value.clone(),
        other => other.to_string(),
    }
}

/// `SHOW tessera.purpose` arrives as the words [tessera, purpose]; `SHOW transaction
/// isolation level` as three words.
fn show_name(words: &[Ident]) -> String {
    let words: Vec<String> = words.iter().map(|w| w.value.to_ascii_lowercase()).collect();
    match words.first().map(String::as_str) {
        Some("tessera") => words.join("."),
        _ => words.join(" "),
    }
}

/// Words that call for the PostgreSQL catalog extension: `pg_*` names (tables of
/// `pg_catalog`, `pg_get_expr`, …), the functions it registers, and the `reg*` types.
const CATALOG_WORDS: &[&str] = &[
    "current_database",
    "current_schema",
    "current_schemas",
    "current_user",
    "session_user",
    "user",
    "version",
    "has_table_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "has_any_column_privilege",
    "format_type",
    "quote_ident",
    "parse_ident",
    "array_upper",
    "array_lower",
    "obj_description",
    "col_description",
    "shobj_description",
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regnamespace",
    "regrole",
    "regoper",
    "regoperator",
];

/// How many parameters (`$n`) `sql` takes, and whether it needs the catalog extension.
/// Text that cannot be tokenized takes none and needs nothing (the session refuses it).
fn scan(sql: &str) -> (usize, bool) {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return (0, false);
    };
    let mut parameters = 0;
    let mut catalog = false;
    for token in tokens {
        match token {
            Token::Placeholder(p) => {
                if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    parameters = parameters.max(n);
                }
            }
            Token::Word(w) => {
                let word = w.value.to_ascii_lowercase();
                if word.starts_with("pg_") || CATALOG_WORDS.contains(&word.as_str()) {
                    catalog = true;
                }
            }
            _ => {}
        }
    }
    (parameters, catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Command {
        let mut c = commands(text);
        assert_eq!(c.len(), 1, "{text}: {c:?}");
        c.remove(0)
    }

    #[test]
    fn purpose_is_set_shown_and_reset_in_every_spelling() {
        for text in [
            "SET tessera.purpose = 'analytics'",
            "set tessera.purpose to analytics",
            "SET SESSION tessera.purpose = \"analytics\"",
        ] {
            assert_eq!(
                one(text),
                Command::SetPurpose(Some("analytics".into())),
                "{text}"
            );
        }
        assert_eq!(one("RESET tessera.purpose"), Command::SetPurpose(None));
        assert_eq!(
            one("SET tessera.purpose TO DEFAULT"),
            Command::SetPurpose(None)
        );
        assert_eq!(one("SHOW tessera.purpose"), Command::Show(PURPOSE.into()));
        assert_eq!(
            one("SHOW TRANSACTION ISOLATION LEVEL"),
            Command::Show("transaction isolation level".into())
        );
        assert_eq!(one("RESET ALL"), Command::ResetAll);
        assert!(matches!(
            one("SET tessera.principal = 'sam'"),
            Command::Refuse(_)
        ));
        assert!(matches!(one("SET ROLE sam"), Command::Refuse(_)));
    }

    #[test]
    fn client_chatter_is_answered_here() {
        assert_eq!(
            one("SET extra_float_digits = 3"),
            Command::Setting {
                name: "extra_float_digits".into(),
                value: Some("3".into())
            }
        );
        assert_eq!(
            one("SET TIME ZONE 'UTC'"),
            Command::Setting {
                name: "timezone".into(),
                value: Some("UTC".into())
            }
        );
        assert_eq!(one("BEGIN"), Command::Begin);
        assert_eq!(one("START TRANSACTION READ ONLY"), Command::Begin);
        assert_eq!(one("COMMIT"), Command::Commit);
        assert_eq!(one("ROLLBACK"), Command::Rollback);
        assert_eq!(one("DISCARD ALL"), Command::Done("DISCARD ALL"));
    }

    #[test]
    fn a_query_keeps_its_text_unless_rewritten() {
        let sql = "SELECT  name\n  FROM shop.customers -- mine\n WHERE id = $2";
        assert_eq!(
            one(sql),
            Command::Query {
                sql: sql.into(),
                catalog: false,
                parameters: 2
            }
        );
        // Unqualified pg_catalog tables are qualified by the compatibility rewrite.
        let Command::Query { sql, catalog, .. } = one("SELECT relname FROM pg_class") else {
            panic!()
        };
        assert!(catalog);
        assert!(sql.contains("pg_catalog.pg_class"), "{sql}");
        // Not PostgreSQL's grammar (DESCRIBE): as written, for the session to judge.
        assert_eq!(
            one("DESCRIBE shop.customers"),
            Command::Query {
                sql: "DESCRIBE shop.customers".into(),
                catalog: false,
                parameters: 0
            }
        );
    }

    #[test]
    fn several_statements_run_in_turn_and_bad_text_goes_through_as_written() {
        let c = commands("SET application_name = 'psql'; SELECT 1; SELECT 'a;b'");
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(matches!(&c[2], Command::Query { sql, .. } if sql == " SELECT 'a;b'"));
        let c = commands("SELECT 1; SELEC 2");
        assert_eq!(
            c,
            [
                query("SELECT 1".into(), false),
                query(" SELEC 2".into(), false)
            ]
        );
        // The inputs that make sqlparser 0.62 backtrack are refused by 0.64 first.
        let nasty = format!("SELECT {}1", "CAST(".repeat(40));
        let started = std::time::Instant::now();
        assert_eq!(commands(&nasty).len(), 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
