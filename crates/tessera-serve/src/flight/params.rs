//! Parameters of prepared statements. A statement is planned only as SQL text (the
//! governed session takes nothing else), so bound values are written into the text as
//! literals at the placeholders' places, found by SQL's tokenizer (never inside a string,
//! a quoted name or a comment):
//!
//! ```text
//!  prepare:  SELECT … WHERE id = ? AND c = ?   ─▶  SELECT … WHERE id = $1 AND c = $2
//!  bind:     one row (7, 'GB')                 ─▶  SELECT … WHERE id = 7 AND c = 'GB'
//! ```
//!
//! Only simple values bind: booleans, integers, finite floats, decimals, text, binary,
//! dates and timestamps. The caller can only ever run what their governed session allows,
//! so a literal cannot widen access; quoting still keeps a value one value.

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::error::ServeError;

/// A placeholder in the text: its byte range and what it is (`?` or `$n`).
struct Placeholder {
    start: usize,
    end: usize,
    text: String,
}

fn placeholders(sql: &str) -> Result<Vec<Placeholder>, ServeError> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| ServeError::bad_request(format!("the statement cannot be read: {e}")))?;
    let lines = line_starts(sql);
    let mut out = Vec::new();
    for t in tokens {
        if let Token::Placeholder(text) = t.token {
            out.push(Placeholder {
                start: offset(sql, &lines, t.span.start),
                end: offset(sql, &lines, t.span.end),
                text,
            });
        }
    }
    Ok(out)
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of a tokenizer location (1-based line, 1-based column in characters).
fn offset(sql: &str, lines: &[usize], at: Location) -> usize {
    let line = (at.line.max(1) - 1) as usize;
    let Some(&start) = lines.get(line) else {
        return sql.len();
    };
    let column = (at.column.max(1) - 1) as usize;
    sql[start..]
        .char_indices()
        .nth(column)
        .map_or(sql.len(), |(i, _)| start + i)
}

/// The statement with `?` placeholders numbered `$1`, `$2`, … in order (the form the
/// planner knows), and how many parameters it takes. A statement mixing `?` and `$n` is
/// refused.
pub(super) fn number(sql: &str) -> Result<(String, usize), ServeError> {
    let found = placeholders(sql)?;
    let questions = found.iter().filter(|p| p.text == "?").count();
    if questions == 0 {
        let mut count = 0;
        for p in &found {
            count = count.max(index(p)?);
        }
        return Ok((sql.to_string(), count));
    }
    if questions != found.len() {
        return Err(ServeError::bad_request(
            "the statement mixes `?` and `$n` placeholders; use one style",
        ));
    }
    let mut out = String::with_capacity(sql.len() + found.len());
    let mut at = 0;
    for (i, p) in found.iter().enumerate() {
        out.push_str(&sql[at..p.start]);
        out.push_str(&format!("${}", i + 1));
        at = p.end;
    }
    out.push_str(&sql[at..]);
    Ok((out, found.len()))
}

fn index(p: &Placeholder) -> Result<usize, ServeError> {
    p.text
        .strip_prefix('$')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            ServeError::bad_request(format!(
                "`{}` is not a placeholder Tessera binds; use `?` or `$1`, `$2`, …",
                p.text
            ))
        })
}

/// The statement (numbered by [`number`]) with the one row of `values` written in: `$n`
/// becomes column n-1's value.
pub(super) fn bind(sql: &str, values: &RecordBatch) -> Result<String, ServeError> {
    if values.num_rows() != 1 {
        return Err(ServeError::bad_request(format!(
            "bind exactly one row of parameters to run a query (got {} rows)",
            values.num_rows()
        )));
    }
    let found = placeholders(sql)?;
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for p in &found {
        let n = index(p)?;
        let column = values.columns().get(n - 1).ok_or_else(|| {
            ServeError::bad_request(format!(
                "the statement uses parameter {} but {} values were bound",
                p.text,
                values.num_columns()
            ))
        })?;
        out.push_str(&sql[at..p.start]);
        out.push_str(&literal(
            column,
            &values.schema().fields()[n - 1].name().clone(),
        )?);
        at = p.end;
    }
    out.push_str(&sql[at..]);
    Ok(out)
}

