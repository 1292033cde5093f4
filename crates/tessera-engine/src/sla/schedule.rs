//! Build schedules: a product's `tesseraSchedule` (a cron pattern in UTC: five fields, or
//! six with seconds first) tells
//! `tessera serve` when to rebuild and publish it.

use chrono::{DateTime, Utc};
use tessera_model::{Mesh, ProductRef, custom};

/// A product with a build schedule.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub product: ProductRef,
    /// As written: `0 6 * * *`.
    pub pattern: String,
    cron: croner::Cron,
}

impl Scheduled {
    /// The first time after `t` the product is due (`None` for a pattern that never fires,
    /// such as 30 February).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

/// Every product of the mesh that declares `tesseraSchedule`, in mesh order. Patterns were
/// checked when the mesh was loaded; one that still does not parse is left out.
pub fn scheduled(mesh: &Mesh) -> Vec<Scheduled> {
    mesh.products()
        .filter_map(|p| {
            let pattern = custom::lookup(
                p.descriptor.document.get("customProperties"),
                custom::SCHEDULE,
            )?
            .as_str()?
            .to_string();
            let cron = custom::cron(&pattern).ok()?;
            Some(Scheduled {
                product: p.reference(),
                pattern,
                cron,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_pattern_fires_next_at_its_time_in_utc() {
        let s = Scheduled {
            product: ProductRef {
                domain: "crm".parse().unwrap(),
                product: "customers".parse().unwrap(),
            },
            pattern: "0 6 * * *".into(),
            cron: custom::cron("0 6 * * *").unwrap(),
        };
        let t = DateTime::parse_from_rfc3339("2026-11-25T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            s.next_after(t).unwrap().to_rfc3339(),
            "2026-11-26T06:00:00+00:00"
        );
        assert!(custom::cron("0 6 * *").is_err());
        assert!(custom::cron("0 6 * * * * *").is_err());
        assert!(custom::cron("61 6 * * *").is_err());
        // Six fields: seconds first.
        let every_10s = custom::cron("*/10 * * * * *").unwrap();
        assert_eq!(
            every_10s
                .find_next_occurrence(&t, false)
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T07:00:10+00:00"
        );
    }
}
