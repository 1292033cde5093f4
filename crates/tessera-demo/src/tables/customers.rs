//! `crm.raw_customers` (CSV): the CRM's customer export, and the per-customer traits the
//! other tables draw on.
//!
//! Dirty rows, at fixed rates by row position (caught as warnings by the source contract,
//! cleaned by `crm.customers`): malformed emails (0.5 %), missing emails as '' or 'N/A'
//! (0.4 %), unknown or mis-cased countries (0.3 %), mis-cased lifecycle stages (0.5 %).

use std::sync::{Arc, LazyLock};

use arrow::array::{Date32Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use rand::Rng;

use super::{CHUNK_ROWS, field};
use crate::calendar;
use crate::error::{DemoError, Result};
use crate::random::{self, Stream, Weighted, mix, unit_f64};

/// Markets: ISO code, share of customers, phone prefix, currency.
pub const COUNTRIES: [(&str, f64, &str, &str); 12] = [
    ("DE", 22.0, "+49", "EUR"),
    ("US", 17.0, "+1", "USD"),
    ("FR", 14.0, "+33", "EUR"),
    ("GB", 13.0, "+44", "GBP"),
    ("NL", 7.0, "+31", "EUR"),
    ("ES", 6.0, "+34", "EUR"),
    ("IT", 6.0, "+39", "EUR"),
    ("SE", 4.0, "+46", "EUR"),
    ("PL", 4.0, "+48", "EUR"),
    ("BE", 3.0, "+32", "EUR"),
    ("AT", 2.0, "+43", "EUR"),
    ("CH", 2.0, "+41", "EUR"),
];

/// Lifecycle stages and their shares.
pub const STAGES: [(&str, f64); 4] = [
    ("lead", 0.18),
    ("prospect", 0.12),
    ("customer", 0.60),
    ("churned", 0.10),
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Lena", "Sophie", "Marie", "Emma", "Laura", "Julia", "Clara", "Sara", "Lucia",
    "Olivia", "Mia", "Chloe", "Ines", "Elena", "Noor", "Freya", "Ava", "Zofia", "Alice", "Hannah",
    "Eva", "Nora", "Maja", "Grace", "Lukas", "Jonas", "Felix", "Paul", "Leon", "Lucas", "Hugo",
    "Louis", "Oliver", "George", "Noah", "Liam", "Mateo", "Marco", "Luca", "Daan", "Sem", "Erik",
    "Oskar", "Jakub", "Jan", "David", "Samuel", "Adam", "Elias", "Arthur", "Theo", "Max", "Ben",
    "Tom", "Omar", "Yusuf", "Ravi", "Kenji", "Diego",
];

const LAST_NAMES: &[&str] = &[
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Martin",
    "Bernard",
    "Dubois",
    "Durand",
    "Moreau",
    "Laurent",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davis",
    "Miller",
    "Garcia",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "de Jong",
    "Jansen",
    "de Vries",
    "Bakker",
    "Visser",
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nowak",
    "Kowalski",
    "Wisniewski",
    "Peeters",
    "Janssens",
    "Gruber",
    "Huber",
    "Bauer",
    "Keller",
    "Frei",
    "Novak",
    "Costa",
    "Silva",
    "Haddad",
    "Khan",
    "Tanaka",
    "Okafor",
    "Evans",
    "Berger",
    "Lind",
];

const EMAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "post.example",
];

/// The largest propensity to buy; rejection sampling divides by it.
pub const BUY_MAX: f64 = 30.0;
/// The largest propensity to visit.
pub const BROWSE_MAX: f64 = 1.0 + BUY_MAX / 4.0;

static COUNTRY_TABLE: LazyLock<Weighted> = LazyLock::new(|| Weighted::new(&COUNTRIES.map(|c| c.1)));
static STAGE_TABLE: LazyLock<Weighted> = LazyLock::new(|| Weighted::new(&STAGES.map(|s| s.1)));

/// A customer's traits: a pure function of `(seed, customer_id)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Index into [`COUNTRIES`].
    pub country: usize,
    /// Index into [`STAGES`].
    pub stage: usize,
    /// Signup day (Date32).
    pub signup: i32,
    /// Propensity to buy, Pareto-distributed in [1, BUY_MAX] (0 for leads and prospects):
    /// a few customers place most orders.
    pub buy: f64,
    /// Propensity to visit the website, in [1, BROWSE_MAX].
    pub browse: f64,
}

