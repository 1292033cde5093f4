//! `consent.raw_consents` (newline-delimited JSON): the consent platform's decision log.
//!
//! Every customer decided on `marketing` when signing up (72 % granted); 35 % also on
//! `analytics`, 10 % on `personalization`. One in ten marketing grants is withdrawn later
//! in the year: a later record with `granted: false`. About 1.5 records per customer.
//! Which records a customer has is a pure function of `(seed, customer_id)`, so the total
//! is known before writing and every chunk can be made on its own.
//!
//! Dirty rows (warnings in the source contract, cleaned by `consent.consents`): one record
//! in 1 000 lost its customer_id; one in 500 carries the retired purpose `newsletter`.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use rand::Rng;

use super::customers::Profile;
use super::{CHUNK_ROWS, field, timestamp};
use crate::calendar::{self, HOURS, MICROS_PER_DAY};
use crate::error::{DemoError, Result};
use crate::random::{self, Stream, Weighted, mix, unit_f64};

const SOURCES: [&str; 4] = ["web_form", "app", "email_link", "call_center"];
static SOURCE_TABLE: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::new(&[50.0, 25.0, 15.0, 10.0]));
static WITHDRAWAL_SOURCE_TABLE: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::new(&[30.0, 10.0, 60.0, 0.0]));
static HOUR_TABLE: LazyLock<Weighted> = LazyLock::new(|| Weighted::new(&HOURS));

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("customer_id", DataType::Int64),
        field("purpose", DataType::Utf8),
        field("granted", DataType::Boolean),
        field("ts", timestamp()),
        field("source", DataType::Utf8),
    ]))
}

/// A customer's decisions: a pure function of `(seed, customer_id)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decisions {
    pub marketing: bool,
    /// `Some(granted)` when the customer decided on the purpose.
    pub analytics: Option<bool>,
    pub personalization: Option<bool>,
    /// The day (Date32) a marketing grant was withdrawn, if it was.
    pub withdrawn_on: Option<i32>,
}

impl Decisions {
    pub fn of(seed: u64, customer_id: u64, signup: i32) -> Decisions {
        let h = random::key(seed, Stream::Consent, customer_id);
        let u = |k: u64| unit_f64(mix(h ^ k));
        let marketing = u(1) < 0.72;
        let first = calendar::first_day();
        let last = first + calendar::DAYS as i32 - 1;
        let from = signup.max(first) + 1;
        let withdrawn_on = (marketing && u(6) < 0.10 && from <= last)
            .then(|| from + ((last - from + 1) as f64 * u(7)) as i32);
        Decisions {
            marketing,
            analytics: (u(2) < 0.35).then(|| u(3) < 0.8),
            personalization: (u(4) < 0.10).then(|| u(5) < 0.6),
            withdrawn_on,
        }
    }

    pub fn records(&self) -> u64 {
        1 + self.analytics.is_some() as u64
            + self.personalization.is_some() as u64
            + self.withdrawn_on.is_some() as u64
    }
}

pub fn chunks(customers: u64) -> usize {
    customers.div_ceil(CHUNK_ROWS) as usize
}

/// Records per chunk of customers (a cheap pass over the hashes), so the total and the
/// position of every record are known before any chunk is made.
pub fn chunk_counts(seed: u64, customers: u64) -> Vec<u64> {
    (0..chunks(customers))
        .map(|c| {
            let start = c as u64 * CHUNK_ROWS;
            let end = (start + CHUNK_ROWS).min(customers);
            (start + 1..=end)
                .map(|id| Decisions::of(seed, id, Profile::of(seed, id).signup).records())
                .sum()
        })
        .collect()
}

/// The records of customers `chunk * CHUNK_ROWS + 1 ..`; `offset` is the global index of
/// the chunk's first record.
pub fn make_chunk(seed: u64, customers: u64, chunk: usize, offset: u64) -> Result<RecordBatch> {
    let start = chunk as u64 * CHUNK_ROWS;
    let end = (start + CHUNK_ROWS).min(customers);
    let mut rng = random::rng(seed, Stream::Consent, chunk as u64);
    let n = ((end - start) as usize) * 3 / 2 + 16;
    let mut id_col = Int64Builder::with_capacity(n);
    let mut purpose_col = StringBuilder::with_capacity(n, n * 10);
    let mut granted_col = BooleanBuilder::with_capacity(n);
    let mut ts_col = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut source_col = StringBuilder::with_capacity(n, n * 8);
    let mut j = offset;
    for id in start + 1..=end {
        let signup = Profile::of(seed, id).signup;
        let decisions = Decisions::of(seed, id, signup);
        let at = |day: i32, rng: &mut rand_chacha::ChaCha8Rng| {
            calendar::day_start_micros(day)
                + HOUR_TABLE.sample(rng) as i64 * 3_600_000_000
                + rng.random_range(0..3_000_000_000)
        };
        let t0 = at(signup, &mut rng);
        let source = SOURCES[SOURCE_TABLE.sample(&mut rng)];
        let mut records: Vec<(&str, bool, i64, &str)> =
            vec![("marketing", decisions.marketing, t0, source)];
        if let Some(granted) = decisions.analytics {
            records.push(("analytics", granted, t0 + 2_000_000, source));
        }
        if let Some(granted) = decisions.personalization {
            records.push(("personalization", granted, t0 + 5_000_000, source));
        }
        if let Some(day) = decisions.withdrawn_on {
            let ts = at(day, &mut rng).max(t0 + MICROS_PER_DAY);
            records.push((
                "marketing",
                false,
                ts,
                SOURCES[WITHDRAWAL_SOURCE_TABLE.sample(&mut rng)],
            ));
        }
        for (purpose, granted, ts, source) in records {
            id_col.append_option((j % 1000 != 321).then_some(id as i64));
            purpose_col.append_value(if j % 500 == 111 {
                "newsletter"
            } else {
                purpose
            });
            granted_col.append_value(granted);
            ts_col.append_value(ts);
            source_col.append_value(source);
            j += 1;
        }
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(id_col.finish()),
            Arc::new(purpose_col.finish()),
            Arc::new(granted_col.finish()),
            Arc::new(ts_col.finish()),
            Arc::new(source_col.finish()),
        ],
    )
    .map_err(|e| DemoError::Internal(format!("consent batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_and_a_half_records_per_customer() {
        let counts = chunk_counts(42, 20_000);
        let per_customer = counts.iter().sum::<u64>() as f64 / 20_000.0;
        assert!((1.4..1.65).contains(&per_customer), "{per_customer}");
    }

    #[test]
    fn withdrawals_come_after_the_grant() {
        for id in 1..5_000 {
            let signup = Profile::of(42, id).signup;
            let d = Decisions::of(42, id, signup);
            if let Some(day) = d.withdrawn_on {
                assert!(d.marketing && day > signup && day < calendar::first_day() + 365);
            }
        }
    }
}
