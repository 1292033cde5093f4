//! The Flight SQL catalog commands (GetCatalogs, GetDbSchemas, GetTables, GetTableTypes),
//! answered by governed SQL over `information_schema` in the caller's session: a client
//! browsing the mesh sees exactly the tables and columns its queries may read, and each
//! listing is audited like any other statement.
//!
//! A table's Arrow schema (GetTables with `include_schema`) is the planned schema of
//! `SELECT * FROM` it in the same session, so masked columns show the masked type and
//! absent columns do not show.

use std::sync::Arc;

use arrow_flight::sql::metadata::{GetDbSchemasBuilder, GetTablesBuilder};
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use futures::StreamExt;
use tessera_engine::query::QuerySession;

use super::{INTERFACE, wire_schema};
use crate::error::ServeError;
use crate::state::Shared;

/// Runs a catalog query and returns its rows as text (every column cast to Utf8).
async fn rows(
    shared: &Arc<Shared>,
    session: &QuerySession,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, ServeError> {
    let mut stream = shared.run(session, sql, INTERFACE).await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let columns = batch
            .columns()
            .iter()
            .map(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ServeError::internal)?;
        for row in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        (!c.is_null(row)).then(|| c.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// `'text'`, quoted for SQL.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `"name"`, quoted for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `WHERE …` of the given conditions, or nothing.
fn filter(conditions: Vec<String>) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

pub(super) async fn catalogs(
    shared: &Arc<Shared>,
    session: &QuerySession,
) -> Result<Vec<String>, ServeError> {
    let rows = rows(
        shared,
        session,
        "SELECT DISTINCT catalog_name FROM information_schema.schemata ORDER BY 1",
    )
    .await?;
    Ok(rows.into_iter().filter_map(|mut r| r.remove(0)).collect())
}

pub(super) async fn schemas(
    shared: &Arc<Shared>,
    session: &QuerySession,
    command: CommandGetDbSchemas,
) -> Result<RecordBatch, ServeError> {
    let mut conditions = Vec::new();
    if let Some(c) = &command.catalog {
        conditions.push(format!("catalog_name = {}", literal(c)));
    }
    if let Some(p) = &command.db_schema_filter_pattern {
        conditions.push(format!("schema_name LIKE {}", literal(p)));
    }
    let sql = format!(
        "SELECT catalog_name, schema_name FROM information_schema.schemata{}",
        filter(conditions)
    );
    let mut builder: GetDbSchemasBuilder = command.into_builder();
    for row in rows(shared, session, &sql).await? {
        if let [Some(catalog), Some(schema)] = &row[..] {
            builder.append(catalog, schema);
        }
    }
    builder.build().map_err(ServeError::internal)
}

pub(super) async fn tables(
    shared: &Arc<Shared>,
    session: &QuerySession,
    command: CommandGetTables,
) -> Result<RecordBatch, ServeError> {
    let mut conditions = Vec::new();
    if let Some(c) = &command.catalog {
        conditions.push(format!("table_catalog = {}", literal(c)));
    }
    if let Some(p) = &command.db_schema_filter_pattern {
        conditions.push(format!("table_schema LIKE {}", literal(p)));
    }
    if let Some(p) = &command.table_name_filter_pattern {
        conditions.push(format!("table_name LIKE {}", literal(p)));
    }
    if !command.table_types.is_empty() {
        let types: Vec<String> = command.table_types.iter().map(|t| literal(t)).collect();
        conditions.push(format!("table_type IN ({})", types.join(", ")));
    }
    let sql = format!(
        "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables{}",
        filter(conditions)
    );
    let found: Vec<[String; 4]> = rows(shared, session, &sql)
        .await?
        .into_iter()
        .filter_map(|r| match &r[..] {
            [Some(c), Some(s), Some(t), Some(k)] => {
                Some([c.clone(), s.clone(), t.clone(), k.clone()])
            }
            _ => None,
        })
        .collect();
    let mut builder: GetTablesBuilder = command.into_builder();
    let schemas: Vec<SchemaRef> = if builder.include_schema() {
        let planned: Vec<_> = found
            .iter()
            .map(|[_, s, t, _]| table_schema(session, s.clone(), t.clone()))
            .collect();
        futures::stream::iter(planned).buffered(4).collect().await
    } else {
        let empty = Arc::new(Schema::empty());
        found.iter().map(|_| empty.clone()).collect()
    };
    for ([catalog, schema, table, kind], table_schema) in found.iter().zip(schemas) {
        builder
            .append(catalog, schema, table, kind, &table_schema)
            .map_err(ServeError::internal)?;
    }
    builder.build().map_err(ServeError::internal)
}

/// The schema a query of every column of the table returns in this session. A table that
/// cannot be planned (its port is unavailable) is listed with no columns, so one broken
/// port does not hide the others.
async fn table_schema(session: &QuerySession, schema: String, table: String) -> SchemaRef {
    let sql = format!("SELECT * FROM {}.{}", ident(&schema), ident(&table));
    match session.plan(&sql).await {
        Ok(query) => wire_schema(&query.schema()),
        Err(e) => {
            tracing::warn!(
                interface = INTERFACE,
                "{schema}.{table} is listed without columns: {e}"
            );
            Arc::new(Schema::empty())
        }
    }
}

pub(super) async fn table_types(
    shared: &Arc<Shared>,
    session: &QuerySession,
) -> Result<Vec<String>, ServeError> {
    let rows = rows(
        shared,
        session,
        "SELECT DISTINCT table_type FROM information_schema.tables ORDER BY 1",
    )
    .await?;
    Ok(rows.into_iter().filter_map(|mut r| r.remove(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_a_name_or_a_pattern_one_token() {
        assert_eq!(literal("o'brien%"), "'o''brien%'");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(filter(vec![]), "");
        assert_eq!(
            filter(vec!["a = 1".into(), "b = 2".into()]),
            " WHERE a = 1 AND b = 2"
        );
    }
}
