//! Tessera's marketing demo mesh: its files, and a deterministic generator of its source
//! data.
//!
//! The mesh (`examples/marketing/` in the repository, embedded here) has five
//! source-aligned domains — `crm`, `web`, `ads`, `orders`, `consent` — each with source
//! contracts and a product that cleans and types them, and the consumer-aligned
//! `marketing` domain with `customer_360`, `attribution`, `segments` and `mmm_weekly`.
//!
//! ```text
//!  write_mesh(dir)                 generate(dir, {scale, seed}, progress)
//!   mesh.yaml, domains/…, …          ads campaigns ──▶ data/ads/raw_campaigns.json      (40)
//!   (never overwrites a file)        crm customers ──▶ data/crm/raw_customers.csv       (50k × scale)
//!                                    web events ─────▶ data/web/raw_events.parquet      (1M × scale)
//!                                    ads spend ──────▶ data/ads/raw_daily_spend.csv     (~3k)
//!                                    orders ─────────▶ data/orders/raw_orders.parquet   (150k × scale)
//!                                    consent ────────▶ data/consent/raw_consents.ndjson (~1.5 per customer)
//! ```
//!
//! The contract of [`generate`]:
//! - **Deterministic**: the bytes of every file depend only on `(scale, seed)` — not on
//!   the machine, the number of threads, or the time of day. The data covers the year
//!   2025 (UTC). Different seeds give different data.
//! - **Where the contracts say**: exactly the paths and formats of the source contracts'
//!   `local` servers, with the columns (names, order, Arrow types) the contracts declare.
//! - **Streaming**: tables are made in chunks of 64 Ki rows on worker threads and written
//!   as they come; memory does not grow with the scale. Each file is written under a
//!   temporary name and renamed into place when complete.
//! - **Realistic, and a little dirty**: skewed channels, countries and devices; weekly and
//!   yearly seasonality with a Black Friday peak; Pareto-distributed buyers; web events
//!   and orders of real customers who had signed up by then; campaign ids that exist and
//!   were running. Each source also has a few defective rows at fixed rates (see each
//!   table's module), which its source contract reports as warnings and the products'
//!   SQL cleans, so the whole mesh builds with every product contract passing.

mod calendar;
mod error;
mod mesh;
mod random;
mod sink;
mod tables;

use std::path::{Path, PathBuf};

pub use error::{DemoError, Result};
pub use mesh::{FILES, write_mesh};

use sink::{Format, Sink};
use tables::{Sizes, ads, consent, customers, events, orders, write_chunks};

/// The largest scale accepted (a billion web events).
pub const MAX_SCALE: f64 = 1000.0;

/// Where each source file goes, relative to the mesh root: the `path` of its contract's
/// `local` server.
pub mod paths {
    pub const CUSTOMERS: &str = "data/crm/raw_customers.csv";
    pub const EVENTS: &str = "data/web/raw_events.parquet";
    pub const CAMPAIGNS: &str = "data/ads/raw_campaigns.json";
    pub const DAILY_SPEND: &str = "data/ads/raw_daily_spend.csv";
    pub const ORDERS: &str = "data/orders/raw_orders.parquet";
    pub const CONSENTS: &str = "data/consent/raw_consents.ndjson";
}

/// How much data to make, and from which seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// 1.0 makes about 1 000 000 web events, 50 000 customers and 150 000 orders; the
    /// sizes grow linearly (with minimums for small scales). In (0, [`MAX_SCALE`]].
    pub scale: f64,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            scale: 1.0,
            seed: 42,
        }
    }
}

/// Where generation is: reported before the first and after every chunk of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The table being written, e.g. `"web events"`.
    pub step: &'static str,
    pub rows_done: u64,
    pub rows_total: u64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenerateReport {
    /// Every file (`dir` joined with its path under `data/`) and its number of rows.
    pub files: Vec<(PathBuf, u64)>,
}

