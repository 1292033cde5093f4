//! What a query session may read: a [`TableSet`] of named tables, each with a
//! [`TableSource`] that opens it. The session sees these and nothing else; whoever builds
//! the set (the engine today, governance next) decides what is in it and what each source
//! returns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::catalog::TableProvider;
use serde::Serialize;

use super::QueryError;

/// Which state of a table a query reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum At {
    Latest,
    /// `VERSION AS OF n`: a Delta version.
    Version(i64),
    /// `TIMESTAMP AS OF '…'`: the newest version committed at or before this instant.
    Time(DateTime<Utc>),
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Latest => f.write_str("the latest version"),
            At::Version(v) => write!(f, "version {v}"),
            At::Time(t) => write!(f, "{}", t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

/// A table, opened.
#[derive(Debug, Clone)]
pub struct Opened {
    pub provider: Arc<dyn TableProvider>,
    /// The Delta version read, for tables that have versions.
    pub version: Option<i64>,
}

/// Opens one table of a [`TableSet`].
#[async_trait]
pub trait TableSource: fmt::Debug + Send + Sync {
    /// The table at `at`; an error says why it cannot be read (never published, no such
    /// version, no versions at all).
    async fn open(&self, at: &At) -> Result<Opened, QueryError>;
}

/// What kind of table an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// An output port of a data product.
    Port,
    /// A table of the mesh's own metadata (`mesh_meta.*`).
    Meta,
}

impl TableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Port => "data product port",
            TableKind::Meta => "mesh metadata",
        }
    }
}

/// What the contract says about a column.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub description: Option<String>,
    pub logical_type: Option<String>,
    pub classification: Option<String>,
    /// The subject this column identifies (`tesseraSubjectKey`), e.g. `customer`.
    pub subject_key: Option<String>,
    pub required: bool,
    pub unique: bool,
    pub primary_key: bool,
    pub tags: Vec<String>,
    /// The mask this session sees the column through (`hash`, `partial`, …), if masked.
    pub masked: Option<String>,
}

/// A column of a table that the session may not see, and why (naming the policy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HiddenColumn {
    pub name: String,
    pub why: String,
}

/// One table a session may read, as `<schema>.<name>`.
#[derive(Debug, Clone)]
pub struct TableEntry {
    pub schema: String,
    pub name: String,
    pub kind: TableKind,
    /// The product it belongs to (`web/events`), for ports.
    pub product: Option<String>,
    pub description: Option<String>,
    /// The contract's columns, in contract order (empty for metadata tables).
    pub columns: Vec<ColumnInfo>,
    /// Columns the contract has that this session may not see (governed sets only).
    pub hidden: Vec<HiddenColumn>,
    /// Said to whoever reads the table (a deprecation, with its replacement).
    pub notice: Option<String>,
    pub source: Arc<dyn TableSource>,
}

impl TableEntry {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The tables a query session may read, and the names it may not read with the reason
/// (a retired port, a draft), so an error can say why rather than "unknown table".
#[derive(Debug, Clone, Default)]
pub struct TableSet {
    tables: BTreeMap<(String, String), Arc<TableEntry>>,
    unavailable: BTreeMap<(String, String), String>,
    denied: BTreeMap<(String, String), String>,
}

impl TableSet {
    pub fn new() -> TableSet {
        TableSet::default()
    }

    pub fn insert(&mut self, entry: TableEntry) {
        let key = (entry.schema.clone(), entry.name.clone());
        self.unavailable.remove(&key);
        self.tables.insert(key, Arc::new(entry));
    }

    /// Records that `<schema>.<name>` exists but cannot be queried, and why.
    pub fn mark_unavailable(&mut self, schema: &str, name: &str, why: impl Into<String>) {
        let key = (schema.to_string(), name.to_string());
        if !self.tables.contains_key(&key) {
            self.unavailable.insert(key, why.into());
        }
    }

    /// Records that `<schema>.<name>` exists but this session is not permitted to read it.
    pub fn mark_denied(&mut self, schema: &str, name: &str, why: impl Into<String>) {
        let key = (schema.to_string(), name.to_string());
        if !self.tables.contains_key(&key) {
            self.denied.insert(key, why.into());
        }
    }

    /// Why this session may not read `<schema>.<name>`, if it may not.
    pub fn denied(&self, schema: &str, name: &str) -> Option<&str> {
        self.denied
            .get(&(schema.to_string(), name.to_string()))
            .map(String::as_str)
    }

    /// Every table marked unavailable, with why.
    pub fn unavailable_entries(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.unavailable
            .iter()
            .map(|((s, n), why)| (s.as_str(), n.as_str(), why.as_str()))
    }

    /// The hidden column `name` of any table, with why it is hidden.
    pub fn hidden_column(&self, name: &str) -> Option<(&TableEntry, &HiddenColumn)> {
        self.tables.values().find_map(|e| {
            e.hidden
                .iter()
                .find(|h| h.name == name)
                .map(|h| (e.as_ref(), h))
        })
    }

    pub fn get(&self, schema: &str, name: &str) -> Option<&Arc<TableEntry>> {
        self.tables.get(&(schema.to_string(), name.to_string()))
    }

    pub fn unavailable(&self, schema: &str, name: &str) -> Option<&str> {
        self.unavailable
            .get(&(schema.to_string(), name.to_string()))
            .map(String::as_str)
    }

    /// Every table, by schema and name.
    pub fn entries(&self) -> impl Iterator<Item = &Arc<TableEntry>> {
        self.tables.values()
    }

    pub fn schemas(&self) -> BTreeSet<String> {
        self.tables.keys().map(|(s, _)| s.clone()).collect()
    }

    pub fn has_schema(&self, schema: &str) -> bool {
        self.tables.keys().any(|(s, _)| s == schema)
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}
