//! The demo's year (2025, UTC) and its rhythms: weekly and yearly seasonality, the hours
//! of the day, and the Black Friday / Christmas peak.
//!
//! Fixed dates (not "the last 365 days") keep the data the same bytes on every run.

use chrono::{Datelike, NaiveDate, Weekday};

pub const YEAR: i32 = 2025;
pub const DAYS: usize = 365;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days from 1970-01-01 to 2025-01-01: Arrow's Date32 of the first day.
pub fn first_day() -> i32 {
    date_to_days(NaiveDate::from_ymd_opt(YEAR, 1, 1).expect("a valid date"))
}

pub fn date_to_days(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    (d - epoch).num_days() as i32
}

pub fn days_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date") + chrono::Days::new(days as u64)
}

/// Microseconds since the epoch at midnight (UTC) of a Date32 day.
pub fn day_start_micros(days: i32) -> i64 {
    days as i64 * MICROS_PER_DAY
}

/// Day `index` (0 = 1 January) of the year, as a Date32.
pub fn day(index: usize) -> i32 {
    first_day() + index as i32
}

fn weekday(index: usize) -> Weekday {
    days_to_date(day(index)).weekday()
}

/// Black Friday 2025 is 28 November: day 331 of the year (0-based).
const BLACK_FRIDAY: usize = 331;
const CYBER_MONDAY: usize = 334;

/// The yearly shape shared by visits and orders: a summer dip, a Q4 build-up, the Black
/// Friday week, a Christmas lull and the January sales.
fn season(index: usize) -> f64 {
    let date = days_to_date(day(index));
    let x = index as f64 / DAYS as f64;
    // Low in July–August, high in November–December.
    let mut f = 1.0 + 0.12 * (std::f64::consts::TAU * (x - 0.88)).cos();
    match index {
        BLACK_FRIDAY => f += 1.6,
        CYBER_MONDAY => f += 1.0,
        i if (BLACK_FRIDAY - 4..=CYBER_MONDAY + 1).contains(&i) => f += 0.35,
        _ => {}
    }
    match (date.month(), date.day()) {
        (12, 24..=26) => f *= 0.6,
        (1, 2..=12) => f *= 1.15,
        _ => {}
    }
    f
}

/// Relative volume of web visits per day of the year.
pub fn visit_weights() -> Vec<f64> {
    (0..DAYS)
        .map(|i| {
            let w = match weekday(i) {
                Weekday::Mon | Weekday::Tue => 1.05,
                Weekday::Wed | Weekday::Thu => 1.0,
                Weekday::Fri => 0.93,
                Weekday::Sat => 0.8,
                Weekday::Sun => 0.9,
            };
            w * season(i)
        })
        .collect()
}

/// Relative volume of orders per day of the year: the same rhythm, peaks more pronounced.
pub fn order_weights() -> Vec<f64> {
    (0..DAYS)
        .map(|i| {
            let w = match weekday(i) {
                Weekday::Mon => 1.1,
                Weekday::Tue | Weekday::Wed | Weekday::Thu => 1.0,
                Weekday::Fri => 0.9,
                Weekday::Sat => 0.85,
                Weekday::Sun => 1.05,
            };
            w * season(i).powf(1.4)
        })
        .collect()
}

/// Relative activity per hour of the day (UTC; the shop's markets are mostly in Europe).
pub const HOURS: [f64; 24] = [
    0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.30, 0.60, 0.90, 1.00, 1.00, 1.05, 1.10, 1.05, 1.00, 1.00,
    1.05, 1.10, 1.20, 1.35, 1.40, 1.20, 0.90, 0.55,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_line_up() {
        assert_eq!(first_day(), 20089);
        assert_eq!(
            days_to_date(day(BLACK_FRIDAY)),
            NaiveDate::from_ymd_opt(2025, 11, 28).unwrap()
        );
        assert_eq!(weekday(BLACK_FRIDAY), Weekday::Fri);
        assert_eq!(weekday(CYBER_MONDAY), Weekday::Mon);
        assert_eq!(
            days_to_date(day(DAYS - 1)),
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
        );
    }

    #[test]
    fn black_friday_is_the_peak() {
        let w = order_weights();
        let max = w.iter().cloned().fold(0.0, f64::max);
        assert_eq!(w[BLACK_FRIDAY], max);
        let july: f64 = w[181..212].iter().sum::<f64>() / 31.0;
        let november: f64 = w[304..334].iter().sum::<f64>() / 30.0;
        assert!(november > 1.2 * july, "{november} vs {july}");
    }
}
