//! Contract diff: every change between two versions of an ODCS contract, each classified
//! as breaking or not, with the reason.
//!
//! The rule is the consumer's: a change is **breaking** when a consumer that relied on the
//! old promise can fail or misread. So a removed or renamed column breaks; so does any
//! change of a column's type (a typed reader of an integer column fails on a number:
//! widening counts too), required → optional, a unique or primary key dropped, values
//! allowed that were not (more allowed values, a larger maximum, a smaller minimum, a
//! pattern changed), an SLA weakened, a classification loosened, a quality rule dropped.
//! A stronger promise is not breaking: optional → required, fewer allowed values, a
//! tighter SLA, a new column or table, a new description, a new quality rule.
//!
//! Where the diff cannot tell whether a change is stronger (an SLA property it does not
//! know, a quality rule rewritten), it calls the change breaking and says so: a false
//! alarm costs a version bump, a missed break costs a consumer.
//!
//! [`ContractDiff::version_gate`] is the publish rule: breaking changes need a new major
//! version (semver; below 1.0.0 the minor number is the major one, as Cargo reads it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::odcs::{Contract, Property, QualityRule, SchemaObject, SlaProperty};

/// Whether a consumer can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Breaking,
    NonBreaking,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub impact: Impact,
    /// What changed, as a stable code: `column_removed`, `type_changed`, `sla_weakened`, ….
    pub kind: &'static str,
    /// Where: `object`, `object.column`, `object.column.field`, `sla.latency`, ….
    pub path: String,
    /// Why it is (or is not) breaking, in a sentence.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.impact {
            Impact::Breaking => "breaking",
            Impact::NonBreaking => "ok",
        };
        write!(f, "{mark:>8}  {}: {}", self.path, self.reason)
    }
}

/// Every change from one contract to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractDiff {
    pub old_version: String,
    pub new_version: String,
    /// Breaking changes first, then in document order.
    pub changes: Vec<Change>,
}

