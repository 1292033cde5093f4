//! Every kind of check, on a small table with known violations.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tessera_model::Contract;
use tessera_quality::{CheckOptions, CheckResult, Report, Severity, check};

const CONTRACT: &str = r#"
apiVersion: v3.1.0
kind: DataContract
id: t.orders.orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - name: id
        logicalType: integer
        primaryKey: true
      - name: email
        logicalType: string
        logicalTypeOptions:
          format: email
          maxLength: 20
        quality:
          - metric: missingValues
            arguments:
              missingValues: [null, '', 'N/A']
            mustBeLessOrEqualTo: 40
            unit: percent
            severity: warning
      - name: channel
        logicalType: string
        required: true
        quality:
          - metric: invalidValues
            arguments:
              validValues: [search, email]
            mustBe: 0
          - metric: invalidValues
            name: channel is lower case
            arguments:
              pattern: '^[a-z]+$'
            mustBe: 0
      - name: amount
        logicalType: number
        logicalTypeOptions:
          minimum: 0
          maximum: 100
        quality:
          - type: sql
            query: SELECT COUNT(*) FROM ${object} WHERE ${property} > 50
            mustBeLessThan: 2
    quality:
      - metric: rowCount
        mustBeBetween: [1, 10]
      - metric: duplicateValues
        arguments:
          properties: [email, channel]
        mustBe: 0
        severity: warning
      - type: sql
        query: SELECT SUM(amount) FROM orders
        mustBeGreaterThan: 1000
        severity: warning
"#;

async fn run() -> Report {
    let (contract, diags) = Contract::parse("orders.odcs.yaml", CONTRACT);
    assert!(!diags.has_errors(), "{diags:?}");
    let contract = contract.unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("extra", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                Some(2),
                None,
                Some(5),
            ])),
            Arc::new(StringArray::from(vec![
                Some("a@x.io"),
                Some("N/A"),
                Some("b@x.io"),
                Some("b@x.io"),
                Some("not-an-email-address"),
            ])),
            Arc::new(StringArray::from(vec![
                Some("search"),
                Some("email"),
                Some("Social"),
                Some("Social"),
                None,
            ])),
            Arc::new(Float64Array::from(vec![10.0, 60.0, 70.0, -1.0, 5.0])),
            Arc::new(StringArray::from(vec![Some("x"); 5])),
        ],
    )
    .unwrap();
    let ctx = SessionContext::new();
    ctx.register_table(
        "orders",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    let object = &contract.objects[0];
    check(
        &ctx,
        "orders",
        &contract,
        object,
        &CheckOptions { sample_rows: 10 },
    )
    .await
    .unwrap()
}

fn find<'a>(r: &'a Report, name: &str) -> &'a CheckResult {
    r.checks.iter().find(|c| c.name == name).unwrap_or_else(|| {
        panic!(
            "no check {name}; checks: {:#?}",
            r.checks.iter().map(|c| &c.name).collect::<Vec<_>>()
        )
    })
}

#[tokio::test]
async fn every_kind_of_check_measures_what_it_should() {
    let r = run().await;
    assert_eq!(r.rows, 5);
    assert!(!r.passed());

    // Schema: the extra column fails; declared columns are present.
    let extra = find(&r, "orders: no columns beyond the contract's");
    assert!(!extra.passed && extra.message.as_ref().unwrap().contains("extra"));
    assert!(find(&r, "amount: present with type number").passed);

    // Primary key: one duplicate (2) and one null.
    assert_eq!(find(&r, "primary key (id): unique").measured, Some(1.0));
    assert_eq!(find(&r, "primary key (id): not null").failed_rows, Some(1));
    // required
    assert_eq!(find(&r, "channel: required").failed_rows, Some(1));
    // logicalTypeOptions
    assert_eq!(find(&r, "amount: minimum 0").failed_rows, Some(1));
    assert_eq!(
        find(&r, "email: format email").failed_rows,
        Some(2),
        "N/A and the long one"
    );
    assert_eq!(find(&r, "email: maxLength 20").measured, Some(0.0));
    // missingValues in percent, a warning: 1 of 5 = 20 % <= 40 %.
    let missing = find(&r, "email: missingValues");
    assert_eq!((missing.measured, missing.passed), (Some(20.0), true));
    // invalidValues, validValues and pattern
    assert_eq!(find(&r, "channel: invalidValues").failed_rows, Some(2));
    assert_eq!(find(&r, "channel is lower case").failed_rows, Some(2));
    // sql rule on a column, with ${object} and ${property}
    let sql = find(&r, "amount: sql");
    assert_eq!((sql.measured, sql.passed), (Some(2.0), false));
    // rowCount between
    assert!(find(&r, "rowCount").passed);
    // composite duplicates: (b@x.io, Social) twice; a warning.
    let dup = find(&r, "duplicateValues");
    assert_eq!(
        (dup.measured, dup.passed, dup.severity),
        (Some(1.0), false, Severity::Warning)
    );
    assert_eq!(dup.samples.len(), 2);
    // object-level sql reading the table by its name
    let sum = find(&r, "sql");
    assert_eq!((sum.measured, sum.passed), (Some(144.0), false));

    // Samples are the offending rows, at most the limit.
    let min = find(&r, "amount: minimum 0");
    assert_eq!(min.samples.len(), 1);
    assert_eq!(min.samples[0]["amount"], -1.0);
    // The quarantine selects every row that broke a row-level check.
    assert!(
        r.quarantine_sql
            .as_ref()
            .unwrap()
            .starts_with("SELECT * FROM")
    );
}

#[tokio::test]
async fn a_broken_sql_rule_fails_with_the_reason_not_an_engine_error() {
    let text = CONTRACT.replace(
        "SELECT SUM(amount) FROM orders",
        "SELECT SUM(nope) FROM orders",
    );
    let (contract, _) = Contract::parse("orders.odcs.yaml", &text);
    let contract = contract.unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "amount",
        DataType::Float64,
        true,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Float64Array::from(vec![1.0]))],
    )
    .unwrap();
    let ctx = SessionContext::new();
    ctx.register_table(
        "orders",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    let r = check(
        &ctx,
        "orders",
        &contract,
        &contract.objects[0],
        &CheckOptions::default(),
    )
    .await
    .unwrap();
    let sql = find(&r, "sql");
    assert!(!sql.passed);
    assert!(
        sql.message.as_ref().unwrap().contains("nope"),
        "{:?}",
        sql.message
    );
    // Missing columns fail the schema check and their column checks are not run.
    assert!(!find(&r, "email: present with type string").passed);
    assert!(r.checks.iter().all(|c| c.name != "channel: required"));
}
