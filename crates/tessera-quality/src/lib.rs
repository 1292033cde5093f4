//! An ODCS v3 contract compiled into DataFusion queries over a candidate table.
//!
//! ```text
//!  contract schema object ─▶ schema checks (Arrow schema only, no scan)
//!                         ─▶ column checks ──▶ ONE aggregate query: count(*), and per check a
//!                                              SUM(CASE WHEN <violation> …) or a duplicate count
//!                         ─▶ sql rules ──────▶ one query each (they are the contract's own SQL)
//!  failures ─▶ up to N sample rows each; the union of violating rows is the quarantine query
//! ```
//!
//! Every check is one [`CheckResult`]: what was checked, the measured value, the
//! expectation, pass/fail, and for failures the number of offending rows and samples. A
//! failed check whose severity is `error` fails the publish ([`Report::passed`]); a warning
//! is only reported.
//!
//! Invariant: the checked table is the only table in the session the caller hands in, and
//! checks only read it: a contract's SQL cannot see other data.
//!
//! Invariant: a contract's own SQL passes sqlparser 0.64 before DataFusion's parser sees it
//! (see ARCHITECTURE.md: DataFusion 55's parser backtracks exponentially on some inputs).

pub mod types;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Schema};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::Value;
use tessera_model::odcs::{Contract, Property, QualityRule, SchemaObject};

pub type Result<T, E = QualityError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// Running a check failed for a reason that is not the data's fault.
    #[error("running the contract checks of {object}: {source}")]
    Engine {
        object: String,
        #[source]
        source: DataFusionError,
    },
}

/// Whether a failed check fails the publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// A readable name: the rule's `name`, else what it checks (`email: required`).
    pub name: String,
    /// `schema`, `required`, `unique`, `primaryKey`, `minimum`, … or `library:<metric>`, `sql`.
    pub kind: String,
    pub column: Option<String>,
    pub severity: Severity,
    pub passed: bool,
    /// The measured value (a count, a percentage, a row count, the SQL's result).
    pub measured: Option<f64>,
    /// The expectation, as a reader would say it (`= 0`, `> 1000`, `between 0 and 5 %`).
    pub expected: String,
    /// How many rows break the rule, when rows can be counted.
    pub failed_rows: Option<i64>,
    /// Up to the sample limit of offending rows, as JSON objects.
    pub samples: Vec<Value>,
    /// Why it failed, when a number alone does not say it.
    pub message: Option<String>,
}

/// The outcome of checking one schema object of a contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub object: String,
    pub rows: i64,
    pub checks: Vec<CheckResult>,
    /// `SELECT * FROM <table> WHERE …` selecting every row that broke a row-level check,
    /// for the quarantine; `None` when no row-level check failed.
    #[serde(skip)]
    pub quarantine_sql: Option<String>,
}

impl Report {
    /// True when no error-level check failed.
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|c| c.passed || c.severity == Severity::Warning)
    }

    pub fn failed(&self, severity: Severity) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(move |c| !c.passed && c.severity == severity)
    }
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Offending rows kept per failed check.
    pub sample_rows: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { sample_rows: 10 }
    }
}

/// A comparison a measured value must satisfy.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Eq(f64),
    Ne(f64),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    Between(f64, f64),
    NotBetween(f64, f64),
}

impl Expect {
    fn holds(&self, v: f64) -> bool {
        match *self {
            Expect::Eq(x) => v == x,
            Expect::Ne(x) => v != x,
            Expect::Gt(x) => v > x,
            Expect::Ge(x) => v >= x,
            Expect::Lt(x) => v < x,
            Expect::Le(x) => v <= x,
            Expect::Between(a, b) => a <= v && v <= b,
            Expect::NotBetween(a, b) => v < a || b < v,
        }
    }

