//! Parameters of the extended protocol (`$1`, `$2`, … bound by Bind). The governed
//! session takes SQL text only, so each value is written into the text as a literal at
//! its placeholder's place — found by the tokenizer the session's parser uses, so never
//! inside a string, a quoted name or a comment:
//!
//! ```text
//!  Parse:   SELECT … WHERE id = $1 AND country = $2   (types: int8, unknown)
//!  Bind:    [b"4" (text) | 8 bytes (binary), b"GB"]
//!  ─▶       SELECT … WHERE id = 4 AND country = 'GB'
//! ```
//!
//! A value is decoded by its type — the one the client declared at Parse, else the one the
//! planner inferred, else text — in the text or binary format the client chose. Quoting
//! keeps a value one value (`'` doubled; the session's SQL dialect has no backslash
//! escapes); a negative number is parenthesised (`a-$1` must not become the comment
//! `a--1`). The audit log records the statement with its values, as run.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::Portal;

use crate::error::ServeError;

/// One decoded parameter value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A decimal number as text (`-12.50`), checked.
    Numeric(String),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
}

/// `sql` with the portal's parameters written in. `types[i]` is parameter i+1's type
/// (`Type::UNKNOWN` when neither the client nor the planner said).
pub(super) fn bind<S: Clone>(
    sql: &str,
    portal: &Portal<S>,
    types: &[Type],
) -> Result<String, ServeError> {
    let values = (0..portal.parameter_len())
        .map(|i| decode(portal, i, types.get(i).unwrap_or(&Type::UNKNOWN)))
        .collect::<Result<Vec<_>, _>>()?;
    substitute(sql, &values)
}

/// The SQL literal of each value at its placeholder.
fn substitute(sql: &str, values: &[Value]) -> Result<String, ServeError> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| ServeError::bad_request(format!("the statement cannot be read: {e}")))?;
    let lines: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for t in tokens {
        let Token::Placeholder(name) = &t.token else {
            continue;
        };
        let n = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                ServeError::bad_request(format!(
                    "`{name}` is not a parameter; PostgreSQL parameters are $1, $2, …"
                ))
            })?;
        let value = values.get(n - 1).ok_or_else(|| {
            ServeError::bad_request(format!(
                "the statement uses {name} but {} parameters were bound",
                values.len()
            ))
        })?;
        let (start, end) = (
            offset(sql, &lines, t.span.start),
            offset(sql, &lines, t.span.end),
        );
        out.push_str(&sql[at..start]);
        out.push_str(&literal(value)?);
        at = end;
    }
    out.push_str(&sql[at..]);
    Ok(out)
}

/// The byte offset of a tokenizer location (1-based line, 1-based column in characters).
fn offset(sql: &str, lines: &[usize], at: Location) -> usize {
    let Some(&start) = lines.get((at.line.max(1) - 1) as usize) else {
        return sql.len();
    };
    sql[start..]
        .char_indices()
        .nth((at.column.max(1) - 1) as usize)
        .map_or(sql.len(), |(i, _)| start + i)
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(value: &Value) -> Result<String, ServeError> {
    Ok(match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Int(i) if *i < 0 => format!("({i})"),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            let text = match f {
                f if f.is_nan() => "NaN".to_string(),
                f if f.is_infinite() && *f > 0.0 => "inf".to_string(),
                f if f.is_infinite() => "-inf".to_string(),
                f => format!("{f:?}"),
            };
            format!("CAST({} AS DOUBLE)", quoted(&text))
        }
        Value::Numeric(n) => {
            let scale = n.split_once('.').map_or(0, |(_, f)| f.len());
            let digits = n.chars().filter(char::is_ascii_digit).count();
            if digits > 38 {
                return Err(ServeError::bad_request(format!(
                    "the numeric parameter {n} has more than 38 digits, the most a decimal holds"
                )));
            }
            format!("CAST({} AS DECIMAL(38, {scale}))", quoted(n))
        }
        Value::Text(s) => quoted(s),
        Value::Bytes(b) => format!("X'{}'", hex::encode(b)),
        Value::Date(d) => format!("CAST('{}' AS DATE)", d.format("%Y-%m-%d")),
        Value::Time(t) => format!("CAST('{}' AS TIME)", t.format("%H:%M:%S%.f")),
        Value::Timestamp(t) => {
            format!("CAST('{}' AS TIMESTAMP)", t.format("%Y-%m-%dT%H:%M:%S%.f"))
        }
        Value::TimestampTz(t) => format!(
            "CAST('{}' AS TIMESTAMP WITH TIME ZONE)",
            t.format("%Y-%m-%dT%H:%M:%S%.fZ")
        ),
    })
}