/// Why a new version may not be published as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// A version is not semver (`1.2.3`).
    NotSemver {
        version: String,
        which: &'static str,
    },
    /// Breaking changes without a new major version.
    NeedsMajor {
        old: String,
        new: String,
        /// The smallest version that would do.
        suggested: String,
        breaking: Vec<String>,
    },
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateError::NotSemver { version, which } => write!(
                f,
                "the {which} contract's version `{version}` is not a semantic version (MAJOR.MINOR.PATCH): \
                 breaking changes cannot be checked against it"
            ),
            GateError::NeedsMajor {
                old,
                new,
                suggested,
                breaking,
            } => {
                write!(
                    f,
                    "{} breaking change{} need{} a new major version (the contract goes from {old} to {new}; \
                     make it {suggested} or later, or keep the old promise):",
                    breaking.len(),
                    if breaking.len() == 1 { "" } else { "s" },
                    if breaking.len() == 1 { "s" } else { "" },
                )?;
                for b in breaking {
                    write!(f, "\n  - {b}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for GateError {}

impl ContractDiff {
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.impact == Impact::Breaking)
    }

    pub fn is_breaking(&self) -> bool {
        self.breaking().next().is_some()
    }

    /// The publish rule: breaking changes need a new major version.
    pub fn version_gate(&self) -> Result<(), GateError> {
        if !self.is_breaking() {
            return Ok(());
        }
        let parse = |v: &str, which| {
            semver::Version::parse(v.trim_start_matches('v')).map_err(|_| GateError::NotSemver {
                version: v.to_string(),
                which,
            })
        };
        let old = parse(&self.old_version, "old")?;
        let new = parse(&self.new_version, "new")?;
        if major_of(&new) > major_of(&old) {
            return Ok(());
        }
        let suggested = if old.major == 0 {
            format!("0.{}.0", old.minor + 1)
        } else {
            format!("{}.0.0", old.major + 1)
        };
        Err(GateError::NeedsMajor {
            old: self.old_version.clone(),
            new: self.new_version.clone(),
            suggested,
            breaking: self
                .breaking()
                .map(|c| format!("{}: {}", c.path, c.reason))
                .collect(),
        })
    }
}

/// The number that must grow for a breaking change: the major, or below 1.0.0 the minor.
fn major_of(v: &semver::Version) -> (u64, u64) {
    if v.major == 0 {
        (0, v.minor)
    } else {
        (v.major, 0)
    }
}

/// Compares two versions of a contract.
pub fn diff(old: &Contract, new: &Contract) -> ContractDiff {
    let mut changes = Vec::new();
    objects(&old.objects, &new.objects, &mut changes);
    sla(&old.sla, &new.sla, &mut changes);
    if old.status != new.status {
        changes.push(change(
            Impact::NonBreaking,
            "status_changed",
            "status".into(),
            format!("status {} → {}", old.status, new.status),
            Some(Value::from(old.status.clone())),
            Some(Value::from(new.status.clone())),
        ));
    }
    if servers(&old.document) != servers(&new.document) {
        changes.push(change(
            Impact::NonBreaking,
            "servers_changed",
            "servers".into(),
            "the servers changed (where the data is stored, not what it promises)".into(),
            None,
            None,
        ));
    }
    // Breaking first; the order within each group is the document's.
    changes.sort_by_key(|c| c.impact);
    ContractDiff {
        old_version: old.version.clone(),
        new_version: new.version.clone(),
        changes,
    }
}

fn servers(document: &Value) -> Option<&Value> {
    document.get("servers")
}

fn change(
    impact: Impact,
    kind: &'static str,
    path: String,
    reason: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Change {
    Change {
        impact,
        kind,
        path,
        reason,
        before,
        after,
    }
}

fn objects(old: &[SchemaObject], new: &[SchemaObject], out: &mut Vec<Change>) {
    let new_by_name: BTreeMap<&str, &SchemaObject> =
        new.iter().map(|o| (o.name.as_str(), o)).collect();
    let old_names: BTreeSet<&str> = old.iter().map(|o| o.name.as_str()).collect();
    for o in old {
        match new_by_name.get(o.name.as_str()) {
            None => out.push(change(
                Impact::Breaking,
                "object_removed",
                o.name.clone(),
                format!(
                    "table `{}` was removed: its readers fail{}",
                    o.name,
                    renamed_hint(new.iter().map(|n| n.name.as_str()), &old_names)
                ),
                None,
                None,
            )),
            Some(n) => object(o, n, out),
        }
    }
    for n in new {
        if !old_names.contains(n.name.as_str()) {
            out.push(change(
                Impact::NonBreaking,
                "object_added",
                n.name.clone(),
                format!("table `{}` was added", n.name),
                None,
                None,
            ));
        }
    }
}

/// ` (renamed to `x`?)` when exactly one name is new.
fn renamed_hint<'a>(
    new_names: impl Iterator<Item = &'a str>,
    old_names: &BTreeSet<&str>,
) -> String {
    let added: Vec<&str> = new_names.filter(|n| !old_names.contains(n)).collect();
    match added.as_slice() {
        [one] => format!(" (renamed to `{one}`? a rename is a removal for its readers)"),
        _ => String::new(),
    }
}

fn object(old: &SchemaObject, new: &SchemaObject, out: &mut Vec<Change>) {
    if old.description != new.description {
        out.push(change(
            Impact::NonBreaking,
            "description_changed",
            old.name.clone(),
            "the description changed".into(),
            None,
            None,
        ));
    }
    quality(&old.name, &old.quality, &new.quality, out);
    properties(&old.name, &old.properties, &new.properties, out);
}

fn properties(parent: &str, old: &[Property], new: &[Property], out: &mut Vec<Change>) {
    let new_by_name: BTreeMap<&str, &Property> = new.iter().map(|p| (p.name.as_str(), p)).collect();
    let old_names: BTreeSet<&str> = old.iter().map(|p| p.name.as_str()).collect();
    for p in old {
        let path = format!("{parent}.{}", p.name);
        match new_by_name.get(p.name.as_str()) {
            None => out.push(change(
                Impact::Breaking,
                "column_removed",
                path,
                format!(
                    "column `{}` was removed: queries that select it fail{}",
                    p.name,
                    renamed_hint(new.iter().map(|n| n.name.as_str()), &old_names)
                ),
                None,
                None,
            )),
            Some(n) => property(&path, p, n, out),
        }
    }
    for n in new {
        if !old_names.contains(n.name.as_str()) {
            let what = if n.required { "required" } else { "optional" };
            out.push(change(
                Impact::NonBreaking,
                "column_added",
                format!("{parent}.{}", n.name),
                format!("{what} column `{}` was added", n.name),
                None,
                Some(Value::from(n.logical_type.clone())),
            ));
        }
    }
}

fn property(path: &str, old: &Property, new: &Property, out: &mut Vec<Change>) {
    for (field, before, after) in [
        ("logicalType", &old.logical_type, &new.logical_type),
        ("physicalType", &old.physical_type, &new.physical_type),
    ] {
        if norm(before) != norm(after) {
            out.push(change(
                Impact::Breaking,
                "type_changed",
                format!("{path}.{field}"),
                format!(
                    "{field} {} → {}: a reader typed for the old type can fail or misread, even when the new one is wider",
                    shown(before),
                    shown(after)
                ),
                Some(Value::from(before.clone())),
                Some(Value::from(after.clone())),
            ));
        }
    }
    flag(
        path,
        "required",
        old.required,
        new.required,
        "may now be null: a reader that relied on a value fails",
        out,
    );
    flag(
        path,
        "unique",
        old.unique,
        new.unique,
        "may now repeat: joins and lookups on it can multiply rows",
        out,
    );
    flag(
        path,
        "primaryKey",
        old.primary_key,
        new.primary_key,
        "is no longer the key: joins and lookups on it can multiply rows",
        out,
    );
    type_options(
        path,
        old.logical_type_options.as_ref(),
        new.logical_type_options.as_ref(),
        out,
    );
    classification(path, &old.classification, &new.classification, out);
    if old.description != new.description {
        out.push(change(
            Impact::NonBreaking,
            "description_changed",
            path.to_string(),
            "the description changed".into(),
            None,
            None,
        ));
    }
    if old.subject_key() != new.subject_key() {
        out.push(change(
            Impact::NonBreaking,
            "subject_key_changed",
            format!("{path}.tesseraSubjectKey"),
            format!(
                "the data subject it identifies {} → {} (governance: masking, consent and erasure follow it)",
                shown(&old.subject_key().map(str::to_string)),
                shown(&new.subject_key().map(str::to_string))
            ),
            None,
            None,
        ));
    }
    quality(path, &old.quality, &new.quality, out);
    properties(path, &old.properties, &new.properties, out);
    match (&old.items, &new.items) {
        (Some(o), Some(n)) => property(&format!("{path}[]"), o, n, out),
        (Some(_), None) => out.push(change(
            Impact::Breaking,
            "type_changed",
            format!("{path}[]"),
            "the array's item type was removed".into(),
            None,
            None,
        )),
        _ => {}
    }
}

fn norm(v: &Option<String>) -> Option<String> {
    v.as_ref().map(|s| s.trim().to_ascii_lowercase())
}

fn shown(v: &Option<String>) -> String {
    v.as_deref()
        .map(|s| format!("`{s}`"))
        .unwrap_or_else(|| "(none)".into())
}

fn flag(path: &str, field: &str, old: bool, new: bool, loosened: &str, out: &mut Vec<Change>) {
    match (old, new) {
        (true, false) => out.push(change(
            Impact::Breaking,
            match field {
                "required" => "required_dropped",
                "unique" => "unique_dropped",
                _ => "primary_key_dropped",
            },
            format!("{path}.{field}"),
            format!("{field} true → false: the column {loosened}"),
            Some(Value::Bool(true)),
            Some(Value::Bool(false)),
        )),
        (false, true) => out.push(change(
            Impact::NonBreaking,
            match field {
                "required" => "required_added",
                "unique" => "unique_added",
                _ => "primary_key_added",
            },
            format!("{path}.{field}"),
            format!("{field} false → true: a stronger promise"),
            Some(Value::Bool(false)),
            Some(Value::Bool(true)),
        )),
        _ => {}
    }
}

/// Which way a `logicalTypeOptions` bound is stronger.
enum Bound {
    /// Lower is stronger (a maximum).
    Upper,
    /// Higher is stronger (a minimum).
    Lower,
}

fn bound_of(option: &str) -> Option<Bound> {
    match option {
        "maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" | "maxProperties"
        | "precision" | "scale" => Some(Bound::Upper),
        "minimum" | "exclusiveMinimum" | "minLength" | "minItems" | "minProperties" => {
            Some(Bound::Lower)
        }
        _ => None,
    }
}

fn type_options(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    let empty = serde_json::Map::new();
    let old = old.and_then(Value::as_object).unwrap_or(&empty);
    let new = new.and_then(Value::as_object).unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let (before, after) = (old.get(key), new.get(key));
        if before == after {
            continue;
        }
        let field = format!("{path}.logicalTypeOptions.{key}");
        let (impact, reason) = match (before, after, bound_of(key)) {
            (None, Some(_), _) => (
                Impact::NonBreaking,
                format!("{key} added: a stronger promise"),
            ),
            (Some(_), None, _) => (
                Impact::Breaking,
                format!("{key} removed: values the old promise excluded may now appear"),
            ),
            (Some(b), Some(a), Some(bound)) => match (number(b), number(a)) {
                (Some(b), Some(a)) => {
                    let looser = match bound {
                        Bound::Upper => a > b,
                        Bound::Lower => a < b,
                    };
                    if looser {
                        (
                            Impact::Breaking,
                            format!(
                                "{key} {b} → {a}: values the old promise excluded may now appear"
                            ),
                        )
                    } else {
                        (
                            Impact::NonBreaking,
                            format!("{key} {b} → {a}: a stronger promise"),
                        )
                    }
                }
                _ => (
                    Impact::Breaking,
                    format!("{key} changed and cannot be compared: taken as breaking"),
                ),
            },
            _ => (
                Impact::Breaking,
                format!(
                    "{key} {} → {}: values may now be read differently",
                    compact(before),
                    compact(after)
                ),
            ),
        };
        out.push(change(
            impact,
            if impact == Impact::Breaking {
                "type_options_loosened"
            } else {
                "type_options_tightened"
            },
            field,
            reason,
            before.cloned(),
            after.cloned(),
        ));
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    }
}