    fn describe(&self, percent: bool) -> String {
        let n = |x: f64| {
            let s = num(x);
            if percent { format!("{s} %") } else { s }
        };
        match *self {
            Expect::Eq(x) => format!("= {}", n(x)),
            Expect::Ne(x) => format!("!= {}", n(x)),
            Expect::Gt(x) => format!("> {}", n(x)),
            Expect::Ge(x) => format!(">= {}", n(x)),
            Expect::Lt(x) => format!("< {}", n(x)),
            Expect::Le(x) => format!("<= {}", n(x)),
            Expect::Between(a, b) => format!("between {} and {}", n(a), n(b)),
            Expect::NotBetween(a, b) => format!("not between {} and {}", n(a), n(b)),
        }
    }

    /// The rule's operator, or `default` when it names none.
    fn of(rule: &QualityRule, default: Expect) -> Expect {
        let pair = |v: &Option<Vec<f64>>| match v.as_deref() {
            Some([a, b]) => Some((*a, *b)),
            _ => None,
        };
        if let Some(x) = rule.must_be.as_ref().and_then(Value::as_f64) {
            Expect::Eq(x)
        } else if let Some(x) = rule.must_not_be.as_ref().and_then(Value::as_f64) {
            Expect::Ne(x)
        } else if let Some(x) = rule.must_be_greater_than {
            Expect::Gt(x)
        } else if let Some(x) = rule.must_be_greater_or_equal_to {
            Expect::Ge(x)
        } else if let Some(x) = rule.must_be_less_than {
            Expect::Lt(x)
        } else if let Some(x) = rule.must_be_less_or_equal_to {
            Expect::Le(x)
        } else if let Some((a, b)) = pair(&rule.must_be_between) {
            Expect::Between(a, b)
        } else if let Some((a, b)) = pair(&rule.must_not_be_between) {
            Expect::NotBetween(a, b)
        } else {
            default
        }
    }
}

/// How a planned check is measured.
#[derive(Debug, Clone)]
enum Measure {
    /// Rows for which a SQL predicate holds (counted in the one aggregate query).
    Violations(String),
    /// Rows beyond the first for each repeated value of these columns (nulls ignored).
    Duplicates(Vec<String>),
    /// `count(*)`.
    RowCount,
    /// The first value of the contract's own query.
    Sql(String),
}

#[derive(Debug, Clone)]
struct Planned {
    name: String,
    kind: String,
    column: Option<String>,
    severity: Severity,
    measure: Measure,
    expect: Expect,
    percent: bool,
}

/// Checks `table` (registered in `ctx`; a plain or a `schema.table` name) against one
/// schema object of `contract`.
pub async fn check(
    ctx: &SessionContext,
    table: &str,
    contract: &Contract,
    object: &SchemaObject,
    options: &CheckOptions,
) -> Result<Report> {
    let engine = |source| QualityError::Engine {
        object: object.name.clone(),
        source,
    };
    let schema = ctx
        .table(table)
        .await
        .map_err(engine)?
        .schema()
        .as_arrow()
        .clone();

    let mut results = Vec::new();
    let mut plan = Vec::new();
    schema_checks(contract, object, &schema, &mut results);
    for p in &object.properties {
        let Ok(field) = schema.field_with_name(&p.name) else {
            continue;
        };
        let dt = field.data_type();
        if !types::compatible(p.logical_type.as_deref().unwrap_or(""), dt) {
            continue;
        }
        plan_property(p, dt, table, &mut plan, &mut results);
    }
    plan_object_rules(object, table, &schema, &mut plan, &mut results);

    let mut report = measure(ctx, table, object, plan, results, options)
        .await
        .map_err(engine)?;
    report.object = object.name.clone();
    Ok(report)
}