/// Row 0 of `column` as an SQL literal of the same type.
fn literal(column: &ArrayRef, name: &str) -> Result<String, ServeError> {
    // A Null-typed column has no validity buffer: its nulls are logical.
    if column.logical_nulls().is_some_and(|n| n.is_null(0)) {
        return Ok("NULL".into());
    }
    let text = || {
        array_value_to_string(column, 0)
            .map_err(|e| ServeError::bad_request(format!("parameter `{name}` cannot be read: {e}")))
    };
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
    Ok(match column.data_type() {
        DataType::Boolean => text()?.to_uppercase(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let t = text()?;
            // `a-$1` must not become the comment `a--1`
            if t.starts_with('-') {
                format!("({t})")
            } else {
                t
            }
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let t = text()?;
            match t.parse::<f64>() {
                Ok(v) if v.is_finite() => format!("CAST({} AS DOUBLE)", quoted(&t)),
                _ => {
                    return Err(ServeError::bad_request(format!(
                        "parameter `{name}` is {t}; only finite numbers bind"
                    )));
                }
            }
        }
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            format!("CAST({} AS DECIMAL({p},{s}))", quoted(&text()?))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => quoted(&text()?),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            // shown as hex digits
            format!("X'{}'", text()?)
        }
        DataType::Date32 | DataType::Date64 => format!("CAST({} AS DATE)", quoted(&text()?)),
        DataType::Timestamp(_, None) => format!("CAST({} AS TIMESTAMP)", quoted(&text()?)),
        DataType::Timestamp(_, Some(_)) => {
            format!("CAST({} AS TIMESTAMP WITH TIME ZONE)", quoted(&text()?))
        }
        other => {
            return Err(ServeError::bad_request(format!(
                "parameter `{name}` is of type {other}, which Tessera does not bind; bind a \
                 boolean, number, decimal, text, binary, date or timestamp, or write the value \
                 into the statement"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Float64Array, Int64Array, NullArray, StringArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn row(columns: Vec<ArrayRef>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("p{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn question_marks_are_numbered_and_quoted_ones_are_left_alone() {
        let (sql, n) =
            number("SELECT '?' AS q, \"a?\" FROM t -- ?\nWHERE x = ? AND y = ?").unwrap();
        assert_eq!(
            sql,
            "SELECT '?' AS q, \"a?\" FROM t -- ?\nWHERE x = $1 AND y = $2"
        );
        assert_eq!(n, 2);
        assert_eq!(number("SELECT $2, $1").unwrap().1, 2);
        assert_eq!(number("SELECT 1").unwrap(), ("SELECT 1".into(), 0));
        assert!(number("SELECT ?, $1").is_err());
    }

    #[test]
    fn values_are_written_as_literals_of_their_type() {
        let values = row(vec![
            Arc::new(Int64Array::from(vec![-7])),
            Arc::new(StringArray::from(vec!["it's"])),
            Arc::new(BooleanArray::from(vec![true])),
            Arc::new(Float64Array::from(vec![2.5])),
            Arc::new(Date32Array::from(vec![20454])),
            Arc::new(StringArray::from(vec![None::<&str>])),
        ]);
        let untyped = row(vec![Arc::new(NullArray::new(1))]);
        assert_eq!(bind("SELECT $1", &untyped).unwrap(), "SELECT NULL");
        let sql = bind(
            "SELECT a-$1, $2, $3, $4, $5, $6 FROM t WHERE s = 'é' AND n = $1",
            &values,
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT a-(-7), 'it''s', TRUE, CAST('2.5' AS DOUBLE), CAST('2026-01-01' AS DATE), \
             NULL FROM t WHERE s = 'é' AND n = (-7)"
        );
    }

    #[test]
    fn binding_needs_one_row_and_every_parameter() {
        let two = row(vec![Arc::new(Int64Array::from(vec![1, 2]))]);
        assert!(
            bind("SELECT $1", &two)
                .unwrap_err()
                .message
                .contains("2 rows")
        );
        let one = row(vec![Arc::new(Int64Array::from(vec![1]))]);
        let e = bind("SELECT $1, $2", &one).unwrap_err();
        assert!(e.message.contains("$2"), "{}", e.message);
        let nan = row(vec![Arc::new(Float64Array::from(vec![f64::NAN]))]);
        assert!(bind("SELECT $1", &nan).is_err());
    }
}