fn compact(v: Option<&Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into())
}

/// Classifications from least to most protected; a move down is a loosening.
const CLASSIFICATIONS: [&str; 4] = ["public", "internal", "confidential", "restricted"];

fn rank(c: &str) -> Option<usize> {
    let c = c.trim().to_ascii_lowercase();
    CLASSIFICATIONS.iter().position(|k| *k == c)
}

fn classification(path: &str, old: &Option<String>, new: &Option<String>, out: &mut Vec<Change>) {
    if norm(old) == norm(new) {
        return;
    }
    let field = format!("{path}.classification");
    let (impact, reason) = match (old.as_deref(), new.as_deref()) {
        (None, Some(n)) => (
            Impact::NonBreaking,
            format!("classified `{n}`: a stronger promise"),
        ),
        (Some(o), None) => (
            Impact::Breaking,
            format!("classification `{o}` removed: the data is no longer protected as it was"),
        ),
        (Some(o), Some(n)) => match (rank(o), rank(n)) {
            (Some(a), Some(b)) if b > a => (
                Impact::NonBreaking,
                format!("classification `{o}` → `{n}`: more protected"),
            ),
            (Some(_), Some(_)) => (
                Impact::Breaking,
                format!(
                    "classification `{o}` → `{n}`: loosened, the data is less protected than promised"
                ),
            ),
            _ => (
                Impact::Breaking,
                format!(
                    "classification `{o}` → `{n}`: not comparable ({} are ranked), taken as a loosening",
                    CLASSIFICATIONS.join(" < ")
                ),
            ),
        },
        (None, None) => return,
    };
    out.push(change(
        impact,
        if impact == Impact::Breaking {
            "classification_loosened"
        } else {
            "classification_tightened"
        },
        field,
        reason,
        old.clone().map(Value::from),
        new.clone().map(Value::from),
    ));
}