/// Parameter `i` (0-based) of the portal, as `ty` in the format the client chose.
fn decode<S: Clone>(portal: &Portal<S>, i: usize, ty: &Type) -> Result<Value, ServeError> {
    let bad = |e: &dyn std::fmt::Display| {
        ServeError::bad_request(format!(
            "parameter ${} cannot be read as {}: {e}",
            i + 1,
            ty.name()
        ))
    };
    let Some(raw) = portal.parameters.get(i).cloned().flatten() else {
        return Ok(Value::Null);
    };
    let binary = portal.parameter_format.is_binary(i);
    macro_rules! get {
        ($t:ty) => {
            portal
                .parameter::<$t>(i, ty)
                .map_err(|e| bad(&e))?
                .expect("not null: checked above")
        };
    }
    let text = |raw: &[u8]| {
        std::str::from_utf8(raw)
            .map(str::to_string)
            .map_err(|e| bad(&e))
    };
    Ok(match *ty {
        Type::BOOL => Value::Bool(get!(bool)),
        Type::INT2 => Value::Int(get!(i16).into()),
        Type::INT4 => Value::Int(get!(i32).into()),
        Type::INT8 => Value::Int(get!(i64)),
        Type::OID => Value::Int(get!(u32).into()),
        Type::FLOAT4 => Value::Float(get!(f32).into()),
        Type::FLOAT8 => Value::Float(get!(f64)),
        Type::NUMERIC if binary => {
            Value::Numeric(numeric_text(&raw).ok_or_else(|| bad(&"not a binary numeric"))?)
        }
        Type::NUMERIC => {
            let n = text(&raw)?;
            match n.parse::<f64>() {
                // NaN and infinities: a decimal has none, a double does.
                Ok(f) if !f.is_finite() => Value::Float(f),
                _ if is_decimal(&n) => Value::Numeric(n.trim().to_string()),
                _ => return Err(bad(&format!("`{n}` is not a number"))),
            }
        }
        Type::BYTEA => Value::Bytes(get!(Vec<u8>)),
        Type::DATE => Value::Date(get!(NaiveDate)),
        Type::TIME => Value::Time(get!(NaiveTime)),
        Type::TIMESTAMP => Value::Timestamp(get!(NaiveDateTime)),
        Type::TIMESTAMPTZ => Value::TimestampTz(get!(DateTime<FixedOffset>).with_timezone(&Utc)),
        Type::JSONB if binary => match raw.split_first() {
            Some((1, json)) => Value::Text(text(json)?),
            _ => return Err(bad(&"not jsonb version 1")),
        },
        Type::UUID if binary => Value::Text(
            uuid::Uuid::from_slice(&raw)
                .map_err(|e| bad(&e))?
                .hyphenated()
                .to_string(),
        ),
        // Text and everything else sent as text (unknown, varchar, json, uuid, …): a
        // string, which the planner coerces where a column's type asks for it.
        _ if !binary => Value::Text(text(&raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON => {
            Value::Text(text(&raw)?)
        }
        _ => {
            return Err(ServeError::bad_request(format!(
                "parameter ${} is of type {} in binary format, which Tessera does not bind; \
                 send it in text format, or bind a boolean, number, text, bytea, date, time \
                 or timestamp",
                i + 1,
                ty.name()
            )));
        }
    })
}

/// `12`, `-3.50`, `+.5`: an optional sign, digits, an optional fraction (no exponent).
fn is_decimal(text: &str) -> bool {
    let t = text.trim();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    !(int.is_empty() && frac.is_empty())
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
}

/// The text of PostgreSQL's binary `numeric`: ndigits, weight, sign, dscale (i16/u16
/// each), then base-10000 digits.
fn numeric_text(raw: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*raw.get(2 * i)?, *raw.get(2 * i + 1)?]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    if raw.len() != 8 + 2 * ndigits || sign == 0xC000 {
        return None; // truncated, or NaN (sent as a double instead by clients)
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    if digits.iter().any(|d| *d > 9999) {
        return None;
    }
    // Digit k has the value digits[k] * 10000^(weight - k).
    let mut int = String::new();
    for k in 0..=weight.max(-1) {
        let d = digits.get(k as usize).copied().unwrap_or(0);
        if int.is_empty() {
            if d != 0 {
                int = d.to_string();
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut k = weight + 1;
    while frac.len() < dscale {
        let d = if k < 0 {
            0
        } else {
            digits.get(k as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        k += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(match dscale {
        0 => format!("{sign}{int}"),
        _ => format!("{sign}{int}.{frac}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_literals_that_stay_one_value() {
        let sql = "SELECT a-$1, '$1', \"$1\", $2 -- $1\n FROM t WHERE x = $3 AND y = $2";
        let out = substitute(
            sql,
            &[
                Value::Int(-1),
                Value::Text("it's ' OR 1=1 --\\'".into()),
                Value::Null,
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "SELECT a-(-1), '$1', \"$1\", 'it''s '' OR 1=1 --\\''' -- $1\n FROM t WHERE x = NULL \
             AND y = 'it''s '' OR 1=1 --\\'''"
        );
        let e = substitute("SELECT $2", &[Value::Int(1)]).unwrap_err();
        assert!(e.message.contains("$2 but 1 parameters"), "{e}");
    }

    #[test]
    fn every_kind_of_value_has_a_literal() {
        let t = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        for (value, expected) in [
            (Value::Bool(true), "TRUE"),
            (Value::Float(0.1), "CAST('0.1' AS DOUBLE)"),
            (Value::Float(f64::NEG_INFINITY), "CAST('-inf' AS DOUBLE)"),
            (
                Value::Numeric("-12.50".into()),
                "CAST('-12.50' AS DECIMAL(38, 2))",
            ),
            (Value::Bytes(vec![0xde, 0xad]), "X'dead'"),
            (Value::Date(t), "CAST('2026-03-15' AS DATE)"),
            (
                Value::Timestamp(t.and_hms_micro_opt(9, 30, 0, 5).unwrap()),
                "CAST('2026-03-15T09:30:00.000005' AS TIMESTAMP)",
            ),
        ] {
            assert_eq!(literal(&value).unwrap(), expected);
        }
        assert!(is_decimal("+.5") && is_decimal("10") && !is_decimal("1e3") && !is_decimal("."));
    }

    #[test]
    fn binary_numerics_read_as_their_text() {
        // 12345.678: weight 1, digits [1, 2345, 6780], dscale 3
        let mut raw = Vec::new();
        for w in [3u16, 1, 0, 3, 1, 2345, 6780] {
            raw.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(numeric_text(&raw).as_deref(), Some("12345.678"));
        // -0.0012: weight -1, digits [12], dscale 4
        let mut raw = Vec::new();
        for w in [1u16, (-1i16) as u16, 0x4000, 4, 12] {
            raw.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(numeric_text(&raw).as_deref(), Some("-0.0012"));
        // 0, no digits
        let raw: Vec<u8> = [0u16, 0, 0, 0]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric_text(&raw).as_deref(), Some("0"));
    }
}
