//! A small contract checker for these tests: the checks Tessera's quality layer runs on a
//! publish (schema, required, unique, primary key, logicalTypeOptions, library metrics,
//! SQL rules), written as DataFusion queries with the same meaning. It lets this crate
//! prove, on its own, that the demo data passes every product contract and that the
//! source contracts catch the dirty rows.

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::SessionContext;
use serde_json::Value;
use tessera_model::Contract;
use tessera_model::odcs::QualityRule;

/// The table every check reads; `${object}` in a contract's SQL names it.
pub const TABLE: &str = "candidate";

#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    /// Fails a publish when it fails (severity error).
    pub blocking: bool,
    pub passed: bool,
    pub measured: Option<f64>,
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

async fn scalar(ctx: &SessionContext, sql: &str) -> Option<f64> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = batch.column(0);
    if column.is_null(0) {
        return None;
    }
    let c = cast(&column.slice(0, 1), &DataType::Float64).ok()?;
    Some(
        c.as_any()
            .downcast_ref::<datafusion::arrow::array::PrimitiveArray<Float64Type>>()?
            .value(0),
    )
}

fn compatible(logical: &str, dt: &DataType) -> bool {
    match logical {
        "string" => matches!(
            dt,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        "integer" => dt.is_integer(),
        "number" => dt.is_numeric(),
        "boolean" => matches!(dt, DataType::Boolean),
        "date" => matches!(dt, DataType::Date32 | DataType::Date64),
        "timestamp" => matches!(dt, DataType::Timestamp(..)),
        _ => true,
    }
}

fn literal(v: &Value, dt: &DataType) -> Option<String> {
    match (v, dt) {
        (Value::Number(n), _) => Some(num(n.as_f64()?)),
        (Value::String(s), DataType::Date32 | DataType::Date64) => {
            Some(format!("CAST({} AS DATE)", string(s)))
        }
        (Value::String(s), DataType::Timestamp(..)) => {
            Some(format!("CAST({} AS TIMESTAMP)", string(s)))
        }
        _ => None,
    }
}

fn format_pattern(format: &str) -> Option<&'static str> {
    match format {
        "email" => Some(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        "country-code" => Some(r"^[A-Z]{2}$"),
        "currency-code" => Some(r"^[A-Z]{3}$"),
        _ => None,
    }
}

/// The comparison of a rule, or `default` when it names none.
fn expectation(rule: &QualityRule, default: (&'static str, f64, f64)) -> (&'static str, f64, f64) {
    let pair = |v: &Option<Vec<f64>>| v.as_deref().map(|p| (p[0], p[1]));
    if let Some(x) = rule.must_be.as_ref().and_then(Value::as_f64) {
        ("=", x, 0.0)
    } else if let Some(x) = rule.must_not_be.as_ref().and_then(Value::as_f64) {
        ("!=", x, 0.0)
    } else if let Some(x) = rule.must_be_greater_than {
        (">", x, 0.0)
    } else if let Some(x) = rule.must_be_greater_or_equal_to {
        (">=", x, 0.0)
    } else if let Some(x) = rule.must_be_less_than {
        ("<", x, 0.0)
    } else if let Some(x) = rule.must_be_less_or_equal_to {
        ("<=", x, 0.0)
    } else if let Some((a, b)) = pair(&rule.must_be_between) {
        ("between", a, b)
    } else if let Some((a, b)) = pair(&rule.must_not_be_between) {
        ("not between", a, b)
    } else {
        default
    }
}

fn holds((op, a, b): (&str, f64, f64), v: f64) -> bool {
    match op {
        "=" => v == a,
        "!=" => v != a,
        ">" => v > a,
        ">=" => v >= a,
        "<" => v < a,
        "<=" => v <= a,
        "between" => a <= v && v <= b,
        _ => v < a || b < v,
    }
}

fn in_list(values: &[Value]) -> String {
    values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::String(s) => string(s),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn duplicates(ctx: &SessionContext, columns: &[String]) -> Option<f64> {
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let not_null = cols
        .iter()
        .map(|c| format!("{c} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ");
    scalar(
        ctx,
        &format!(
            "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {TABLE} WHERE {not_null} GROUP BY {} HAVING COUNT(*) > 1)",
            cols.join(", ")
        ),
    )
    .await
}

async fn violations(ctx: &SessionContext, predicate: &str) -> Option<f64> {
    scalar(
        ctx,
        &format!("SELECT COUNT(*) FROM {TABLE} WHERE {predicate}"),
    )
    .await
}

/// Checks the table [`TABLE`] of `ctx` against the (single) schema object of `contract`.
pub async fn check(ctx: &SessionContext, contract: &Contract) -> Vec<Outcome> {
    let object = &contract.objects[0];
    let schema = ctx.table(TABLE).await.unwrap().schema().as_arrow().clone();
    let rows = scalar(ctx, &format!("SELECT COUNT(*) FROM {TABLE}"))
        .await
        .unwrap_or(0.0);
    let mut out = Vec::new();
    let mut push =
        |name: String, blocking: bool, measured: Option<f64>, expect: (&'static str, f64, f64)| {
            let passed = measured.is_some_and(|m| holds(expect, m));
            out.push(Outcome {
                name,
                blocking,
                passed,
                measured,
            });
        };

    // Schema: every column present with a compatible type, and no others.
    let declared: Vec<&str> = object.properties.iter().map(|p| p.name.as_str()).collect();
    for p in &object.properties {
        let ok = schema
            .field_with_name(&p.name)
            .is_ok_and(|f| compatible(p.logical_type.as_deref().unwrap_or(""), f.data_type()));
        push(
            format!("{}: present with its type", p.name),
            true,
            Some(ok as u8 as f64),
            ("=", 1.0, 0.0),
        );
    }
    let extra = schema
        .fields()
        .iter()
        .filter(|f| !declared.contains(&f.name().as_str()))
        .count();
    push(
        "no extra columns".into(),
        true,
        Some(extra as f64),
        ("=", 0.0, 0.0),
    );

    for p in &object.properties {
        let Ok(field) = schema.field_with_name(&p.name) else {
            continue;
        };
        let dt = field.data_type().clone();
        let c = ident(&p.name);
        let name = |what: &str| format!("{}: {what}", p.name);
        if p.required {
            push(
                name("required"),
                true,
                violations(ctx, &format!("{c} IS NULL")).await,
                ("=", 0.0, 0.0),
            );
        }
        if p.unique {
            push(
                name("unique"),
                true,
                duplicates(ctx, std::slice::from_ref(&p.name)).await,
                ("=", 0.0, 0.0),
            );
        }
        if let Some(Value::Object(o)) = &p.logical_type_options {
            for (key, op) in [
                ("minimum", "<"),
                ("maximum", ">"),
                ("exclusiveMinimum", "<="),
                ("exclusiveMaximum", ">="),
            ] {
                if let Some(lit) = o.get(key).and_then(|v| literal(v, &dt)) {
                    push(
                        name(key),
                        true,
                        violations(ctx, &format!("{c} {op} {lit}")).await,
                        ("=", 0.0, 0.0),
                    );
                }
            }
            if let Some(n) = o.get("minLength").and_then(Value::as_u64) {
                push(
                    name("minLength"),
                    true,
                    violations(ctx, &format!("character_length({c}) < {n}")).await,
                    ("=", 0.0, 0.0),
                );
            }
            if let Some(n) = o.get("maxLength").and_then(Value::as_u64) {
                push(
                    name("maxLength"),
                    true,
                    violations(ctx, &format!("character_length({c}) > {n}")).await,
                    ("=", 0.0, 0.0),
                );
            }
            let pattern = o.get("pattern").and_then(Value::as_str).or_else(|| {
                o.get("format")
                    .and_then(Value::as_str)
                    .filter(|_| matches!(dt, DataType::Utf8))
                    .and_then(format_pattern)
            });
            if let Some(pattern) = pattern.filter(|_| matches!(dt, DataType::Utf8)) {
                push(
                    name("pattern"),
                    true,
                    violations(ctx, &format!("NOT regexp_like({c}, {})", string(pattern))).await,
                    ("=", 0.0, 0.0),
                );
            }
        }
        for rule in &p.quality {
            let (label, measured, expect) = rule_outcome(ctx, rule, Some(&p.name), rows).await;
            push(name(&label), rule.is_blocking(), measured, expect);
        }
    }

    let mut key: Vec<_> = object.properties.iter().filter(|p| p.primary_key).collect();
    key.sort_by_key(|p| p.primary_key_position.unwrap_or(i64::MAX));
    if !key.is_empty() {
        let names: Vec<String> = key.iter().map(|p| p.name.clone()).collect();
        push(
            "primary key: unique".into(),
            true,
            duplicates(ctx, &names).await,
            ("=", 0.0, 0.0),
        );
        let nulls = names
            .iter()
            .map(|n| format!("{} IS NULL", ident(n)))
            .collect::<Vec<_>>()
            .join(" OR ");
        push(
            "primary key: not null".into(),
            true,
            violations(ctx, &nulls).await,
            ("=", 0.0, 0.0),
        );
    }
    for rule in &object.quality {
        let (label, measured, expect) = rule_outcome(ctx, rule, None, rows).await;
        push(label, rule.is_blocking(), measured, expect);
    }
    out
}

async fn rule_outcome(
    ctx: &SessionContext,
    rule: &QualityRule,
    column: Option<&str>,
    rows: f64,
) -> (String, Option<f64>, (&'static str, f64, f64)) {
    let label = rule
        .name
        .clone()
        .unwrap_or_else(|| rule.metric().unwrap_or(rule.kind()).to_string());
    let args = rule.arguments.as_ref();
    let list = |k: &str| {
        args.and_then(|a| a.get(k))
            .and_then(Value::as_array)
            .cloned()
    };
    let c = column.map(ident);
    let percent = rule.unit.as_deref() == Some("percent");
    let measured = match (rule.kind(), rule.metric(), &c) {
        ("sql", _, _) => {
            let q = rule.query.as_deref().unwrap().replace("${object}", TABLE);
            scalar(ctx, &q).await
        }
        ("library", Some("rowCount"), _) => {
            return (label, Some(rows), expectation(rule, (">", 0.0, 0.0)));
        }
        ("library", Some("nullValues"), Some(c)) => violations(ctx, &format!("{c} IS NULL")).await,
        ("library", Some("missingValues"), Some(c)) => {
            let values = list("missingValues").unwrap_or_default();
            let listed = in_list(&values);
            if listed.is_empty() {
                violations(ctx, &format!("{c} IS NULL")).await
            } else {
                violations(ctx, &format!("{c} IS NULL OR {c} IN ({listed})")).await
            }
        }
        ("library", Some("invalidValues"), Some(c)) => {
            match (list("validValues"), args.and_then(|a| a.get("pattern"))) {
                (Some(valid), _) => {
                    violations(
                        ctx,
                        &format!("{c} IS NOT NULL AND {c} NOT IN ({})", in_list(&valid)),
                    )
                    .await
                }
                (None, Some(Value::String(p))) => {
                    violations(
                        ctx,
                        &format!(
                            "{c} IS NOT NULL AND NOT regexp_like(CAST({c} AS VARCHAR), {})",
                            string(p)
                        ),
                    )
                    .await
                }
                _ => panic!("invalidValues without validValues or pattern"),
            }
        }
        ("library", Some("duplicateValues"), Some(_)) => {
            duplicates(ctx, &[column.unwrap().to_string()]).await
        }
        ("library", Some("duplicateValues"), None) => {
            let props: Vec<String> = list("properties")
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            duplicates(ctx, &props).await
        }
        (kind, metric, _) => panic!("unexpected rule {kind} {metric:?}"),
    };
    let measured = match (measured, percent && rule.kind() == "library") {
        (Some(m), true) if rows > 0.0 => Some(m * 100.0 / rows),
        (m, _) => m,
    };
    (label, measured, expectation(rule, ("=", 0.0, 0.0)))
}