/// A quality rule's identity across versions: its name, else what it checks.
fn rule_key(r: &QualityRule) -> String {
    match &r.name {
        Some(n) => format!("name:{n}"),
        None => format!(
            "{}:{}:{}",
            r.kind(),
            r.metric().unwrap_or_default(),
            r.query.as_deref().unwrap_or_default()
        ),
    }
}

fn rule_label(r: &QualityRule) -> String {
    r.name
        .clone()
        .or_else(|| r.metric().map(str::to_string))
        .or_else(|| r.description.clone())
        .unwrap_or_else(|| r.kind().to_string())
}

/// `validValues` of an `invalidValues` rule.
fn valid_values(r: &QualityRule) -> Option<BTreeSet<String>> {
    if r.metric() != Some("invalidValues") {
        return None;
    }
    let list = r.arguments.as_ref()?.get("validValues")?.as_array()?;
    Some(list.iter().map(Value::to_string).collect())
}

fn quality(path: &str, old: &[QualityRule], new: &[QualityRule], out: &mut Vec<Change>) {
    let new_by_key: BTreeMap<String, &QualityRule> = new.iter().map(|r| (rule_key(r), r)).collect();
    let old_keys: BTreeSet<String> = old.iter().map(rule_key).collect();
    for r in old {
        let field = format!("{path}.quality[{}]", rule_label(r));
        let Some(n) = new_by_key.get(&rule_key(r)) else {
            out.push(change(
                Impact::Breaking,
                "quality_removed",
                field,
                "the quality rule was removed: what it guaranteed is no longer checked".into(),
                None,
                None,
            ));
            continue;
        };
        if quality_json(r) == quality_json(n) {
            continue;
        }
        if let (Some(before), Some(after)) = (valid_values(r), valid_values(n)) {
            let added: Vec<&String> = after.difference(&before).collect();
            let removed: Vec<&String> = before.difference(&after).collect();
            let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            if !added.is_empty() {
                out.push(change(
                    Impact::Breaking,
                    "allowed_values_added",
                    field.clone(),
                    format!(
                        "allowed values added ({}): a reader that handles every old value meets new ones",
                        list(&added)
                    ),
                    None,
                    None,
                ));
            }
            if !removed.is_empty() {
                out.push(change(
                    Impact::NonBreaking,
                    "allowed_values_removed",
                    field,
                    format!(
                        "allowed values removed ({}): a stronger promise",
                        list(&removed)
                    ),
                    None,
                    None,
                ));
            }
            continue;
        }
        out.push(change(
            Impact::Breaking,
            "quality_changed",
            field,
            "the quality rule changed and cannot be shown to be stricter: taken as breaking".into(),
            None,
            None,
        ));
    }
    for n in new {
        if !old_keys.contains(&rule_key(n)) {
            out.push(change(
                Impact::NonBreaking,
                "quality_added",
                format!("{path}.quality[{}]", rule_label(n)),
                "a quality rule was added: a stronger promise".into(),
                None,
                None,
            ));
        }
    }
}

