//! The source tables of the demo mesh, one module each, and the machinery they share:
//! sizes by scale, Arrow field helpers, grouping days into chunks, and the pipeline that
//! makes chunks on worker threads and writes them in order.
//!
//! ```text
//!  worker threads: chunk 0, 2, 4 … │ chunk 1, 3, 5 …     (each chunk seeded by its own unit)
//!                  └──────── bounded channels ───────┘
//!  writer thread:  chunk 0 ─▶ chunk 1 ─▶ chunk 2 … ─▶ Sink (.partial ─▶ renamed when done)
//!                  progress reported after each chunk
//! ```

pub mod ads;
pub mod consent;
pub mod customers;
pub mod events;
pub mod orders;

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, TimeUnit};

use crate::Progress;
use crate::error::{DemoError, Result};
use crate::sink::Sink;

/// Rows per chunk (a record batch, and the unit of progress).
pub const CHUNK_ROWS: u64 = 64 * 1024;

/// How many rows each scaled table gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub customers: u64,
    pub events: u64,
    pub orders: u64,
}

impl Sizes {
    /// Scale 1: 50 000 customers, 1 000 000 web events, 150 000 orders; with minimums so
    /// that tiny scales still fill every table (and every dirty-row kind occurs).
    pub fn of(scale: f64) -> Sizes {
        let n = |per_unit: f64, min: u64| ((per_unit * scale).round() as u64).max(min);
        Sizes {
            customers: n(50_000.0, 500),
            events: n(1_000_000.0, 10_000),
            orders: n(150_000.0, 2_000),
        }
    }

    /// The size of the business relative to scale 1 (by orders, minimums included):
    /// what ad budgets are multiplied by.
    pub fn business(&self) -> f64 {
        self.orders as f64 / 150_000.0
    }
}

/// A nullable Arrow field: every column of a source is nullable, as the engine reads them;
/// the contracts say which must not be null.
pub fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

/// Timestamps are microseconds in UTC: what the engine reads `timestamp` columns as.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

/// Groups consecutive days into chunks of at least [`CHUNK_ROWS`] rows (the last may be
/// smaller). Depends only on the counts, so the grouping is the same on every run.
pub fn group_days(counts: &[u64]) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut rows = 0;
    for (day, &n) in counts.iter().enumerate() {
        rows += n;
        if rows >= CHUNK_ROWS {
            groups.push(start..day + 1);
            start = day + 1;
            rows = 0;
        }
    }
    if start < counts.len() {
        groups.push(start..counts.len());
    }
    groups
}

/// Prefix sums: the global index of each unit's first row, and the total.
pub fn offsets(counts: &[u64]) -> Vec<u64> {
    let mut acc = 0;
    counts
        .iter()
        .map(|n| {
            let at = acc;
            acc += n;
            at
        })
        .collect()
}

/// Makes chunks `0..chunks` with `make` on worker threads and writes them to `sink` in
/// order, reporting progress after each. At most a few chunks are in memory at once.
pub fn write_chunks(
    sink: &mut Sink,
    chunks: usize,
    make: &(dyn Fn(usize) -> Result<RecordBatch> + Sync),
    step: &'static str,
    rows_total: u64,
    progress: &mut dyn FnMut(&Progress),
) -> Result<()> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(chunks.max(1));
    std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Result<RecordBatch>>(2);
            receivers.push(rx);
            scope.spawn(move || {
                for chunk in (w..chunks).step_by(workers) {
                    let made = make(chunk);
                    let failed = made.is_err();
                    // The writer stopped (an error): stop making chunks.
                    if tx.send(made).is_err() || failed {
                        break;
                    }
                }
            });
        }
        let mut rows_done = 0;
        progress(&Progress {
            step,
            rows_done,
            rows_total,
        });
        for chunk in 0..chunks {
            let batch = receivers[chunk % workers]
                .recv()
                .map_err(|_| DemoError::Internal(format!("the {step} generator stopped")))??;
            sink.write(&batch)?;
            rows_done += batch.num_rows() as u64;
            progress(&Progress {
                step,
                rows_done,
                rows_total,
            });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_group_into_chunks_of_whole_days() {
        let counts = vec![30_000; 10];
        let groups = group_days(&counts);
        assert_eq!(groups, vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(group_days(&[5, 5]), vec![0..2]);
        assert_eq!(offsets(&[3, 0, 2]), vec![0, 3, 3]);
    }

    #[test]
    fn sizes_scale_with_minimums() {
        let one = Sizes::of(1.0);
        assert_eq!(
            (one.customers, one.events, one.orders),
            (50_000, 1_000_000, 150_000)
        );
        let ten = Sizes::of(10.0);
        assert_eq!(ten.events, 10_000_000);
        let tiny = Sizes::of(0.0001);
        assert_eq!(
            (tiny.customers, tiny.events, tiny.orders),
            (500, 10_000, 2_000)
        );
    }
}
