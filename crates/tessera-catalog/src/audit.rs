//! The audit log's chain: how a record is hashed, and how the whole log is checked.
//!
//! ```text
//!   record n-1              record n                                    audit_head
//!   ┌─────────────┐         ┌──────────────────────────────────────┐    ┌──────────┐
//!   │ …           │         │ seq = n, at, principal, …, error     │    │ seq = n  │
//!   │ hash ───────┼────────▶│ prev_hash                            │    │ hash ◀───┼─┐
//!   └─────────────┘         │ hash = hex(HMAC-SHA256(key,          │────┼──────────┘ │
//!                           │          prev_hash "\n" canonical))  │    └──────────┘ │
//!                           └──────────────────────────────────────┘  same transaction
//! ```
//!
//! The canonical form of a record is one line of JSON with every field but `hash`, in
//! this order, built from the text the database stores (so a record read back hashes
//! exactly as it did when written, and a stored value that no longer decodes still
//! hashes):
//!
//! ```text
//! {"seq":1,"at":"2025-05-01T09:30:00.123456789Z","principal":"alice","purpose":null,
//!  "interface":"cli","action":"query","statement":"SELECT 1","resources":[…],
//!  "row_count":3,"outcome":"ok","error":null,"prev_hash":"000…0"}
//! ```
//!
//! (without the line breaks): strings escaped as serde_json escapes them, `at` as the
//! crate's fixed-width RFC 3339 text, `resources` as its stored compact JSON text, verbatim.
//!
//! What [`ChainCheck`] reports, in log order: a record whose hash does not recompute
//! (edited), a jump in `seq` (deleted in the middle), a `prev_hash` that is not the
//! previous record's hash (a record replaced by another, or records reordered), an entry
//! of `audit_resources` that disagrees with its record (the filter index edited), and a
//! head that does not name the last record (the newest records deleted).
//!
//! **Invariant:** the canonical form never changes: every record ever written must verify
//! with every later build. A unit test pins one hash; if it fails, the change is wrong.
//!
//! **Limit:** whoever can write the database can delete the newest records *and* rewind
//! `audit_head` to the record that is now last; nothing inside the database tells that
//! apart from a log that really ended there. To catch it, keep the newest `(seq, hash)`
//! somewhere else as well (another system's log, a signed note) and compare.

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{AuditProblem, AuditVerification, CatalogError, Result};

/// The `prev_hash` of record 1, and the head's hash while the log is empty.
pub(crate) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// How many records `verify_audit` reads per query.
pub(crate) const PAGE_SIZE: i64 = 10_000;

/// How many problems a verification lists; the rest are counted in one last problem (a
/// log checked with the wrong key has a problem per record).
const LISTED_PROBLEMS: usize = 1_000;

/// The HMAC key of the chain, checked and ready to use.
#[derive(Clone)]
pub(crate) struct AuditKey(Hmac<Sha256>);

