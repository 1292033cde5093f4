//! Contract evolution: the contract a port was published under, and who a breaking
//! change would break.
//!
//! ```text
//!   versions (catalog) ─▶ contract_version ─▶ contracts (catalog) ─▶ published Contract
//!   diff(published, mesh's) ─▶ breaking changes ─▶ columns they touch
//!        ├─▶ audit log (queries that read the port in the last N days) ─▶ principals
//!        └─▶ lineage (products whose SQL reads the port)              ─▶ products
//! ```
//!
//! A consumer is affected by a change of a column when it read that column (the audit
//! record lists the columns each query scanned; a downstream product's SQL names it, or
//! selects `*`); a change of the whole table (removed, an SLA, a table quality rule)
//! affects every reader.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use serde::Serialize;
use tessera_catalog::{AuditOutcome, AuditQuery, PortKey};
use tessera_model::diff::{Change, ContractDiff, Impact};
use tessera_model::mesh::{InputTarget, Port, Product};
use tessera_model::odcs::Contract;

use crate::{Engine, lineage};

/// A port of the mesh by its table name (`domain.port`).
pub fn find_port<'a>(engine: &'a Engine, table: &str) -> Option<(&'a Product, &'a Port)> {
    let (domain, port) = table.split_once('.')?;
    engine
        .mesh
        .products()
        .filter(|p| p.domain.as_str() == domain)
        .find_map(|p| {
            p.ports
                .iter()
                .find(|q| q.name.as_str() == port)
                .map(|q| (p, q))
        })
}

