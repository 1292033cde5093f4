//! `ads.raw_campaigns` (JSON lines) and `ads.raw_daily_spend` (CSV): forty campaigns over
//! the year — one always-on per paid channel and seasonal flights (January sale, spring,
//! summer, back to school, Black Friday, Christmas) — and what each cost and delivered on
//! each day it ran. The campaigns and their flights do not depend on the scale; budgets,
//! and so spend, impressions and clicks, grow with the business.
//!
//! Dirty rows (warnings in the source contracts, cleaned by the `ads.campaigns` product):
//! one campaign has its start and end swapped; in the spend, one row in 200 is re-sent
//! (an exact duplicate), one in 400 is a refund booked as negative spend, and one in 700
//! reports more clicks than impressions.

use std::sync::Arc;

use arrow::array::{Date32Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use rand::Rng;

use super::field;
use crate::calendar::{self, DAYS};
use crate::error::{DemoError, Result};
use crate::random::{self, Stream, lognormal};

/// The paid channels, in the order of `events::CHANNELS`' first five.
pub const PAID_CHANNELS: [&str; 5] = ["search", "social", "email", "display", "affiliate"];
const CHANNEL_NAMES: [&str; 5] = ["Search", "Social", "Email", "Display", "Affiliate"];

/// Campaign themes per paid channel; the first of each is the always-on campaign.
/// 12 + 10 + 6 + 6 + 6 = 40 campaigns.
const THEMES: [&[&str]; 5] = [
    &[
        "Brand",
        "Generic Shoes",
        "Generic Apparel",
        "Competitors",
        "January Sale",
        "Spring Sale",
        "Summer Sale",
        "Back to School",
        "Outdoor",
        "Accessories",
        "Black Friday",
        "Christmas Gifts",
    ],
    &[
        "Prospecting",
        "Retargeting",
        "Spring Lookbook",
        "Summer Sale",
        "Creators",
        "Back to School",
        "New Arrivals",
        "Video Awareness",
        "Black Friday",
        "Christmas Gifts",
    ],
    &[
        "Newsletter",
        "Welcome Series",
        "Win-back",
        "Summer Sale",
        "Black Friday",
        "Christmas Gifts",
    ],
    &[
        "Retargeting",
        "Prospecting",
        "Spring Sale",
        "Summer Sale",
        "Black Friday",
        "Christmas Gifts",
    ],
    &[
        "Partners",
        "Cashback",
        "Vouchers",
        "Summer Sale",
        "Black Friday",
        "Christmas Gifts",
    ],
];

/// Daily budget range in EUR per paid channel at scale 1, where the year's spend is about
/// an eighth of the revenue. Budgets grow with the business (see [`campaigns`]).
const BUDGETS: [(f64, f64); 5] = [
    (300.0, 1200.0),
    (160.0, 800.0),
    (15.0, 80.0),
    (120.0, 600.0),
    (60.0, 320.0),
];
/// Cost per thousand impressions (EUR) and click-through rate per paid channel.
const CPM: [f64; 5] = [25.0, 6.0, 1.0, 3.0, 8.0];
const CTR: [f64; 5] = [0.04, 0.01, 0.03, 0.003, 0.015];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The campaign whose dates were entered the wrong way round (CMP-018).
pub const SWAPPED: usize = 17;

#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    /// Index into [`PAID_CHANNELS`].
    pub channel: usize,
    pub objective: &'static str,
    /// First and last day of the flight (days of the year, inclusive).
    pub start: usize,
    pub end: usize,
    pub daily_budget: f64,
}

/// When a seasonal theme runs: first day of the year and length in days.
fn window(theme: &str) -> Option<(usize, usize)> {
    Some(match theme {
        "January Sale" => (1, 25),
        "Spring Sale" | "Spring Lookbook" => (69, 35),
        "Summer Sale" => (181, 31),
        "Back to School" => (220, 35),
        "Black Friday" => (320, 18),
        "Christmas Gifts" => (327, 31),
        _ => return None,
    })
}

