//! `orders.raw_orders` (Parquet): the shop's orders through the year, ordered by time.
//!
//! Volume follows the calendar (Black Friday is the busiest day); buyers are customers who
//! had signed up by then, drawn by a Pareto-distributed propensity, so a fifth of the
//! buyers place most orders; amounts are log-normal (median about 45 EUR) in the buyer's
//! currency. Orders of the last days of the year are mostly not delivered yet.
//!
//! Dirty rows (warnings in the source contract, cleaned by `orders.orders`): one in 1 000
//! is a replay of the order before it (same order_id); one in 333 is a correction booked
//! as a non-positive amount; one in 1 000 is in a currency the shop does not sell in
//! (CHF); one in 200 has its status in other letter case.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};

use super::customers::{self, Profile};
use super::events::times_of_day;
use super::{field, timestamp};
use crate::calendar;
use crate::error::{DemoError, Result};
use crate::random::{self, Stream, Weighted, lognormal};

const STATUSES: [&str; 5] = ["placed", "shipped", "delivered", "returned", "cancelled"];
static STATUS_TABLE: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::new(&[4.0, 8.0, 72.0, 9.0, 7.0]));
/// In the last week of the year, most orders are still on their way.
static RECENT_STATUS_TABLE: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::new(&[30.0, 40.0, 25.0, 1.0, 4.0]));

/// EUR per unit of each currency: the planning rates `orders.orders` converts with.
pub fn eur_rate(currency: &str) -> f64 {
    match currency {
        "USD" => 0.92,
        "GBP" => 1.17,
        _ => 1.0,
    }
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("order_id", DataType::Int64),
        field("customer_id", DataType::Int64),
        field("ordered_at", timestamp()),
        field("amount", DataType::Float64),
        field("currency", DataType::Utf8),
        field("status", DataType::Utf8),
    ]))
}

pub struct Plan {
    pub seed: u64,
    pub customers: u64,
    pub counts: Vec<u64>,
    pub offsets: Vec<u64>,
    pub groups: Vec<std::ops::Range<usize>>,
}

impl Plan {
    pub fn new(seed: u64, customers: u64, orders: u64) -> Self {
        let counts = random::apportion(orders, &calendar::order_weights());
        Plan {
            seed,
            customers,
            offsets: super::offsets(&counts),
            groups: super::group_days(&counts),
            counts,
        }
    }

    pub fn make_chunk(&self, chunk: usize) -> Result<RecordBatch> {
        let days = self.groups[chunk].clone();
        let n: usize = days.clone().map(|d| self.counts[d] as usize).sum();
        let mut id_col = Int64Builder::with_capacity(n);
        let mut customer_col = Int64Builder::with_capacity(n);
        let mut ts_col = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut amount_col = Float64Builder::with_capacity(n);
        let mut currency_col = StringBuilder::with_capacity(n, n * 3);
        let mut status_col = StringBuilder::with_capacity(n, n * 9);
        for d in days {
            let day = calendar::day(d);
            let mut rng = random::rng(self.seed, Stream::Orders, d as u64);
            let times = times_of_day(day, self.counts[d] as usize, &mut rng);
            let statuses = if d >= calendar::DAYS - 7 {
                &*RECENT_STATUS_TABLE
            } else {
                &*STATUS_TABLE
            };
            let mut prev: Option<(Row, i64)> = None;
            for (k, &ts) in times.iter().enumerate() {
                let i = self.offsets[d] + k as u64;
                let (row, ts) = match prev {
                    // Replication replayed the previous row.
                    Some(previous) if i % 1000 == 750 => previous,
                    _ => {
                        let customer = customers::buyer(self.seed, self.customers, day, &mut rng);
                        let currency = Profile::of(self.seed, customer).currency();
                        let eur = lognormal(&mut rng, 45.0, 0.75).clamp(5.0, 5_000.0);
                        let mut amount = (eur / eur_rate(currency) * 100.0).round() / 100.0;
                        if i % 333 == 100 {
                            // A correction: a negative amount, or zero.
                            amount = if (i / 333).is_multiple_of(2) {
                                -amount
                            } else {
                                0.0
                            };
                        }
                        let row = Row {
                            id: i as i64 + 1,
                            customer,
                            amount,
                            currency: if i % 1000 == 500 { "CHF" } else { currency },
                            status: statuses.sample(&mut rng),
                            status_case: if i % 200 == 7 { 1 + (i / 200) % 2 } else { 0 },
                        };
                        (row, ts)
                    }
                };
                id_col.append_value(row.id);
                customer_col.append_value(row.customer as i64);
                ts_col.append_value(ts);
                amount_col.append_value(row.amount);
                currency_col.append_value(row.currency);
                let status = STATUSES[row.status];
                match row.status_case {
                    0 => status_col.append_value(status),
                    1 => status_col.append_value(status.to_ascii_uppercase()),
                    _ => {
                        let mut s = status.to_string();
                        s[..1].make_ascii_uppercase();
                        status_col.append_value(s);
                    }
                }
                prev = Some((row, ts));
            }
        }
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(id_col.finish()),
                Arc::new(customer_col.finish()),
                Arc::new(ts_col.finish()),
                Arc::new(amount_col.finish()),
                Arc::new(currency_col.finish()),
                Arc::new(status_col.finish()),
            ],
        )
        .map_err(|e| DemoError::Internal(format!("orders batch: {e}")))
    }
}

#[derive(Clone, Copy)]
struct Row {
    id: i64,
    customer: u64,
    amount: f64,
    currency: &'static str,
    /// Index into [`STATUSES`].
    status: usize,
    /// 0: as is; 1: upper case; 2: capitalised.
    status_case: u64,
}