impl Profile {
    pub fn of(seed: u64, customer_id: u64) -> Profile {
        let h = random::key(seed, Stream::Profile, customer_id);
        let u = |k: u64| unit_f64(mix(h ^ k));
        let stage = STAGE_TABLE.index_at(u(1));
        // Pareto(alpha = 1.3), capped.
        let pareto = (1.0 - u(2)).powf(-1.0 / 1.3).min(BUY_MAX);
        let buy = match STAGES[stage].0 {
            "lead" | "prospect" => 0.0,
            "churned" => (pareto * 0.3).max(1.0),
            _ => pareto,
        };
        let first = calendar::first_day();
        // 80 % signed up in 2019–2024, more of them recently; 20 % during the year.
        let signup = if u(3) < 0.8 {
            first - 1 - (2191.0 * u(4).powf(1.6)) as i32
        } else {
            first + (365.0 * u(4)) as i32
        };
        Profile {
            country: COUNTRY_TABLE.index_at(u(5)),
            stage,
            signup,
            buy,
            browse: 1.0 + buy / 4.0,
        }
    }

    pub fn currency(&self) -> &'static str {
        COUNTRIES[self.country].3
    }
}

/// Draws a logged-in visitor for a visit on `day` (Date32), weighted by propensity to
/// visit, among customers who had signed up by then; `None` if none is found quickly.
pub fn visitor(seed: u64, customers: u64, day: i32, rng: &mut impl Rng) -> Option<u64> {
    for _ in 0..64 {
        let id = rng.random_range(1..=customers);
        let p = Profile::of(seed, id);
        if p.signup <= day && rng.random::<f64>() * BROWSE_MAX < p.browse {
            return Some(id);
        }
    }
    None
}

/// Draws a buyer for an order on `day` (Date32), weighted by propensity to buy, among
/// customers (not leads or prospects) who had signed up by then.
pub fn buyer(seed: u64, customers: u64, day: i32, rng: &mut impl Rng) -> u64 {
    for _ in 0..2_000 {
        let id = rng.random_range(1..=customers);
        let p = Profile::of(seed, id);
        if p.buy > 0.0 && p.signup <= day && rng.random::<f64>() * BUY_MAX < p.buy {
            return id;
        }
    }
    // Practically unreachable: scan for anyone who may buy.
    let start = rng.random_range(1..=customers);
    (0..customers)
        .map(|k| (start - 1 + k) % customers + 1)
        .find(|&id| {
            let p = Profile::of(seed, id);
            p.buy > 0.0 && p.signup <= day
        })
        .unwrap_or(start)
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("customer_id", DataType::Int64),
        field("email", DataType::Utf8),
        field("first_name", DataType::Utf8),
        field("last_name", DataType::Utf8),
        field("phone", DataType::Utf8),
        field("country", DataType::Utf8),
        field("signup_date", DataType::Date32),
        field("lifecycle_stage", DataType::Utf8),
    ]))
}

pub fn chunks(customers: u64) -> usize {
    customers.div_ceil(CHUNK_ROWS) as usize
}

