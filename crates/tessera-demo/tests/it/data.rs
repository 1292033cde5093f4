//! The generated files: deterministic, sized by the scale, and readable with the columns
//! their source contracts declare.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tessera_demo::{DemoOptions, Progress, generate};

use crate::support;

fn run(dir: &Path, scale: f64, seed: u64) -> tessera_demo::GenerateReport {
    generate(dir, &DemoOptions { scale, seed }, &mut |_| {}).unwrap()
}

#[test]
fn the_same_scale_and_seed_give_the_same_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let ra = run(a.path(), 0.01, 7);
    let rb = run(b.path(), 0.01, 7);
    let rc = run(c.path(), 0.01, 8);
    assert_eq!(ra.files.len(), 6);
    for (((pa, na), (pb, nb)), (pc, _)) in ra.files.iter().zip(&rb.files).zip(&rc.files) {
        let rel = pa.strip_prefix(a.path()).unwrap();
        assert_eq!(rel, pb.strip_prefix(b.path()).unwrap());
        assert_eq!(na, nb);
        let bytes = std::fs::read(pa).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(pb).unwrap(),
            "{} differs between runs",
            rel.display()
        );
        assert_ne!(
            bytes,
            std::fs::read(pc).unwrap(),
            "{} is the same for another seed",
            rel.display()
        );
    }
    // A second run into the same folder replaces the files with the same bytes.
    let again = run(a.path(), 0.01, 7);
    assert_eq!(again, ra);
    for (p, _) in &ra.files {
        let rel = p.strip_prefix(a.path()).unwrap();
        assert_eq!(
            std::fs::read(p).unwrap(),
            std::fs::read(b.path().join(rel)).unwrap()
        );
    }
}

fn rows(report: &tessera_demo::GenerateReport, file: &str) -> u64 {
    report
        .files
        .iter()
        .find(|(p, _)| p.ends_with(file))
        .map(|(_, n)| *n)
        .unwrap()
}

#[test]
fn row_counts_follow_the_scale() {
    let dir = tempfile::tempdir().unwrap();
    let small = support::shared().1.clone();
    let larger = run(dir.path(), 0.03, support::SEED);
    use tessera_demo::paths::*;
    assert_eq!(rows(&small, CUSTOMERS), 500);
    assert_eq!(rows(&larger, CUSTOMERS), 1_500);
    assert_eq!(rows(&small, EVENTS), 10_000);
    assert_eq!(rows(&larger, EVENTS), 30_000);
    assert_eq!(rows(&small, ORDERS), 2_000, "the minimum");
    assert_eq!(rows(&larger, ORDERS), 4_500);
    // Campaigns and their spend do not scale.
    assert_eq!(rows(&small, CAMPAIGNS), 40);
    assert_eq!(rows(&larger, CAMPAIGNS), 40);
    assert_eq!(rows(&small, DAILY_SPEND), rows(&larger, DAILY_SPEND));
    assert!((3_000..6_000).contains(&rows(&small, DAILY_SPEND)));
    // About 1.5 consent records per customer.
    let per_customer = rows(&larger, CONSENTS) as f64 / 1_500.0;
    assert!((1.35..1.7).contains(&per_customer), "{per_customer}");
}

#[test]
fn progress_is_reported_per_table_up_to_its_total() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let report = generate(
        dir.path(),
        &DemoOptions {
            scale: 0.2,
            seed: 1,
        },
        &mut |p| seen.push(*p),
    )
    .unwrap();
    let steps: Vec<&str> = seen.iter().map(|p| p.step).fold(Vec::new(), |mut acc, s| {
        if acc.last() != Some(&s) {
            acc.push(s);
        }
        acc
    });
    assert_eq!(
        steps,
        [
            "ads campaigns",
            "crm customers",
            "web events",
            "ads daily spend",
            "orders",
            "consent"
        ]
    );
    for step in &steps {
        let ps: Vec<&Progress> = seen.iter().filter(|p| p.step == *step).collect();
        assert!(
            ps.windows(2).all(|w| w[0].rows_done <= w[1].rows_done),
            "{step}"
        );
        let last = ps.last().unwrap();
        assert_eq!(last.rows_done, last.rows_total, "{step}");
    }
    // 200 000 events come in several chunks, each reported.
    assert!(seen.iter().filter(|p| p.step == "web events").count() > 3);
    assert_eq!(rows(&report, tessera_demo::paths::EVENTS), 200_000);
}

/// The Arrow type a column of the given ODCS logical type is read as (as the engine does).
fn arrow_type(logical: Option<&str>) -> DataType {
    match logical {
        Some("integer") => DataType::Int64,
        Some("number") => DataType::Float64,
        Some("boolean") => DataType::Boolean,
        Some("date") => DataType::Date32,
        Some("timestamp") => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        _ => DataType::Utf8,
    }
}

fn read_all(path: &Path, format: &str, schema: SchemaRef) -> (SchemaRef, Vec<RecordBatch>) {
    let file = File::open(path).unwrap();
    match format {
        "csv" => {
            let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_header(true)
                .build(file)
                .unwrap();
            (schema, reader.map(|b| b.unwrap()).collect())
        }
        "json" | "ndjson" => {
            let reader = arrow::json::ReaderBuilder::new(schema.clone())
                .build(BufReader::new(file))
                .unwrap();
            (schema, reader.map(|b| b.unwrap()).collect())
        }
        "parquet" => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let file_schema = builder.schema().clone();
            let reader = builder.build().unwrap();
            (file_schema, reader.map(|b| b.unwrap()).collect())
        }
        other => panic!("unexpected format {other}"),
    }
}

#[test]
fn every_file_reads_back_with_the_columns_of_its_contract() {
    let (dir, report) = support::shared();
    let (mesh, _) = support::load(dir);
    let mesh = mesh.unwrap();
    for source in mesh.sources() {
        let server = source.contract.local_server().unwrap();
        let path = dir.join(server.path.as_deref().unwrap());
        let format = server.format.as_deref().unwrap();
        let declared: SchemaRef = Arc::new(Schema::new(
            source.contract.objects[0]
                .properties
                .iter()
                .map(|p| Field::new(&p.name, arrow_type(p.logical_type.as_deref()), true))
                .collect::<Vec<_>>(),
        ));
        let (schema, batches) = read_all(&path, format, declared.clone());
        let table = format!("{}.{}", source.domain, source.name);
        let got: Vec<(&str, &DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        let want: Vec<(&str, &DataType)> = declared
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        assert_eq!(got, want, "{table}: columns and types");
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        let reported = report.files.iter().find(|(p, _)| *p == path).unwrap().1;
        assert_eq!(n as u64, reported, "{table}: rows");
        if format == "csv" {
            let header = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string();
            let names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
            assert_eq!(header, names.join(","), "{table}: header");
        }
    }
}

#[test]
fn parquet_files_have_row_groups_and_snappy() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 0.3, 3);
    let file = File::open(dir.path().join(tessera_demo::paths::EVENTS)).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let meta = parquet::file::reader::FileReader::metadata(&reader);
    assert_eq!(meta.file_metadata().num_rows(), 300_000);
    assert!(
        meta.num_row_groups() >= 2,
        "{} row groups",
        meta.num_row_groups()
    );
    let column = meta.row_group(0).column(0);
    assert_eq!(column.compression(), parquet::basic::Compression::SNAPPY);
}