/// The forty campaigns of the year: the same names, channels and flights for a given seed
/// at every scale; daily budgets are multiplied by `budget_scale` (the size of the business
/// relative to scale 1), so that spend stays in proportion to revenue.
pub fn campaigns(seed: u64, budget_scale: f64) -> Vec<Campaign> {
    let mut rng = random::rng(seed, Stream::Campaigns, 0);
    let mut list = Vec::with_capacity(40);
    // Always-on campaigns first (CMP-001 … CMP-005), then the flights channel by channel.
    let order = (0..5)
        .map(|c| (c, 0))
        .chain((0..5).flat_map(|c| (1..THEMES[c].len()).map(move |t| (c, t))));
    for (channel, t) in order {
        let theme = THEMES[channel][t];
        let (start, end, when) = if t == 0 {
            (0, DAYS - 1, "Always-on".to_string())
        } else {
            let (start, len) = window(theme)
                .unwrap_or_else(|| (rng.random_range(0..290), rng.random_range(21..75)));
            let start =
                (start as i64 + rng.random_range(-3..=3)).clamp(0, DAYS as i64 - 1) as usize;
            let end = (start + len - 1).min(DAYS - 1);
            let month = calendar::days_to_date(calendar::day(start));
            (
                start,
                end,
                format!(
                    "{} {}",
                    MONTHS[chrono::Datelike::month0(&month) as usize],
                    calendar::YEAR
                ),
            )
        };
        let objective = match (PAID_CHANNELS[channel], t) {
            ("social" | "display", 0) => "awareness",
            ("social" | "display", _) => ["awareness", "consideration"][rng.random_range(0..2)],
            ("email", _) => ["consideration", "conversion"][rng.random_range(0..2)],
            _ => "conversion",
        };
        let (lo, hi) = BUDGETS[channel];
        let daily_budget =
            ((rng.random_range(lo..hi) * budget_scale * 100.0).round() / 100.0).max(0.01);
        list.push(Campaign {
            id: format!("CMP-{:03}", list.len() + 1),
            name: format!("{} - {theme} - {when}", CHANNEL_NAMES[channel]),
            channel,
            objective,
            start,
            end,
            daily_budget,
        });
    }
    list
}

pub fn campaign_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("campaign_id", DataType::Utf8),
        field("name", DataType::Utf8),
        field("channel", DataType::Utf8),
        field("objective", DataType::Utf8),
        field("start_date", DataType::Date32),
        field("end_date", DataType::Date32),
        field("daily_budget_eur", DataType::Float64),
    ]))
}

/// The campaign list as exported, with [`SWAPPED`]'s dates the wrong way round.
pub fn campaign_batch(campaigns: &[Campaign]) -> Result<RecordBatch> {
    let n = campaigns.len();
    let mut id = StringBuilder::with_capacity(n, n * 8);
    let mut name = StringBuilder::with_capacity(n, n * 40);
    let mut channel = StringBuilder::with_capacity(n, n * 8);
    let mut objective = StringBuilder::with_capacity(n, n * 12);
    let mut start = Date32Builder::with_capacity(n);
    let mut end = Date32Builder::with_capacity(n);
    let mut budget = Float64Builder::with_capacity(n);
    for (i, c) in campaigns.iter().enumerate() {
        let (s, e) = (calendar::day(c.start), calendar::day(c.end));
        let (s, e) = if i == SWAPPED { (e, s) } else { (s, e) };
        id.append_value(&c.id);
        name.append_value(&c.name);
        channel.append_value(PAID_CHANNELS[c.channel]);
        objective.append_value(c.objective);
        start.append_value(s);
        end.append_value(e);
        budget.append_value(c.daily_budget);
    }
    RecordBatch::try_new(
        campaign_schema(),
        vec![
            Arc::new(id.finish()),
            Arc::new(name.finish()),
            Arc::new(channel.finish()),
            Arc::new(objective.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(budget.finish()),
        ],
    )
    .map_err(|e| DemoError::Internal(format!("campaigns batch: {e}")))
}

pub fn spend_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("spend_date", DataType::Date32),
        field("campaign_id", DataType::Utf8),
        field("channel", DataType::Utf8),
        field("spend", DataType::Float64),
        field("impressions", DataType::Int64),
        field("clicks", DataType::Int64),
    ]))
}

