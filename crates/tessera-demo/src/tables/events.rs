//! `web.raw_events` (Parquet): page views through the year, ordered by time.
//!
//! Volume follows the calendar's weekly and yearly rhythm and the hours of the day. About
//! a quarter of visits are anonymous; the rest belong to customers who had signed up by
//! then, weighted by how active they are. Visits from paid channels mostly carry a
//! campaign of that channel that was running that day.
//!
//! Dirty rows (caught as warnings by the source contract, cleaned by `web.events`): one in
//! 1 000 is a retry of the event before it (same event_id); one in 500 has a channel value
//! outside the tagging plan.

use std::sync::{Arc, LazyLock};

use arrow::array::{Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use rand::Rng;

use super::ads::{Campaign, PAID_CHANNELS};
use super::{customers, field, timestamp};
use crate::calendar::{self, DAYS, HOURS};
use crate::error::{DemoError, Result};
use crate::random::{self, Stream, Weighted};

/// Every channel and its share of visits.
pub const CHANNELS: [(&str, f64); 6] = [
    ("search", 0.35),
    ("social", 0.25),
    ("email", 0.15),
    ("display", 0.10),
    ("affiliate", 0.08),
    ("direct", 0.07),
];

/// Channel values outside the tagging plan, as the tag manager sometimes sends them.
const DIRTY_CHANNELS: [&str; 5] = ["Search ", "SOCIAL", "tiktok", "(not set)", "newsletter"];

const DEVICES: [(&str, f64); 3] = [("mobile", 0.55), ("desktop", 0.38), ("tablet", 0.07)];

/// Share of visits by visitors who are not logged in.
const ANONYMOUS: f64 = 0.27;
/// Share of visits from a paid channel that carry a campaign.
const WITH_CAMPAIGN: f64 = 0.8;

static CHANNEL_TABLE: LazyLock<Weighted> = LazyLock::new(|| Weighted::new(&CHANNELS.map(|c| c.1)));
static DEVICE_TABLE: LazyLock<Weighted> = LazyLock::new(|| Weighted::new(&DEVICES.map(|d| d.1)));
static HOUR_TABLE: LazyLock<Weighted> = LazyLock::new(|| Weighted::new(&HOURS));

/// The site's pages, most visited first, and their Zipf weights.
static PAGES: LazyLock<(Vec<String>, Weighted)> = LazyLock::new(|| {
    let mut pages: Vec<String> = [
        "/",
        "/search",
        "/cart",
        "/checkout",
        "/checkout/confirmation",
        "/account",
        "/stores",
        "/help",
        "/blog",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let categories = [
        "shoes",
        "jackets",
        "shirts",
        "trousers",
        "dresses",
        "bags",
        "accessories",
        "outdoor",
    ];
    for c in categories {
        pages.push(format!("/c/{c}"));
    }
    let products = [
        "trail-runner-2",
        "city-sneaker",
        "rain-jacket",
        "down-parka",
        "linen-shirt",
        "oxford-shirt",
        "chino-slim",
        "denim-straight",
        "summer-dress",
        "wool-coat",
        "leather-belt",
        "canvas-tote",
        "weekender-bag",
        "merino-scarf",
        "sun-hat",
        "hiking-boot",
        "fleece-zip",
        "rain-boot",
        "running-short",
        "travel-backpack",
    ];
    for p in products {
        pages.push(format!("/p/{p}"));
    }
    for b in [
        "how-to-size-shoes",
        "packing-list",
        "care-guide",
        "spring-trends",
    ] {
        pages.push(format!("/blog/{b}"));
    }
    let weights: Vec<f64> = (0..pages.len())
        .map(|r| 1.0 / ((r + 1) as f64).powf(0.9))
        .collect();
    let table = Weighted::new(&weights);
    (pages, table)
});

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("event_id", DataType::Int64),
        field("customer_id", DataType::Int64),
        field("ts", timestamp()),
        field("channel", DataType::Utf8),
        field("campaign_id", DataType::Utf8),
        field("page", DataType::Utf8),
        field("device", DataType::Utf8),
    ]))
}

/// Events per day of the year, adding up to `total`.
pub fn day_counts(total: u64) -> Vec<u64> {
    random::apportion(total, &calendar::visit_weights())
}

/// For each day and paid channel, the campaigns running (indexes into the campaign list).
pub fn running(campaigns: &[Campaign]) -> Vec<[Vec<u16>; 5]> {
    let mut table: Vec<[Vec<u16>; 5]> = (0..DAYS).map(|_| Default::default()).collect();
    for (i, c) in campaigns.iter().enumerate() {
        for running in &mut table[c.start..=c.end] {
            running[c.channel].push(i as u16);
        }
    }
    table
}

/// Sorted times of `n` events on day `day` (Date32), in microseconds since the epoch.
pub fn times_of_day(day: i32, n: usize, rng: &mut impl Rng) -> Vec<i64> {
    let start = calendar::day_start_micros(day);
    let mut times: Vec<i64> = (0..n)
        .map(|_| {
            let hour = HOUR_TABLE.sample(rng) as i64;
            start + hour * 3_600_000_000 + rng.random_range(0..3_600_000_000)
        })
        .collect();
    times.sort_unstable();
    times
}