impl AuditKey {
    /// Refuses an empty key: a chain under an empty key is one anybody can rewrite.
    pub(crate) fn new(key: &[u8]) -> Result<AuditKey> {
        if key.is_empty() {
            return Err(CatalogError::InvalidArgument(
                "the audit key is empty: an audit log hashed without a secret key can be \
                 rewritten by anyone who can write the catalog\n  \
                 help: pass the secret key of the audit log (32 random bytes or more), kept \
                 outside the catalog"
                    .to_string(),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        Ok(AuditKey(mac))
    }

    /// `hex(HMAC-SHA256(key, prev_hash + "\n" + canonical form))`.
    pub(crate) fn hash(&self, r: &RawAudit) -> String {
        let mut mac = self.0.clone();
        mac.update(r.prev_hash.as_bytes());
        mac.update(b"\n");
        mac.update(r.canonical().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// An audit record as the database stores it (encoded text), every field but `hash`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawAudit {
    pub seq: i64,
    pub at: String,
    pub principal: String,
    pub purpose: Option<String>,
    pub interface: String,
    pub action: String,
    pub statement: Option<String>,
    /// Compact JSON text.
    pub resources: String,
    pub row_count: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
    pub prev_hash: String,
}

impl RawAudit {
    /// The canonical form (see the module docs).
    pub(crate) fn canonical(&self) -> String {
        fn string(s: &str) -> String {
            serde_json::to_string(s).expect("a string always serialises")
        }
        fn opt_string(s: &Option<String>) -> String {
            s.as_deref().map_or_else(|| "null".to_string(), string)
        }
        fn opt_int(n: Option<i64>) -> String {
            n.map_or_else(|| "null".to_string(), |n| n.to_string())
        }
        format!(
            "{{\"seq\":{},\"at\":{},\"principal\":{},\"purpose\":{},\"interface\":{},\
             \"action\":{},\"statement\":{},\"resources\":{},\"row_count\":{},\
             \"outcome\":{},\"error\":{},\"prev_hash\":{}}}",
            self.seq,
            string(&self.at),
            string(&self.principal),
            opt_string(&self.purpose),
            string(&self.interface),
            string(&self.action),
            opt_string(&self.statement),
            self.resources,
            opt_int(self.row_count),
            string(&self.outcome),
            opt_string(&self.error),
            string(&self.prev_hash),
        )
    }
}

/// The tables `resources` names: the string `"table"` of each object in the array (or of
/// the object itself). What `audit_resources` indexes and `AuditQuery::resource` matches.
pub(crate) fn resource_tables(resources: &serde_json::Value) -> BTreeSet<String> {
    let table = |v: &serde_json::Value| v.get("table")?.as_str().map(str::to_string);
    match resources {
        serde_json::Value::Array(items) => items.iter().filter_map(table).collect(),
        serde_json::Value::Object(_) => table(resources).into_iter().collect(),
        _ => BTreeSet::new(),
    }
}

/// The rows of `audit_resources` for one page of records: the tables indexed per seq.
#[derive(Default)]
pub(crate) struct IndexPage {
    by_seq: BTreeMap<i64, BTreeSet<String>>,
    none: BTreeSet<String>,
}

impl IndexPage {
    pub(crate) fn add(&mut self, seq: i64, table: String) {
        self.by_seq.entry(seq).or_default().insert(table);
    }

    pub(crate) fn tables(&self, seq: i64) -> &BTreeSet<String> {
        self.by_seq.get(&seq).unwrap_or(&self.none)
    }
}

/// Checks the log one record at a time, in `seq` order, and then its head.
pub(crate) struct ChainCheck {
    key: AuditKey,
    records: u64,
    /// The last record seen: its seq and, when it could be read, its stored hash.
    last: Option<(i64, Option<String>)>,
    problems: Vec<AuditProblem>,
    unlisted: u64,
}

impl ChainCheck {
    pub(crate) fn new(key: AuditKey) -> ChainCheck {
        ChainCheck {
            key,
            records: 0,
            last: None,
            problems: Vec::new(),
            unlisted: 0,
        }
    }

    /// The seq of the last record of the chain seen (0 before the first).
    fn last_seq(&self) -> i64 {
        self.last.as_ref().map_or(0, |(seq, _)| *seq)
    }

    fn problem(&mut self, seq: Option<i64>, message: String) {
        if self.problems.len() < LISTED_PROBLEMS {
            self.problems.push(AuditProblem { seq, message });
        } else {
            self.unlisted += 1;
        }
    }

    /// The next record (seqs must come in ascending order): `stored` is the record and
    /// its stored hash, or why they could not be read; `indexed` is what
    /// `audit_resources` holds for it.
    pub(crate) fn record(
        &mut self,
        seq: i64,
        stored: Result<(RawAudit, String)>,
        indexed: &BTreeSet<String>,
    ) {
        self.records += 1;
        if seq < 1 {
            // Outside the chain (no append writes it), so it neither breaks nor links it.
            self.problem(
                Some(seq),
                format!(
                    "record {seq} has a sequence number below 1, which no append writes: \
                     it was added by hand"
                ),
            );
            return;
        }
        let prev_seq = self.last_seq();
        let prev_hash = match &self.last {
            None => Some(GENESIS_HASH.to_string()),
            Some((_, hash)) => hash.clone(),
        };
        let expected = prev_seq + 1;
        let contiguous = seq == expected;
        if !contiguous {
            let missing = match seq - expected {
                1 => format!("record {expected} is missing"),
                _ => format!("records {expected} to {} are missing", seq - 1),
            };
            let context = if prev_seq == 0 {
                format!("the log starts at record {seq}")
            } else {
                format!("sequence jumps from {prev_seq} to {seq}")
            };
            self.problem(Some(expected), format!("{missing} ({context})"));
        }

        let hash = match stored {
            Err(e) => {
                self.problem(
                    Some(seq),
                    format!(
                        "record {seq} was changed after it was written (it cannot be read: {e})"
                    ),
                );
                None
            }
            Ok((raw, hash)) => {
                // Across a gap the link cannot be checked: the record it names is gone.
                if contiguous && prev_hash.as_ref().is_some_and(|p| *p != raw.prev_hash) {
                    let message = if prev_seq == 0 {
                        format!(
                            "record {seq} does not start the chain (its prev_hash is not 64 '0's)"
                        )
                    } else {
                        format!(
                            "record {seq} does not follow record {prev_seq} \
                             (its prev_hash is not record {prev_seq}'s hash)"
                        )
                    };
                    self.problem(Some(seq), message);
                }
                if self.key.hash(&raw) != hash {
                    self.problem(
                        Some(seq),
                        format!(
                            "record {seq} was changed after it was written (its hash does not match)"
                        ),
                    );
                }
                let named = serde_json::from_str(&raw.resources)
                    .map(|v| resource_tables(&v))
                    .unwrap_or_default();
                if named != *indexed {
                    self.problem(
                        Some(seq),
                        format!(
                            "record {seq}'s rows in audit_resources ({}) do not match the tables \
                             it names ({}): the index was changed, so filtering by resource can \
                             miss records",
                            list(indexed),
                            list(&named)
                        ),
                    );
                }
                Some(hash)
            }
        };
        self.last = Some((seq, hash));
    }

    /// Checks the head (`(seq, hash)` of `audit_head`, `None` if its row is gone) against
    /// the last record, and sums up.
    pub(crate) fn finish(mut self, head: Option<(i64, String)>) -> AuditVerification {
        let last = self.last_seq();
        match &head {
            None => self.problem(
                None,
                "the log's head (the row of audit_head) is missing, so deleting the newest \
                 records would not show"
                    .to_string(),
            ),
            Some((head_seq, head_hash)) => {
                let head_seq = *head_seq;
                if head_seq > last {
                    let ends = match last {
                        0 => "the log is empty".to_string(),
                        _ => format!("the log ends at record {last}"),
                    };
                    self.problem(
                        Some(last + 1),
                        format!(
                            "{ends} but its head says {head_seq}: the newest records were deleted"
                        ),
                    );
                } else if head_seq < last {
                    self.problem(
                        Some(head_seq + 1),
                        format!(
                            "the log goes on to record {last} but its head says {head_seq}: \
                             the head was rewound, or records were added without append_audit"
                        ),
                    );
                } else {
                    let last_hash = match &self.last {
                        None => Some(GENESIS_HASH.to_string()),
                        Some((_, hash)) => hash.clone(),
                    };
                    if last_hash.is_some_and(|h| h != *head_hash) {
                        let message = match last {
                            0 => "the log is empty but its head's hash is not 64 '0's: \
                                  the head was changed"
                                .to_string(),
                            _ => format!(
                                "the head's hash is not record {last}'s hash: the head or \
                                 the record was changed"
                            ),
                        };
                        self.problem(Some(last).filter(|s| *s > 0), message);
                    }
                }
            }
        }
        if self.unlisted > 0 {
            self.problems.push(AuditProblem {
                seq: None,
                message: format!(
                    "… and {} more problems (only the first {LISTED_PROBLEMS} are listed)",
                    self.unlisted
                ),
            });
        }
        AuditVerification {
            records: self.records,
            head_seq: head.map(|(seq, _)| seq).filter(|seq| *seq != 0),
            problems: self.problems,
        }
    }
}

fn list(tables: &BTreeSet<String>) -> String {
    if tables.is_empty() {
        "none".to_string()
    } else {
        tables.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(seq: i64, prev_hash: &str) -> RawAudit {
        RawAudit {
            seq,
            at: "2025-05-01T09:30:00.123456789Z".to_string(),
            principal: "alice".to_string(),
            purpose: None,
            interface: "cli".to_string(),
            action: "query".to_string(),
            statement: Some("SELECT \"email\" FROM crm.customers -- naïve\n".to_string()),
            resources: r#"[{"table":"crm.customers","version":3}]"#.to_string(),
            row_count: Some(3),
            outcome: "ok".to_string(),
            error: None,
            prev_hash: prev_hash.to_string(),
        }
    }

    fn tables(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_canonical_form_and_the_hash_never_change() {
        let r = raw(1, GENESIS_HASH);
        assert_eq!(
            r.canonical(),
            r#"{"seq":1,"at":"2025-05-01T09:30:00.123456789Z","principal":"alice","purpose":null,"interface":"cli","action":"query","statement":"SELECT \"email\" FROM crm.customers -- naïve\n","resources":[{"table":"crm.customers","version":3}],"row_count":3,"outcome":"ok","error":null,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#
        );
        // Computed independently, with Python:
        //   hmac.new(b"test key", (prev_hash + "\n" + canonical).encode(), sha256).hexdigest()
        let key = AuditKey::new(b"test key").unwrap();
        assert_eq!(
            key.hash(&r),
            "7ebc02920baec35b7fbfd691a314986bb7158983e3d4900be756acf0d80b455c"
        );
    }

    #[test]
    fn an_empty_key_is_refused() {
        let Err(CatalogError::InvalidArgument(message)) = AuditKey::new(b"") else {
            panic!("an empty key was accepted");
        };
        assert!(message.contains("audit key is empty"), "{message}");
    }

    #[test]
    fn resource_tables_are_the_table_values_of_the_array_or_object() {
        let v = serde_json::json!([
            {"table": "crm.customers", "columns": [{"table": "nested.ignored"}]},
            {"table": "crm.customers_v2"},
            {"table": "crm.customers"},
            {"view": "not.a.table"},
            {"table": 7},
            "crm.bare_string",
        ]);
        assert_eq!(
            resource_tables(&v),
            tables(&["crm.customers", "crm.customers_v2"])
        );
        assert_eq!(
            resource_tables(&serde_json::json!({"table": "a.b"})),
            tables(&["a.b"])
        );
        assert_eq!(resource_tables(&serde_json::json!(null)), tables(&[]));
    }

    /// A chain of `n` records under `key`, as `(raw, hash)`.
    fn chain(key: &AuditKey, n: i64) -> Vec<(RawAudit, String)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = raw(seq, &prev);
                prev = key.hash(&r);
                (r, prev.clone())
            })
            .collect()
    }

    fn check(
        key: &AuditKey,
        records: &[(RawAudit, String)],
        head: Option<(i64, String)>,
    ) -> AuditVerification {
        let mut check = ChainCheck::new(key.clone());
        for (r, hash) in records {
            check.record(
                r.seq,
                Ok((r.clone(), hash.clone())),
                &tables(&["crm.customers"]),
            );
        }
        check.finish(head)
    }

    fn messages(v: &AuditVerification) -> Vec<(Option<i64>, &str)> {
        v.problems
            .iter()
            .map(|p| (p.seq, p.message.as_str()))
            .collect()
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let key = AuditKey::new(b"k").unwrap();
        let log = chain(&key, 5);
        let head = |i: usize| Some((log[i].0.seq, log[i].1.clone()));

        let intact = check(&key, &log, head(4));
        assert!(intact.is_intact(), "{:?}", intact.problems);
        assert_eq!((intact.records, intact.head_seq), (5, Some(5)));

        let empty = check(&key, &[], Some((0, GENESIS_HASH.to_string())));
        assert!(empty.is_intact());
        assert_eq!((empty.records, empty.head_seq), (0, None));

        let mut edited = log.clone();
        edited[1].0.principal = "mallory".to_string();
        assert_eq!(
            messages(&check(&key, &edited, head(4))),
            [(
                Some(2),
                "record 2 was changed after it was written (its hash does not match)"
            )]
        );

        let gap = [&log[..1], &log[3..]].concat();
        assert_eq!(
            messages(&check(&key, &gap, head(4))),
            [(
                Some(2),
                "records 2 to 3 are missing (sequence jumps from 1 to 4)"
            )]
        );
        assert_eq!(
            messages(&check(&key, &log[1..], head(4))),
            [(Some(1), "record 1 is missing (the log starts at record 2)")]
        );

        assert_eq!(
            messages(&check(&key, &log[..3], head(4))),
            [(
                Some(4),
                "the log ends at record 3 but its head says 5: the newest records were deleted"
            )]
        );
        assert_eq!(
            messages(&check(&key, &log, head(3))),
            [(
                Some(5),
                "the log goes on to record 5 but its head says 4: the head was rewound, \
                 or records were added without append_audit"
            )]
        );
        assert_eq!(
            messages(&check(&key, &log, Some((5, log[3].1.clone())))),
            [(
                Some(5),
                "the head's hash is not record 5's hash: the head or the record was changed"
            )]
        );
        assert_eq!(
            messages(&check(&key, &log, None))[0].1,
            "the log's head (the row of audit_head) is missing, so deleting the newest records \
             would not show"
        );

        // Record 3 replaced by a validly hashed record that does not link to record 2
        // (possible only with the key): the link catches it.
        let mut relinked = log.clone();
        relinked[2].0.prev_hash = GENESIS_HASH.to_string();
        relinked[2].1 = key.hash(&relinked[2].0);
        relinked[3].0.prev_hash = relinked[2].1.clone();
        relinked[3].1 = key.hash(&relinked[3].0);
        relinked[4].0.prev_hash = relinked[3].1.clone();
        relinked[4].1 = key.hash(&relinked[4].0);
        assert_eq!(
            messages(&check(&key, &relinked, Some((5, relinked[4].1.clone())))),
            [(
                Some(3),
                "record 3 does not follow record 2 (its prev_hash is not record 2's hash)"
            )]
        );
    }

    #[test]
    fn a_record_below_1_is_reported_and_left_out_of_the_chain() {
        let key = AuditKey::new(b"k").unwrap();
        let log = chain(&key, 2);
        let mut foreign = log[0].clone();
        foreign.0.seq = -3;
        let mut records = vec![foreign];
        records.extend(log.iter().cloned());
        let v = check(&key, &records, Some((2, log[1].1.clone())));
        assert_eq!(
            messages(&v),
            [(
                Some(-3),
                "record -3 has a sequence number below 1, which no append writes: it was \
                 added by hand"
            )]
        );
        assert_eq!(v.records, 3);
    }

    #[test]
    fn another_key_fails_every_record_and_the_list_is_capped() {
        let key = AuditKey::new(b"k").unwrap();
        let log = chain(&key, 1_500);
        let other = AuditKey::new(b"not k").unwrap();
        let v = check(&other, &log, Some((1_500, log[1_499].1.clone())));
        assert!(!v.is_intact());
        assert_eq!(v.records, 1_500);
        assert_eq!(v.problems.len(), LISTED_PROBLEMS + 1);
        assert_eq!(
            v.problems.last().unwrap().message,
            "… and 500 more problems (only the first 1000 are listed)"
        );
    }

    #[test]
    fn an_unreadable_record_or_an_edited_index_is_a_problem() {
        let key = AuditKey::new(b"k").unwrap();
        let log = chain(&key, 3);
        let mut check = ChainCheck::new(key);
        check.record(1, Ok(log[0].clone()), &tables(&["crm.customers"]));
        check.record(
            2,
            Err(CatalogError::InvalidArgument("bad outcome".to_string())),
            &tables(&[]),
        );
        check.record(3, Ok(log[2].clone()), &tables(&[]));
        let v = check.finish(Some((3, log[2].1.clone())));
        assert_eq!(
            messages(&v),
            [
                (
                    Some(2),
                    "record 2 was changed after it was written (it cannot be read: bad outcome)"
                ),
                (
                    Some(3),
                    "record 3's rows in audit_resources (none) do not match the tables it names \
                     (crm.customers): the index was changed, so filtering by resource can miss \
                     records"
                ),
            ]
        );
    }
}