/// Daily spend of every campaign on every day it ran (a few thousand rows: one batch).
pub fn spend_batch(seed: u64, campaigns: &[Campaign]) -> Result<RecordBatch> {
    let weights = calendar::visit_weights();
    let mean = weights.iter().sum::<f64>() / weights.len() as f64;
    let mut date = Date32Builder::new();
    let mut id = StringBuilder::new();
    let mut channel = StringBuilder::new();
    let mut spend = Float64Builder::new();
    let mut impressions = Int64Builder::new();
    let mut clicks = Int64Builder::new();
    let mut k: u64 = 0;
    for (d, weight) in weights.iter().enumerate() {
        let mut rng = random::rng(seed, Stream::Spend, d as u64);
        for c in campaigns.iter().filter(|c| (c.start..=c.end).contains(&d)) {
            let cost = (c.daily_budget * weight / mean * lognormal(&mut rng, 1.0, 0.2) * 100.0)
                .round()
                / 100.0;
            let shown = (cost / CPM[c.channel] * 1000.0 * lognormal(&mut rng, 1.0, 0.1)).round();
            let clicked = (shown * CTR[c.channel] * lognormal(&mut rng, 1.0, 0.15)).round();
            let (mut cost, shown, mut clicked) = (cost, shown as i64, clicked as i64);
            if k % 400 == 123 {
                cost = -cost; // a refund booked as spend
            }
            if k % 700 == 333 {
                clicked = shown + rng.random_range(1..50); // broken delivery report
            }
            let copies = if k % 200 == 50 { 2 } else { 1 }; // re-sent by the platform
            for _ in 0..copies {
                date.append_value(calendar::day(d));
                id.append_value(&c.id);
                channel.append_value(PAID_CHANNELS[c.channel]);
                spend.append_value(cost);
                impressions.append_value(shown);
                clicks.append_value(clicked);
            }
            k += 1;
        }
    }
    RecordBatch::try_new(
        spend_schema(),
        vec![
            Arc::new(date.finish()),
            Arc::new(id.finish()),
            Arc::new(channel.finish()),
            Arc::new(spend.finish()),
            Arc::new(impressions.finish()),
            Arc::new(clicks.finish()),
        ],
    )
    .map_err(|e| DemoError::Internal(format!("spend batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_campaigns_with_unique_ids_and_names() {
        let list = campaigns(42, 1.0);
        assert_eq!(list.len(), 40);
        let names: std::collections::BTreeSet<&str> =
            list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), 40);
        assert_eq!(list[0].id, "CMP-001");
        assert_eq!(list[39].id, "CMP-040");
        assert!(list.iter().all(|c| c.start <= c.end && c.end < DAYS));
        // Every paid channel runs all year.
        for ch in 0..5 {
            assert!(
                list.iter()
                    .any(|c| c.channel == ch && c.start == 0 && c.end == DAYS - 1)
            );
        }
        assert_eq!(campaigns(42, 1.0), list);
        assert!(campaigns(42, 0.01).iter().all(|c| c.daily_budget > 0.0));
        assert!(list[SWAPPED].start < list[SWAPPED].end);
    }

    #[test]
    fn black_friday_flights_run_in_november() {
        for c in campaigns(7, 1.0)
            .iter()
            .filter(|c| c.name.contains("Black Friday"))
        {
            assert!((310..340).contains(&c.start), "{c:?}");
            assert!(c.name.ends_with("Nov 2025"), "{}", c.name);
        }
    }
}
