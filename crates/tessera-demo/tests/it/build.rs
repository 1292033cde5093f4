//! The whole mesh built with DataFusion over the generated data, the way the engine
//! builds it: each source registered as `<domain>.<source>` and read with its contract's
//! columns, each port's SQL run in dependency order and registered as `<domain>.<port>`.
//! Every product contract must pass; every source contract must catch its dirty rows as
//! warnings, and only those.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use tessera_model::mesh::InputTarget;
use tessera_model::{Contract, Mesh};

use crate::checks::{self, Outcome};
use crate::support;

fn source_schema(contract: &Contract) -> Schema {
    Schema::new(
        contract.objects[0]
            .properties
            .iter()
            .map(|p| {
                let dt = match p.logical_type.as_deref() {
                    Some("integer") => DataType::Int64,
                    Some("number") => DataType::Float64,
                    Some("boolean") => DataType::Boolean,
                    Some("date") => DataType::Date32,
                    Some("timestamp") => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                    }
                    _ => DataType::Utf8,
                };
                Field::new(&p.name, dt, true)
            })
            .collect::<Vec<_>>(),
    )
}

async fn session(mesh: &Mesh, dir: &std::path::Path) -> SessionContext {
    let ctx = SessionContext::new();
    let catalog = ctx.catalog("datafusion").unwrap();
    for d in mesh.domains.keys() {
        catalog
            .register_schema(d.as_str(), Arc::new(MemorySchemaProvider::new()))
            .unwrap();
    }
    for s in mesh.sources() {
        let server = s.contract.local_server().unwrap();
        let path = dir
            .join(server.path.as_deref().unwrap())
            .to_string_lossy()
            .to_string();
        let table = format!("{}.{}", s.domain, s.name);
        let schema = source_schema(&s.contract);
        match server.format.as_deref().unwrap() {
            "csv" => ctx
                .register_csv(
                    &table,
                    &path,
                    CsvReadOptions::new()
                        .has_header(true)
                        .schema(&schema)
                        .file_extension(""),
                )
                .await
                .unwrap(),
            "parquet" => ctx
                .register_parquet(
                    &table,
                    &path,
                    ParquetReadOptions::default().file_extension(""),
                )
                .await
                .unwrap(),
            _ => ctx
                .register_json(
                    &table,
                    &path,
                    JsonReadOptions::default()
                        .schema(&schema)
                        .file_extension(""),
                )
                .await
                .unwrap(),
        }
    }
    ctx
}

async fn collect(ctx: &SessionContext, sql: &str, what: &str) -> (Arc<Schema>, Vec<RecordBatch>) {
    let df = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{what} does not plan: {e}"));
    let planned = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{what} fails: {e}"));
    // The batches' own schema: the plan's may differ in nullability.
    let schema = batches.first().map_or(planned, |b| b.schema());
    (schema, batches)
}

/// Checks `batches` against `contract` in a session that holds only them.
async fn check(
    schema: Arc<Schema>,
    batches: Vec<RecordBatch>,
    contract: &Contract,
) -> Vec<Outcome> {
    let ctx = SessionContext::new();
    let table = MemTable::try_new(schema, vec![batches]).unwrap();
    ctx.register_table(checks::TABLE, Arc::new(table)).unwrap();
    checks::check(&ctx, contract).await
}

fn describe(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| format!("  {} (measured {:?})", o.name, o.measured))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_port_builds_and_passes_its_contract() {
    let (dir, _) = support::shared();
    let (mesh, diags) = support::load(dir);
    assert!(diags.is_empty(), "{}", support::render(&diags));
    let mesh = mesh.unwrap();
    let ctx = session(&mesh, dir).await;

    // Build products once all their inputs are built (sources are there from the start).
    let mut built: BTreeSet<String> = mesh
        .sources()
        .map(|s| format!("{}.{}", s.domain, s.name))
        .collect();
    let mut pending: Vec<_> = mesh.products().collect();
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for product in pending {
            let inputs: Vec<InputTarget> = mesh
                .inputs_of(product)
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            if !inputs.iter().all(|t| built.contains(&t.table())) {
                waiting.push(product);
                continue;
            }
            for port in &product.ports {
                let table = format!("{}.{}", product.domain, port.name);
                let sql = &port.sql.as_ref().unwrap().text;
                let (schema, batches) = collect(&ctx, sql, &table).await;
                rows.insert(table.clone(), batches.iter().map(|b| b.num_rows()).sum());
                let contract = port.contract.as_ref().unwrap();
                let outcomes = check(schema.clone(), batches.clone(), contract).await;
                let failed: Vec<Outcome> = outcomes.into_iter().filter(|o| !o.passed).collect();
                assert!(
                    failed.is_empty(),
                    "{table} fails its contract:\n{}",
                    describe(&failed)
                );
                let mem = MemTable::try_new(schema, vec![batches]).unwrap();
                ctx.register_table(table.as_str(), Arc::new(mem)).unwrap();
                built.insert(table);
            }
        }
        assert!(
            waiting.len() < before,
            "products wait for inputs that are never built"
        );
        pending = waiting;
    }
    assert_eq!(rows.len(), 10);
    for (table, n) in &rows {
        assert!(*n > 0, "{table} is empty");
    }
    // Every CRM customer is in the 360 and in exactly one segment.
    assert_eq!(rows["crm.customers"], 500);
    assert_eq!(rows["marketing.customer_360"], 500);
    assert_eq!(rows["marketing.segments"], 500);
}