/// The contract a published version of a port was committed under (the newest version
/// when `version` is `None`), as recorded in the metadata store: `None` when the port
/// was never published. The document is the one recorded last before the version was
/// committed (a contract version re-recorded with other content later is not it).
pub async fn published_contract(
    engine: &Engine,
    product: &Product,
    port: &Port,
    version: Option<i64>,
) -> Result<Option<(i64, Contract)>, String> {
    let key = PortKey::new(
        product.domain.as_str(),
        product.name.as_str(),
        port.name.as_str(),
    );
    let table = format!("{}.{}", product.domain, port.name);
    let versions = engine
        .catalog
        .versions(&key)
        .await
        .map_err(|e| format!("metadata store: {e}"))?;
    let chosen = match version {
        Some(n) => match versions.iter().find(|v| v.version == n) {
            Some(v) => v,
            None => {
                let known: Vec<String> = versions.iter().map(|v| v.version.to_string()).collect();
                return Err(format!(
                    "{table} has no published version {n}{}",
                    if known.is_empty() {
                        ": it was never published".to_string()
                    } else {
                        format!(" (its versions: {})", known.join(", "))
                    }
                ));
            }
        },
        None => match versions.last() {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    // The contract id: the recorded port's (the mesh's may have changed since).
    let ports = engine
        .catalog
        .ports()
        .await
        .map_err(|e| format!("metadata store: {e}"))?;
    let contract_id = ports
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.contract_id.clone())
        .or_else(|| port.contract.as_ref().map(|c| c.id.to_string()))
        .ok_or_else(|| format!("{table}: no contract is recorded for it"))?;
    let records = engine
        .catalog
        .contracts(&contract_id)
        .await
        .map_err(|e| format!("metadata store: {e}"))?;
    let same_version = records
        .iter()
        .filter(|r| r.version == chosen.contract_version);
    let record = same_version
        .clone()
        .rfind(|r| r.recorded_at <= chosen.committed_at)
        .or_else(|| same_version.clone().next_back())
        .ok_or_else(|| {
            format!(
                "{table} version {} was published under contract {contract_id} {}, which the metadata store does not hold",
                chosen.version, chosen.contract_version
            )
        })?;
    let name = format!("{table}@{} (contract {})", chosen.version, record.version);
    let (contract, diags) = Contract::parse(&name, &record.document_yaml);
    match contract {
        Some(c) => Ok(Some((chosen.version, c))),
        None => Err(format!(
            "the recorded contract of {name} does not parse any more: {}",
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// Who read a port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consumer {
    /// `principal` (queries in the audit log) or `product` (its SQL reads the port).
    pub kind: &'static str,
    /// The principal, or `domain/product`.
    pub name: String,
    /// The columns of the change it read (all it read, for a change of the whole table).
    pub columns: Vec<String>,
    /// Queries in the window (0 for a product).
    pub reads: u64,
    pub last_read: Option<DateTime<Utc>>,
}

/// The consumers of one breaking change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeImpact {
    pub path: String,
    pub reason: String,
    pub consumers: Vec<Consumer>,
}

/// What readers of a port did, gathered once.
struct Readers {
    /// principal → column → (reads, last)
    principals: BTreeMap<String, BTreeMap<String, (u64, DateTime<Utc>)>>,
    /// principal → (queries of the port, last); `count(*)` reads no column but counts.
    queries: BTreeMap<String, (u64, DateTime<Utc>)>,
    /// `domain/product` → the columns its SQL names (`None`: `*`, every column).
    products: BTreeMap<String, Option<BTreeSet<String>>>,
}

/// The column a change is about, if it is about one: `object.column…` → `column`.
fn column_of(change: &Change) -> Option<&str> {
    if change.path.starts_with("sla.") || !change.path.contains('.') {
        return None;
    }
    let rest = change.path.split_once('.')?.1;
    let column = rest.split(['.', '[']).next()?;
    // A table-level quality rule: `object.quality[…]`.
    (column != "quality" && !column.is_empty()).then_some(column)
}

/// For each breaking change of `diff` to port `table`: who read what it changes — the
/// principals whose queries read it since `since` (from the audit log), and the
/// products whose SQL reads it (from lineage).
pub async fn consumers(
    engine: &Engine,
    table: &str,
    diff: &ContractDiff,
    since: DateTime<Utc>,
) -> Result<Vec<ChangeImpact>, String> {
    let breaking: Vec<&Change> = diff
        .changes
        .iter()
        .filter(|c| c.impact == Impact::Breaking)
        .collect();
    if breaking.is_empty() {
        return Ok(Vec::new());
    }
    let readers = readers(engine, table, since).await?;
    Ok(breaking
        .into_iter()
        .map(|change| {
            let column = column_of(change);
            let mut consumers = Vec::new();
            for (principal, columns) in &readers.principals {
                let hit: Vec<(&String, &(u64, DateTime<Utc>))> = columns
                    .iter()
                    .filter(|(c, _)| column.is_none_or(|want| c.eq_ignore_ascii_case(want)))
                    .collect();
                if hit.is_empty() {
                    continue;
                }
                consumers.push(Consumer {
                    kind: "principal",
                    name: principal.clone(),
                    columns: hit.iter().map(|(c, _)| c.to_string()).collect(),
                    reads: hit.iter().map(|(_, (n, _))| *n).max().unwrap_or(0),
                    last_read: hit.iter().map(|(_, (_, at))| *at).max(),
                });
            }
            for (product, columns) in &readers.products {
                let reads_it = match (column, columns) {
                    (_, None) | (None, _) => true,
                    (Some(c), Some(named)) => named.contains(&c.to_ascii_lowercase()),
                };
                if reads_it {
                    consumers.push(Consumer {
                        kind: "product",
                        name: product.clone(),
                        columns: column.map(|c| vec![c.to_string()]).unwrap_or_default(),
                        reads: 0,
                        last_read: None,
                    });
                }
            }
            ChangeImpact {
                path: change.path.clone(),
                reason: change.reason.clone(),
                consumers,
            }
        })
        .collect())
}

/// Everyone who used a port: the principals whose queries read it since `since` (with the
/// columns they read) and the products whose SQL reads it. What a deprecation notice's
/// owners need to know: whom to tell.
pub async fn port_consumers(
    engine: &Engine,
    table: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Consumer>, String> {
    let mut readers = readers(engine, table, since).await?;
    let mut out = Vec::new();
    for (principal, (reads, last)) in readers.queries {
        let columns = readers.principals.remove(&principal).unwrap_or_default();
        out.push(Consumer {
            kind: "principal",
            name: principal,
            reads,
            last_read: Some(last),
            columns: columns.into_keys().collect(),
        });
    }
    for (product, _) in readers.products {
        out.push(Consumer {
            kind: "product",
            name: product,
            columns: Vec::new(),
            reads: 0,
            last_read: None,
        });
    }
    Ok(out)
}

async fn readers(engine: &Engine, table: &str, since: DateTime<Utc>) -> Result<Readers, String> {
    let records = engine
        .catalog
        .audit(&AuditQuery {
            resource: Some(table.to_string()),
            action: Some("query".into()),
            outcome: Some(AuditOutcome::Ok),
            since: Some(since),
            ..AuditQuery::default()
        })
        .await
        .map_err(|e| format!("audit log: {e}"))?;
    let mut principals: BTreeMap<String, BTreeMap<String, (u64, DateTime<Utc>)>> = BTreeMap::new();
    let mut queries: BTreeMap<String, (u64, DateTime<Utc>)> = BTreeMap::new();
    for r in &records {
        let Some(entries) = r.resources.as_array() else {
            continue;
        };
        if entries.iter().any(|e| e["table"] == table) {
            let seen = queries.entry(r.principal.clone()).or_insert((0, r.at));
            seen.0 += 1;
            seen.1 = seen.1.max(r.at);
        }
        for entry in entries.iter().filter(|e| e["table"] == table) {
            let columns = principals.entry(r.principal.clone()).or_default();
            let names = entry["columns"].as_array().cloned().unwrap_or_default();
            for c in names.iter().filter_map(|c| c["name"].as_str()) {
                let seen = columns.entry(c.to_string()).or_insert((0, r.at));
                seen.0 += 1;
                seen.1 = seen.1.max(r.at);
            }
        }
    }
    let mut products = BTreeMap::new();
    for edge in lineage::edges(&engine.mesh) {
        let InputTarget::Port(_, _) = &edge.upstream else {
            continue;
        };
        if edge.upstream.table() != table {
            continue;
        }
        let p = edge.downstream;
        let mut named = Some(BTreeSet::new());
        for port in &p.ports {
            if let Some(sql) = &port.sql {
                match identifiers(&sql.text) {
                    None => named = None,
                    Some(words) => {
                        if let Some(n) = named.as_mut() {
                            n.extend(words);
                        }
                    }
                }
            }
        }
        products.insert(format!("{}/{}", p.domain, p.name), named);
    }
    Ok(Readers {
        principals,
        queries,
        products,
    })
}

/// The words of a SQL text, lower-cased; `None` when it selects `*` (every column).
fn identifiers(sql: &str) -> Option<BTreeSet<String>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let mut words = BTreeSet::new();
    let mut previous: Option<&Token> = None;
    for token in tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))) {
        match token {
            Token::Word(w) => {
                words.insert(w.value.to_ascii_lowercase());
            }
            // `SELECT *`, `, *`, `t.*`: every column.
            Token::Mul
                if matches!(previous, Some(Token::Comma | Token::Period) | None)
                    || matches!(previous, Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("select") || w.value.eq_ignore_ascii_case("distinct")) =>
            {
                return None;
            }
            _ => {}
        }
        previous = Some(token);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_reads_every_column_and_words_are_the_rest() {
        assert_eq!(identifiers("SELECT * FROM crm.customers"), None);
        assert_eq!(identifiers("SELECT c.* FROM crm.customers c"), None);
        assert_eq!(identifiers("select distinct * from t"), None);
        let words =
            identifiers("SELECT customer_id, 2 * amount AS Twice FROM crm.customers").unwrap();
        assert!(
            words.contains("customer_id") && words.contains("amount") && words.contains("twice")
        );
        assert!(!words.contains("email"));
    }

    #[test]
    fn the_column_of_a_change_is_the_second_part_of_its_path() {
        let change = |path: &str| Change {
            impact: Impact::Breaking,
            kind: "x",
            path: path.into(),
            reason: String::new(),
            before: None,
            after: None,
        };
        assert_eq!(
            column_of(&change("customers.email.logicalType")),
            Some("email")
        );
        assert_eq!(column_of(&change("customers.tags[]")), Some("tags"));
        assert_eq!(column_of(&change("customers.email")), Some("email"));
        assert_eq!(column_of(&change("customers")), None);
        assert_eq!(column_of(&change("customers.quality[rows]")), None);
        assert_eq!(column_of(&change("sla.latency")), None);
    }
}