/// Writes the source data of the demo mesh under `dir/data/…`, replacing files of a
/// previous run. See the crate docs for the guarantees.
pub fn generate(
    dir: &Path,
    opts: &DemoOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<GenerateReport> {
    if !(opts.scale > 0.0 && opts.scale <= MAX_SCALE) {
        return Err(DemoError::InvalidScale(opts.scale));
    }
    let seed = opts.seed;
    let sizes = Sizes::of(opts.scale);
    let mut report = GenerateReport::default();

    // Campaigns: needed by the events, which carry their ids.
    let campaigns = ads::campaigns(seed, sizes.business());
    let batch = ads::campaign_batch(&campaigns)?;
    report.files.push(write_one(
        dir,
        paths::CAMPAIGNS,
        Format::Ndjson,
        "ads campaigns",
        &batch,
        progress,
    )?);

    report.files.push(write_table(
        dir,
        paths::CUSTOMERS,
        Format::Csv,
        customers::schema(),
        "crm customers",
        sizes.customers,
        customers::chunks(sizes.customers),
        &|c| customers::make_chunk(seed, sizes.customers, c),
        progress,
    )?);

    let plan = events::Plan::new(seed, sizes.customers, sizes.events, &campaigns);
    report.files.push(write_table(
        dir,
        paths::EVENTS,
        Format::Parquet,
        events::schema(),
        "web events",
        sizes.events,
        plan.groups.len(),
        &|c| plan.make_chunk(c),
        progress,
    )?);

    let batch = ads::spend_batch(seed, &campaigns)?;
    report.files.push(write_one(
        dir,
        paths::DAILY_SPEND,
        Format::Csv,
        "ads daily spend",
        &batch,
        progress,
    )?);

    let plan = orders::Plan::new(seed, sizes.customers, sizes.orders);
    report.files.push(write_table(
        dir,
        paths::ORDERS,
        Format::Parquet,
        orders::schema(),
        "orders",
        sizes.orders,
        plan.groups.len(),
        &|c| plan.make_chunk(c),
        progress,
    )?);

    let counts = consent::chunk_counts(seed, sizes.customers);
    let offsets = tables::offsets(&counts);
    report.files.push(write_table(
        dir,
        paths::CONSENTS,
        Format::Ndjson,
        consent::schema(),
        "consent",
        counts.iter().sum(),
        counts.len(),
        &|c| consent::make_chunk(seed, sizes.customers, c, offsets[c]),
        progress,
    )?);

    Ok(report)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call per table, each argument named at the call"
)]
fn write_table(
    dir: &Path,
    rel: &str,
    format: Format,
    schema: arrow::datatypes::SchemaRef,
    step: &'static str,
    rows_total: u64,
    chunks: usize,
    make: &(dyn Fn(usize) -> Result<arrow::array::RecordBatch> + Sync),
    progress: &mut dyn FnMut(&Progress),
) -> Result<(PathBuf, u64)> {
    let mut sink = Sink::create(&dir.join(rel), format, schema)?;
    write_chunks(&mut sink, chunks, make, step, rows_total, progress)?;
    sink.finish()
}

fn write_one(
    dir: &Path,
    rel: &str,
    format: Format,
    step: &'static str,
    batch: &arrow::array::RecordBatch,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(PathBuf, u64)> {
    let rows = batch.num_rows() as u64;
    let mut sink = Sink::create(&dir.join(rel), format, batch.schema())?;
    sink.write(batch)?;
    progress(&Progress {
        step,
        rows_done: rows,
        rows_total: rows,
    });
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_scales_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1000.5] {
            let err =
                generate(dir.path(), &DemoOptions { scale, seed: 1 }, &mut |_| {}).unwrap_err();
            assert!(matches!(err, DemoError::InvalidScale(_)), "{scale}: {err}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_defaults_are_scale_one_seed_42() {
        assert_eq!(
            DemoOptions::default(),
            DemoOptions {
                scale: 1.0,
                seed: 42
            }
        );
    }
}