/// A rule as compared: its fields that say what it checks (not its description).
fn quality_json(r: &QualityRule) -> Value {
    serde_json::json!({
        "kind": r.kind(), "metric": r.metric(), "arguments": r.arguments, "query": r.query,
        "unit": r.unit, "severity": r.severity, "mustBe": r.must_be, "mustNotBe": r.must_not_be,
        "gt": r.must_be_greater_than, "ge": r.must_be_greater_or_equal_to,
        "lt": r.must_be_less_than, "le": r.must_be_less_or_equal_to,
        "between": r.must_be_between, "notBetween": r.must_not_be_between,
    })
}

/// Which way an SLA property is stronger.
enum Better {
    Lower,
    Higher,
}

fn better(property: &str) -> Option<Better> {
    match property.to_ascii_lowercase().as_str() {
        "latency" | "freshness" | "frequency" | "errorrate" | "timetodetect" | "timetonotify"
        | "timetorepair" | "timeofavailability" => Some(Better::Lower),
        "retention" | "availability" | "throughput" | "endofsupport" | "endoflife" => {
            Some(Better::Higher)
        }
        _ => None,
    }
}

/// A comparable magnitude: a duration in seconds when the unit is a time, a date as its
/// text (ISO dates compare as text), else the number.
fn magnitude(s: &SlaProperty) -> Option<Magnitude> {
    if let Some(n) = number(&s.value) {
        return Some(Magnitude::Number(match s.unit.as_deref() {
            Some(u) => crate::odcs::unit_seconds(u).map_or(n, |f| n * f),
            None => n,
        }));
    }
    s.value.as_str().map(|t| Magnitude::Text(t.to_string()))
}