/// Source contracts report the dirty rows as warnings — each kind the generator makes —
/// and nothing else fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_contracts_catch_the_dirty_rows_as_warnings() {
    let (dir, _) = support::shared();
    let (mesh, _) = support::load(dir);
    let mesh = mesh.unwrap();
    let ctx = session(&mesh, dir).await;
    let mut caught: BTreeMap<String, f64> = BTreeMap::new();
    for s in mesh.sources() {
        let table = format!("{}.{}", s.domain, s.name);
        let (schema, batches) = collect(&ctx, &format!("SELECT * FROM {table}"), &table).await;
        let outcomes = check(schema, batches, &s.contract).await;
        let errors: Vec<Outcome> = outcomes
            .iter()
            .filter(|o| o.blocking && !o.passed)
            .cloned()
            .collect();
        assert!(
            errors.is_empty(),
            "{table} fails blocking checks:\n{}",
            describe(&errors)
        );
        for o in outcomes.iter().filter(|o| !o.passed) {
            caught.insert(
                format!("{table}: {}", o.name),
                o.measured.unwrap_or(f64::NAN),
            );
        }
    }
    let expected: &[(&str, f64, f64)] = &[
        // customers: 500 rows; malformed 1 in 200, missing 1 in 250, country 1 in 333, stage 1 in 200
        ("crm.raw_customers: email: email is present", 0.3, 0.5),
        (
            "crm.raw_customers: email: email looks like an address",
            3.0,
            30.0,
        ),
        (
            "crm.raw_customers: country: country is a known market",
            1.0,
            2.0,
        ),
        (
            "crm.raw_customers: lifecycle_stage: lifecycle stage is spelt as listed",
            2.0,
            3.0,
        ),
        // events: 10 000 rows; a retry 1 in 1 000, a foreign channel 1 in 500
        (
            "web.raw_events: event_id: events are delivered once",
            8.0,
            10.0,
        ),
        (
            "web.raw_events: channel: channel is in the tagging plan",
            20.0,
            20.0,
        ),
        ("ads.raw_campaigns: flights end after they start", 1.0, 1.0),
        (
            "ads.raw_daily_spend: spend: no refunds booked as spend",
            5.0,
            20.0,
        ),
        (
            "ads.raw_daily_spend: one row per campaign and day",
            10.0,
            40.0,
        ),
        (
            "ads.raw_daily_spend: clicks never exceed impressions",
            3.0,
            10.0,
        ),
        // orders: 2 000 rows; a replay 1 in 1 000, a bad amount 1 in 333, CHF 1 in 1 000, case 1 in 200
        (
            "orders.raw_orders: order_id: orders are replicated once",
            1.0,
            2.0,
        ),
        ("orders.raw_orders: amount: amounts are positive", 5.0, 7.0),
        ("orders.raw_orders: currency: invalidValues", 1.0, 2.0),
        ("orders.raw_orders: status: invalidValues", 9.0, 10.0),
        // consent: ~760 records; no customer 1 in 1 000, a retired purpose 1 in 500
        (
            "consent.raw_consents: customer_id: every decision has its customer",
            1.0,
            1.0,
        ),
        ("consent.raw_consents: purpose: invalidValues", 1.0, 2.0),
    ];
    let names: BTreeSet<&str> = caught.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = expected.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(names, want, "warnings that fired: {caught:#?}");
    for (name, lo, hi) in expected {
        let m = caught[*name];
        assert!(
            (*lo..=*hi).contains(&m),
            "{name}: measured {m}, expected {lo}..={hi}"
        );
    }
}

/// The cleaning in the products' SQL matters: the raw CRM export, checked against the
/// product's contract, fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_contract_rejects_the_raw_data() {
    let (dir, _) = support::shared();
    let (mesh, _) = support::load(dir);
    let mesh = mesh.unwrap();
    let ctx = session(&mesh, dir).await;
    let contract = mesh
        .products()
        .find(|p| p.domain.as_str() == "crm")
        .and_then(|p| p.ports[0].contract.clone())
        .unwrap();
    let (schema, batches) = collect(&ctx, "SELECT * FROM crm.raw_customers", "raw customers").await;
    let failed: BTreeSet<String> = check(schema, batches, &contract)
        .await
        .into_iter()
        .filter(|o| o.blocking && !o.passed)
        .map(|o| o.name)
        .collect();
    for name in [
        "email: pattern",
        "country: invalidValues",
        "lifecycle_stage: invalidValues",
    ] {
        assert!(
            failed.contains(name),
            "{name} should fail; failed: {failed:?}"
        );
    }
}