fn schema_checks(
    contract: &Contract,
    object: &SchemaObject,
    schema: &Schema,
    results: &mut Vec<CheckResult>,
) {
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for p in &object.properties {
        let logical = p.logical_type.as_deref().unwrap_or("any");
        let (passed, message) = match schema.field_with_name(&p.name) {
            Err(_) => (
                false,
                Some(format!(
                    "column `{}` is missing; the data has: {}",
                    p.name,
                    columns.join(", ")
                )),
            ),
            Ok(f) if !types::compatible(logical, f.data_type()) => (
                false,
                Some(format!(
                    "column `{}` is {}, which is not {} {logical} (see docs/contract-checks.md for the type mapping)",
                    p.name,
                    types::describe(f.data_type()),
                    article(logical)
                )),
            ),
            Ok(_) => (true, None),
        };
        results.push(CheckResult {
            name: format!("{}: present with type {logical}", p.name),
            kind: "schema".into(),
            column: Some(p.name.clone()),
            severity: Severity::Error,
            passed,
            measured: None,
            expected: format!("{} {logical} column", article(logical)),
            failed_rows: None,
            samples: Vec::new(),
            message,
        });
    }
    if !contract.allows_extra_columns() {
        let declared: Vec<&str> = object.properties.iter().map(|p| p.name.as_str()).collect();
        let extra: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !declared.contains(c))
            .collect();
        results.push(CheckResult {
            name: format!("{}: no columns beyond the contract's", object.name),
            kind: "schema".into(),
            column: None,
            severity: Severity::Error,
            passed: extra.is_empty(),
            measured: Some(extra.len() as f64),
            expected: "= 0".into(),
            failed_rows: None,
            samples: Vec::new(),
            message: (!extra.is_empty()).then(|| {
                format!(
                    "the data has columns the contract does not declare: {}\n  help: add them to the contract, drop them in the SQL, or set tesseraAllowExtraColumns: true",
                    extra.join(", ")
                )
            }),
        });
    }
}