enum Magnitude {
    Number(f64),
    Text(String),
}

impl Magnitude {
    /// `None` when the two are not of one kind (a number and a text).
    fn compare(&self, other: &Magnitude) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Magnitude::Number(a), Magnitude::Number(b)) => a.partial_cmp(b),
            (Magnitude::Text(a), Magnitude::Text(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

fn sla_key(s: &SlaProperty) -> String {
    match &s.element {
        Some(e) => format!("{}@{e}", s.property.to_ascii_lowercase()),
        None => s.property.to_ascii_lowercase(),
    }
}

fn sla(old: &[SlaProperty], new: &[SlaProperty], out: &mut Vec<Change>) {
    let new_by_key: BTreeMap<String, &SlaProperty> = new.iter().map(|s| (sla_key(s), s)).collect();
    let old_keys: BTreeSet<String> = old.iter().map(sla_key).collect();
    for s in old {
        let path = format!("sla.{}", s.property);
        let Some(n) = new_by_key.get(&sla_key(s)) else {
            out.push(change(
                Impact::Breaking,
                "sla_removed",
                path,
                format!("the SLA `{}` ({}) was removed", s.property, s.shown()),
                Some(s.value.clone()),
                None,
            ));
            continue;
        };
        if s.value == n.value && norm(&s.unit) == norm(&n.unit) {
            continue;
        }
        let (old_m, new_m) = (magnitude(s), magnitude(n));
        let verdict = match (better(&s.property), old_m, new_m) {
            (Some(direction), Some(a), Some(b)) => a.compare(&b).map(|order| match direction {
                Better::Lower => order.is_lt(),
                Better::Higher => order.is_gt(),
            }),
            _ => None,
        };
        let (impact, kind, why) = match verdict {
            Some(true) => (Impact::Breaking, "sla_weakened", "weakened"),
            Some(false) => (Impact::NonBreaking, "sla_tightened", "tightened"),
            None => (
                Impact::Breaking,
                "sla_changed",
                "changed and cannot be compared: taken as weakened",
            ),
        };
        out.push(change(
            impact,
            kind,
            path,
            format!("{} {} → {}: {why}", s.property, s.shown(), n.shown()),
            Some(s.value.clone()),
            Some(n.value.clone()),
        ));
    }
    for n in new {
        if !old_keys.contains(&sla_key(n)) {
            out.push(change(
                Impact::NonBreaking,
                "sla_added",
                format!("sla.{}", n.property),
                format!("the SLA `{}` ({}) was added", n.property, n.shown()),
                None,
                Some(n.value.clone()),
            ));
        }
    }
}