/// Customers `chunk * CHUNK_ROWS + 1 ..` (at most [`CHUNK_ROWS`] of them).
pub fn make_chunk(seed: u64, customers: u64, chunk: usize) -> Result<RecordBatch> {
    let start = chunk as u64 * CHUNK_ROWS;
    let end = (start + CHUNK_ROWS).min(customers);
    let n = (end - start) as usize;
    let mut rng = random::rng(seed, Stream::Customers, chunk as u64);
    let mut id_col = Int64Builder::with_capacity(n);
    let mut email_col = StringBuilder::with_capacity(n, n * 32);
    let mut first_col = StringBuilder::with_capacity(n, n * 8);
    let mut last_col = StringBuilder::with_capacity(n, n * 8);
    let mut phone_col = StringBuilder::with_capacity(n, n * 16);
    let mut country_col = StringBuilder::with_capacity(n, n * 2);
    let mut signup_col = Date32Builder::with_capacity(n);
    let mut stage_col = StringBuilder::with_capacity(n, n * 8);
    let mut email = String::with_capacity(64);
    for i in start..end {
        let id = i + 1;
        let p = Profile::of(seed, id);
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        let domain = EMAIL_DOMAINS[rng.random_range(0..EMAIL_DOMAINS.len())];
        let (code, _, prefix, _) = COUNTRIES[p.country];

        email.clear();
        let local = format!(
            "{}.{}{id}",
            first.to_ascii_lowercase(),
            last.replace(' ', "").to_ascii_lowercase()
        );
        if i % 200 == 13 {
            // Malformed, in one of four ways.
            match (i / 200) % 4 {
                0 => email.push_str(&format!("{local}{domain}")),
                1 => email.push_str(&format!("{local}@@{domain}")),
                2 => email.push_str(&format!(
                    "{local}@{}",
                    domain.split('.').next().unwrap_or(domain)
                )),
                _ => email.push_str(&format!("{} {local}@{domain}", first.to_ascii_lowercase())),
            }
        } else if i % 250 == 77 {
            email.push_str(if (i / 250).is_multiple_of(2) {
                ""
            } else {
                "N/A"
            });
        } else {
            email.push_str(&format!("{local}@{domain}"));
            // Some people type their address with capitals or stray spaces.
            if rng.random::<f64>() < 0.02 {
                email = format!(" {email}");
            } else if rng.random::<f64>() < 0.03 {
                email = email.to_ascii_uppercase();
            }
        }

        let country = if i % 333 == 200 {
            ["UK", "de", "Deutschland", " fr"][((i / 333) % 4) as usize]
        } else {
            code
        };
        let stage = STAGES[p.stage].0;
        let stage_text = if i % 200 == 57 {
            match (i / 200) % 3 {
                0 => stage.to_ascii_uppercase(),
                1 => format!(" {stage}"),
                _ => {
                    let mut s = stage.to_string();
                    s[..1].make_ascii_uppercase();
                    s
                }
            }
        } else {
            stage.to_string()
        };
        let phone = format!(
            "{prefix} {} {:07}",
            rng.random_range(100..1000),
            rng.random_range(0..10_000_000)
        );

        id_col.append_value(id as i64);
        email_col.append_value(&email);
        first_col.append_value(first);
        last_col.append_value(last);
        phone_col.append_value(&phone);
        country_col.append_value(country);
        signup_col.append_value(p.signup);
        stage_col.append_value(&stage_text);
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(id_col.finish()),
            Arc::new(email_col.finish()),
            Arc::new(first_col.finish()),
            Arc::new(last_col.finish()),
            Arc::new(phone_col.finish()),
            Arc::new(country_col.finish()),
            Arc::new(signup_col.finish()),
            Arc::new(stage_col.finish()),
        ],
    )
    .map_err(|e| DemoError::Internal(format!("customers batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_stable_and_plausible() {
        assert_eq!(Profile::of(42, 7), Profile::of(42, 7));
        assert_ne!(Profile::of(42, 7), Profile::of(43, 7));
        let n = 20_000;
        let profiles: Vec<Profile> = (1..=n).map(|id| Profile::of(42, id)).collect();
        let first = calendar::first_day();
        let min = calendar::date_to_days(chrono::NaiveDate::from_ymd_opt(2019, 1, 1).unwrap());
        assert!(
            profiles
                .iter()
                .all(|p| p.signup >= min && p.signup < first + 365)
        );
        let buyers = profiles.iter().filter(|p| p.buy > 0.0).count() as f64 / n as f64;
        assert!((0.65..0.75).contains(&buyers), "{buyers}");
        let de = profiles
            .iter()
            .filter(|p| COUNTRIES[p.country].0 == "DE")
            .count() as f64;
        assert!((0.19..0.25).contains(&(de / n as f64)));
    }

    #[test]
    fn buyers_are_skewed() {
        let mut rng = random::rng(1, Stream::Orders, 0);
        let day = calendar::day(200);
        let mut counts = std::collections::HashMap::<u64, u64>::new();
        for _ in 0..20_000 {
            *counts.entry(buyer(42, 5_000, day, &mut rng)).or_default() += 1;
        }
        let mut sorted: Vec<u64> = counts.values().copied().collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let top = sorted.iter().take(sorted.len() / 5).sum::<u64>() as f64 / 20_000.0;
        assert!(
            top > 0.4,
            "the top fifth of buyers place {top} of the orders"
        );
    }
}