fn plan_property(
    p: &Property,
    dt: &DataType,
    table: &str,
    plan: &mut Vec<Planned>,
    results: &mut Vec<CheckResult>,
) {
    let col = ident(&p.name);
    let column = Some(p.name.clone());
    let mut add = |name: &str, kind: &str, measure: Measure| {
        plan.push(Planned {
            name: format!("{}: {name}", p.name),
            kind: kind.into(),
            column: column.clone(),
            severity: Severity::Error,
            measure,
            expect: Expect::Eq(0.0),
            percent: false,
        })
    };
    if p.required {
        add(
            "required",
            "required",
            Measure::Violations(format!("{col} IS NULL")),
        );
    }
    if p.unique {
        add(
            "unique",
            "unique",
            Measure::Duplicates(vec![p.name.clone()]),
        );
    }
    if let Some(Value::Object(o)) = &p.logical_type_options {
        let is_string = matches!(
            dt,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        let bound = |v: &Value| literal_for(v, dt);
        for (key, op, exclusive_key) in [
            ("minimum", "<", "exclusiveMinimum"),
            ("maximum", ">", "exclusiveMaximum"),
        ] {
            if let Some(lit) = o.get(key).and_then(bound) {
                // exclusiveMinimum: true (v3.0) makes the bound itself a violation too.
                let exclusive = o.get(exclusive_key).and_then(Value::as_bool) == Some(true);
                let op = if exclusive {
                    format!("{op}=")
                } else {
                    op.to_string()
                };
                add(
                    &format!("{key} {}", o[key]),
                    key,
                    Measure::Violations(format!("{col} {op} {lit}")),
                );
            }
        }
        for (key, op) in [("exclusiveMinimum", "<="), ("exclusiveMaximum", ">=")] {
            if let Some(lit) = o.get(key).filter(|v| !v.is_boolean()).and_then(bound) {
                add(
                    &format!("{key} {}", o[key]),
                    key,
                    Measure::Violations(format!("{col} {op} {lit}")),
                );
            }
        }
        if is_string {
            if let Some(n) = o.get("minLength").and_then(Value::as_u64) {
                add(
                    &format!("minLength {n}"),
                    "minLength",
                    Measure::Violations(format!("character_length({col}) < {n}")),
                );
            }
            if let Some(n) = o.get("maxLength").and_then(Value::as_u64) {
                add(
                    &format!("maxLength {n}"),
                    "maxLength",
                    Measure::Violations(format!("character_length({col}) > {n}")),
                );
            }
            if let Some(pattern) = o.get("pattern").and_then(Value::as_str) {
                add(
                    &format!("pattern {pattern}"),
                    "pattern",
                    Measure::Violations(format!("NOT regexp_like({col}, {})", string(pattern))),
                );
            }
            if let Some(format) = o.get("format").and_then(Value::as_str) {
                match format_pattern(format) {
                    Some(pattern) => add(
                        &format!("format {format}"),
                        "format",
                        Measure::Violations(format!("NOT regexp_like({col}, {})", string(pattern))),
                    ),
                    None => results.push(CheckResult {
                        name: format!("{}: format {format}", p.name),
                        kind: "format".into(),
                        column: Some(p.name.clone()),
                        severity: Severity::Warning,
                        passed: true,
                        measured: None,
                        expected: format!("format {format}"),
                        failed_rows: None,
                        samples: Vec::new(),
                        message: Some(format!(
                            "Tessera does not check the format `{format}`; it checks: {}",
                            FORMATS
                                .iter()
                                .map(|(f, _)| *f)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    }),
                }
            }
        }
    }
    for rule in &p.quality {
        plan_rule(rule, Some(p), table, &[p.name.as_str()], plan, results);
    }
}

fn plan_object_rules(
    object: &SchemaObject,
    table: &str,
    schema: &Schema,
    plan: &mut Vec<Planned>,
    results: &mut Vec<CheckResult>,
) {
    // A primary key, single or composite, is unique and has no nulls.
    let mut key: Vec<&Property> = object.properties.iter().filter(|p| p.primary_key).collect();
    key.sort_by_key(|p| p.primary_key_position.unwrap_or(i64::MAX));
    let present = key.iter().all(|p| schema.field_with_name(&p.name).is_ok());
    if !key.is_empty() && present {
        let names: Vec<String> = key.iter().map(|p| p.name.clone()).collect();
        let label = names.join(", ");
        plan.push(Planned {
            name: format!("primary key ({label}): unique"),
            kind: "primaryKey".into(),
            column: (names.len() == 1).then(|| names[0].clone()),
            severity: Severity::Error,
            measure: Measure::Duplicates(names.clone()),
            expect: Expect::Eq(0.0),
            percent: false,
        });
        let nulls = names
            .iter()
            .map(|n| format!("{} IS NULL", ident(n)))
            .collect::<Vec<_>>()
            .join(" OR ");
        plan.push(Planned {
            name: format!("primary key ({label}): not null"),
            kind: "primaryKey".into(),
            column: (names.len() == 1).then(|| names[0].clone()),
            severity: Severity::Error,
            measure: Measure::Violations(nulls),
            expect: Expect::Eq(0.0),
            percent: false,
        });
    }
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for rule in &object.quality {
        plan_rule(rule, None, table, &columns, plan, results);
    }
}

fn plan_rule(
    rule: &QualityRule,
    property: Option<&Property>,
    table: &str,
    columns: &[&str],
    plan: &mut Vec<Planned>,
    results: &mut Vec<CheckResult>,
) {
    let severity = if rule.is_blocking() {
        Severity::Error
    } else {
        Severity::Warning
    };
    let percent = rule.unit.as_deref() == Some("percent");
    let column = property.map(|p| p.name.clone());
    let col = property.map(|p| ident(&p.name));
    let label = |what: &str| match (&rule.name, property) {
        (Some(n), _) => n.clone(),
        (None, Some(p)) => format!("{}: {what}", p.name),
        (None, None) => what.to_string(),
    };
    let unsupported = |results: &mut Vec<CheckResult>, why: String| {
        results.push(CheckResult {
            name: label(rule.metric().unwrap_or(rule.kind())),
            kind: format!("library:{}", rule.metric().unwrap_or("?")),
            column: column.clone(),
            severity,
            passed: false,
            measured: None,
            expected: String::new(),
            failed_rows: None,
            samples: Vec::new(),
            message: Some(why),
        })
    };
    let arguments = rule.arguments.as_ref();
    let list = |key: &str| arguments.and_then(|a| a.get(key)).and_then(Value::as_array);
    match rule.kind() {
        "library" => {
            let metric = rule.metric().unwrap_or_default();
            let measure = match (metric, &col) {
                ("rowCount", _) => Measure::RowCount,
                ("nullValues", Some(c)) => Measure::Violations(format!("{c} IS NULL")),
                ("missingValues", Some(c)) => {
                    let values: Vec<&Value> = list("missingValues")
                        .map(|l| l.iter().filter(|v| !v.is_null()).collect())
                        .unwrap_or_default();
                    if values.is_empty() {
                        Measure::Violations(format!("{c} IS NULL"))
                    } else {
                        Measure::Violations(format!("{c} IS NULL OR {c} IN ({})", in_list(&values)))
                    }
                }
                ("invalidValues", Some(c)) => {
                    if let Some(valid) = list("validValues") {
                        let values: Vec<&Value> = valid.iter().filter(|v| !v.is_null()).collect();
                        Measure::Violations(format!(
                            "{c} IS NOT NULL AND {c} NOT IN ({})",
                            in_list(&values)
                        ))
                    } else if let Some(p) = arguments
                        .and_then(|a| a.get("pattern"))
                        .and_then(Value::as_str)
                    {
                        Measure::Violations(format!(
                            "{c} IS NOT NULL AND NOT regexp_like(CAST({c} AS VARCHAR), {})",
                            string(p)
                        ))
                    } else {
                        return unsupported(
                            results,
                            "invalidValues needs `arguments.validValues` or `arguments.pattern`"
                                .into(),
                        );
                    }
                }
                ("duplicateValues", Some(_)) => {
                    Measure::Duplicates(vec![column.clone().unwrap_or_default()])
                }
                ("duplicateValues", None) => match list("properties") {
                    Some(props) if !props.is_empty() => {
                        let cols: Vec<String> = props
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect();
                        let missing: Vec<&str> = cols
                            .iter()
                            .filter(|c| !columns.contains(&c.as_str()))
                            .map(String::as_str)
                            .collect();
                        if !missing.is_empty() {
                            return unsupported(
                                results,
                                format!(
                                    "cannot check: the data has no column {}",
                                    missing.join(", ")
                                ),
                            );
                        }
                        Measure::Duplicates(cols)
                    }
                    _ => {
                        return unsupported(
                            results,
                            "duplicateValues on a schema object needs `arguments.properties`, the columns that together must be unique".into(),
                        );
                    }
                },
                (m @ ("nullValues" | "missingValues" | "invalidValues"), None) => {
                    return unsupported(
                        results,
                        format!(
                            "the metric {m} belongs on a column (schema[].properties[].quality)"
                        ),
                    );
                }
                (m, _) => {
                    return unsupported(
                        results,
                        format!(
                            "Tessera does not know the library metric `{m}`; it checks nullValues, missingValues, invalidValues, duplicateValues and rowCount"
                        ),
                    );
                }
            };
            let default = match measure {
                Measure::RowCount => Expect::Gt(0.0),
                _ => Expect::Eq(0.0),
            };
            plan.push(Planned {
                name: label(metric),
                kind: format!("library:{metric}"),
                column,
                severity,
                measure,
                expect: Expect::of(rule, default),
                percent: percent && !matches!(metric, "rowCount"),
            });
        }
        "sql" => {
            let Some(query) = rule.query.as_deref() else {
                return;
            };
            let mut sql = query
                .replace("${object}", &table_ref(table))
                .replace("{object}", &table_ref(table));
            if let Some(c) = &col {
                sql = sql.replace("${property}", c).replace("{property}", c);
            }
            plan.push(Planned {
                name: label("sql"),
                kind: "sql".into(),
                column,
                severity,
                measure: Measure::Sql(sql),
                expect: Expect::of(rule, Expect::Eq(0.0)),
                percent: false,
            });
        }
        // `text` rules are for people; `custom` ones for other engines.
        _ => {}
    }
}

async fn measure(
    ctx: &SessionContext,
    table: &str,
    object: &SchemaObject,
    plan: Vec<Planned>,
    mut results: Vec<CheckResult>,
    options: &CheckOptions,
) -> std::result::Result<Report, DataFusionError> {
    let t = table_ref(table);
    // One pass for the row count, every violation count and every single-column duplicate count.
    let mut select = vec!["count(*)".to_string()];
    let mut slot = Vec::with_capacity(plan.len());
    for p in &plan {
        slot.push(match &p.measure {
            Measure::Violations(pred) => {
                select.push(format!(
                    "CAST(COALESCE(SUM(CASE WHEN {pred} THEN 1 ELSE 0 END), 0) AS BIGINT) AS m{}",
                    select.len()
                ));
                Some(select.len() - 1)
            }
            Measure::Duplicates(cols) if cols.len() == 1 => {
                let c = ident(&cols[0]);
                select.push(format!(
                    "CAST(count({c}) - count(DISTINCT {c}) AS BIGINT) AS m{}",
                    select.len()
                ));
                Some(select.len() - 1)
            }
            _ => None,
        });
    }
    let row = first_row(ctx, &format!("SELECT {} FROM {t}", select.join(", "))).await?;
    let rows = row.first().copied().flatten().unwrap_or(0.0) as i64;

    let mut quarantine = Vec::new();
    for (p, slot) in plan.into_iter().zip(slot) {
        let (count, message) = match (&p.measure, slot) {
            (_, Some(i)) => (row.get(i).copied().flatten(), None),
            (Measure::RowCount, _) => (Some(rows as f64), None),
            (Measure::Duplicates(cols), _) => {
                let group = cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
                let not_null = cols
                    .iter()
                    .map(|c| format!("{} IS NOT NULL", ident(c)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let q = format!(
                    "SELECT CAST(COALESCE(SUM(n - 1), 0) AS BIGINT) FROM (SELECT count(*) AS n FROM {t} WHERE {not_null} GROUP BY {group} HAVING count(*) > 1)"
                );
                (first_row(ctx, &q).await?.first().copied().flatten(), None)
            }
            (Measure::Sql(q), _) => match run_contract_sql(ctx, q).await {
                Ok(v) => (v, None),
                Err(why) => (None, Some(why)),
            },
            (Measure::Violations(_), None) => unreachable!("violations always have a slot"),
        };
        let Some(count) = count else {
            results.push(CheckResult {
                name: p.name,
                kind: p.kind,
                column: p.column,
                severity: p.severity,
                passed: false,
                measured: None,
                expected: p.expect.describe(p.percent),
                failed_rows: None,
                samples: Vec::new(),
                message: Some(message.unwrap_or_else(|| "the check returned no value".into())),
            });
            continue;
        };
        let measured = if p.percent {
            if rows == 0 {
                0.0
            } else {
                count * 100.0 / rows as f64
            }
        } else {
            count
        };
        let passed = p.expect.holds(measured);
        let row_filter = match &p.measure {
            Measure::Violations(pred) => Some(format!("({pred})")),
            Measure::Duplicates(cols) => Some(duplicate_filter(&t, cols)),
            _ => None,
        };
        let (failed_rows, samples) = match (&row_filter, passed) {
            (Some(filter), false) => {
                quarantine.push(filter.clone());
                let rows = sample(ctx, &t, filter, options.sample_rows).await?;
                (Some(count as i64), rows)
            }
            _ => (None, Vec::new()),
        };
        results.push(CheckResult {
            name: p.name,
            kind: p.kind,
            column: p.column,
            severity: p.severity,
            passed,
            measured: Some(measured),
            expected: p.expect.describe(p.percent),
            failed_rows,
            samples,
            message,
        });
    }
    Ok(Report {
        object: object.name.clone(),
        rows,
        checks: results,
        quarantine_sql: (!quarantine.is_empty())
            .then(|| format!("SELECT * FROM {t} WHERE {}", quarantine.join(" OR "))),
    })
}

/// Rows whose key is repeated.
fn duplicate_filter(t: &str, cols: &[String]) -> String {
    let group = cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let not_null = cols
        .iter()
        .map(|c| format!("{} IS NOT NULL", ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    if cols.len() == 1 {
        format!(
            "({group} IN (SELECT {group} FROM {t} WHERE {not_null} GROUP BY {group} HAVING count(*) > 1))"
        )
    } else {
        // Composite keys: match on a single text key.
        let key = |prefix: &str| {
            cols.iter()
                .map(|c| format!("COALESCE(CAST({prefix}{} AS VARCHAR), '')", ident(c)))
                .collect::<Vec<_>>()
                .join(" || chr(31) || ")
        };
        format!(
            "({not_null} AND {} IN (SELECT {} FROM {t} WHERE {not_null} GROUP BY {group} HAVING count(*) > 1))",
            key(""),
            key("")
        )
    }
}

async fn sample(
    ctx: &SessionContext,
    t: &str,
    filter: &str,
    limit: usize,
) -> std::result::Result<Vec<Value>, DataFusionError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let batches = ctx
        .sql(&format!("SELECT * FROM {t} WHERE {filter} LIMIT {limit}"))
        .await?
        .collect()
        .await?;
    batches_to_json(&batches)
}

/// Rows as JSON objects.
pub fn batches_to_json(
    batches: &[RecordBatch],
) -> std::result::Result<Vec<Value>, DataFusionError> {
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&refs)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice::<Vec<Value>>(&bytes)
        .map_err(|e| DataFusionError::Internal(format!("sample rows as JSON: {e}")))
}

/// Runs a contract's own SQL; `Err` is a message for the report (the contract is at fault).
async fn run_contract_sql(
    ctx: &SessionContext,
    sql: &str,
) -> std::result::Result<Option<f64>, String> {
    use sqlparser::dialect::GenericDialect;
    if let Err(e) = sqlparser::parser::Parser::parse_sql(&GenericDialect {}, sql) {
        return Err(format!("the rule's query does not parse: {e}"));
    }
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| format!("the rule's query cannot run: {}", short(&e)))?;
    let batches = df
        .collect()
        .await
        .map_err(|e| format!("the rule's query failed: {}", short(&e)))?;
    let value = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| number(b.column(0).as_ref(), 0));
    match value {
        Some(v) => Ok(Some(v)),
        None => Err(
            "the rule's query must return one number (e.g. SELECT COUNT(*) …); it returned none"
                .into(),
        ),
    }
}

fn short(e: &DataFusionError) -> String {
    e.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("Error during planning: ")
        .to_string()
}

/// The first row of a query's result, each column as a number.
async fn first_row(
    ctx: &SessionContext,
    sql: &str,
) -> std::result::Result<Vec<Option<f64>>, DataFusionError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    Ok(batch
        .columns()
        .iter()
        .map(|c| number(c.as_ref(), 0))
        .collect())
}

fn number(array: &dyn Array, i: usize) -> Option<f64> {
    if array.is_null(i) {
        return None;
    }
    let cast = datafusion::arrow::compute::cast(&array.slice(i, 1), &DataType::Float64).ok()?;
    Some(cast.as_primitive::<Float64Type>().value(0))
}

/// The formats `logicalTypeOptions.format` can name, as patterns.
const FORMATS: &[(&str, &str)] = &[
    ("email", r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    (
        "uuid",
        r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
    ("uri", r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$"),
    (
        "hostname",
        r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$",
    ),
    (
        "ipv4",
        r"^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])$",
    ),
    ("date", r"^\d{4}-\d{2}-\d{2}$"),
    (
        "date-time",
        r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$",
    ),
    ("country-code", r"^[A-Z]{2}$"),
    ("currency-code", r"^[A-Z]{3}$"),
];

fn format_pattern(format: &str) -> Option<&'static str> {
    FORMATS.iter().find(|(f, _)| *f == format).map(|(_, p)| *p)
}

/// A bound from `logicalTypeOptions` as a SQL literal of the column's type.
fn literal_for(v: &Value, dt: &DataType) -> Option<String> {
    match (v, dt) {
        (Value::Number(n), _) => Some(num(n.as_f64()?)),
        (Value::String(s), DataType::Date32 | DataType::Date64) => {
            Some(format!("CAST({} AS DATE)", string(s)))
        }
        (Value::String(s), DataType::Timestamp(..)) => {
            Some(format!("CAST({} AS TIMESTAMP)", string(s)))
        }
        (Value::String(s), d) if d.is_numeric() => s.parse::<f64>().ok().map(num),
        _ => None,
    }
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn in_list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => string(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => string(&other.to_string()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "a" or "an" before a type name.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A table name (`t` or `schema.t`) as a quoted SQL reference.
pub fn table_ref(name: &str) -> String {
    name.split('.').map(ident).collect::<Vec<_>>().join(".")
}

/// A SQL identifier, quoted.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
pub fn string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