/// What the generator needs to make any chunk of events.
pub struct Plan<'a> {
    pub seed: u64,
    pub customers: u64,
    pub counts: Vec<u64>,
    pub offsets: Vec<u64>,
    pub groups: Vec<std::ops::Range<usize>>,
    pub campaigns: &'a [Campaign],
    pub running: Vec<[Vec<u16>; 5]>,
}

impl<'a> Plan<'a> {
    pub fn new(seed: u64, customers: u64, events: u64, campaigns: &'a [Campaign]) -> Self {
        let counts = day_counts(events);
        Plan {
            seed,
            customers,
            offsets: super::offsets(&counts),
            groups: super::group_days(&counts),
            counts,
            campaigns,
            running: running(campaigns),
        }
    }

    /// The events of the days of group `chunk`.
    pub fn make_chunk(&self, chunk: usize) -> Result<RecordBatch> {
        let days = self.groups[chunk].clone();
        let n: usize = days.clone().map(|d| self.counts[d] as usize).sum();
        let mut id_col = Int64Builder::with_capacity(n);
        let mut customer_col = Int64Builder::with_capacity(n);
        let mut ts_col = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut channel_col = StringBuilder::with_capacity(n, n * 7);
        let mut campaign_col = StringBuilder::with_capacity(n, n * 7);
        let mut page_col = StringBuilder::with_capacity(n, n * 12);
        let mut device_col = StringBuilder::with_capacity(n, n * 7);
        let (pages, page_table) = &*PAGES;

        for d in days {
            let day = calendar::day(d);
            let mut rng = random::rng(self.seed, Stream::Events, d as u64);
            let times = times_of_day(day, self.counts[d] as usize, &mut rng);
            // The previous event of the day and its time, for retries.
            let mut prev: Option<(Row, i64)> = None;
            for (k, &ts) in times.iter().enumerate() {
                let i = self.offsets[d] + k as u64;
                let (row, ts) = match prev {
                    // The collector retried: the same event again.
                    Some(previous) if i % 1000 == 999 => previous,
                    _ => {
                        let customer = if rng.random::<f64>() < ANONYMOUS {
                            None
                        } else {
                            customers::visitor(self.seed, self.customers, day, &mut rng)
                        };
                        let c = CHANNEL_TABLE.sample(&mut rng);
                        let mut channel = CHANNELS[c].0;
                        let mut campaign = None;
                        if i % 500 == 250 {
                            channel = DIRTY_CHANNELS[((i / 500) % 5) as usize];
                        } else if c < PAID_CHANNELS.len() && rng.random::<f64>() < WITH_CAMPAIGN {
                            let live = &self.running[d][c];
                            if !live.is_empty() {
                                campaign = Some(live[rng.random_range(0..live.len())] as usize);
                            }
                        }
                        let row = Row {
                            id: i as i64 + 1,
                            customer,
                            channel,
                            campaign,
                            page: page_table.sample(&mut rng),
                            device: DEVICE_TABLE.sample(&mut rng),
                        };
                        (row, ts)
                    }
                };
                id_col.append_value(row.id);
                customer_col.append_option(row.customer.map(|c| c as i64));
                ts_col.append_value(ts);
                channel_col.append_value(row.channel);
                campaign_col.append_option(row.campaign.map(|c| self.campaigns[c].id.as_str()));
                page_col.append_value(&pages[row.page]);
                device_col.append_value(DEVICES[row.device].0);
                prev = Some((row, ts));
            }
        }
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(id_col.finish()),
                Arc::new(customer_col.finish()),
                Arc::new(ts_col.finish()),
                Arc::new(channel_col.finish()),
                Arc::new(campaign_col.finish()),
                Arc::new(page_col.finish()),
                Arc::new(device_col.finish()),
            ],
        )
        .map_err(|e| DemoError::Internal(format!("events batch: {e}")))
    }
}

/// One event, before it becomes columns.
#[derive(Clone, Copy)]
struct Row {
    id: i64,
    customer: Option<u64>,
    channel: &'static str,
    /// Index into the campaign list.
    campaign: Option<usize>,
    /// Index into the page list.
    page: usize,
    /// Index into [`DEVICES`].
    device: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_calendar() {
        let counts = day_counts(1_000_000);
        assert_eq!(counts.iter().sum::<u64>(), 1_000_000);
        // Black Friday (day 331) beats an ordinary July Wednesday (day 190).
        assert!(counts[331] > 2 * counts[190]);
    }

    #[test]
    fn times_are_sorted_within_the_day() {
        let mut rng = random::rng(1, Stream::Events, 0);
        let day = calendar::day(10);
        let t = times_of_day(day, 1000, &mut rng);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        let start = calendar::day_start_micros(day);
        assert!(
            t.iter()
                .all(|&x| x >= start && x < start + calendar::MICROS_PER_DAY)
        );
    }
}
