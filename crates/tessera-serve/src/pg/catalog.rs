//! `pg_catalog` for PostgreSQL clients: psql's `\d` and BI tools read it to list schemas,
//! tables and columns. It is a [`SessionExtension`], installed only on statements that
//! name it (or a PostgreSQL function), and built — by datafusion-pg-catalog — over the
//! statement's own catalog, whose only tables are the caller's governed views: a column
//! hidden from the caller is absent from `pg_attribute`, a denied table from `pg_class`.
//!
//! What [`setup_pg_catalog`] does, done here with three differences:
//! - PostgreSQL's fixed tables (`pg_type`, `pg_proc`, … decoded from Arrow files) are
//!   decoded once per process, not once per statement (about 110 ms in a debug build);
//! - one `pg_catalog` provider per connection, not per statement: it numbers schemas and
//!   tables (their OIDs) as it first meets them, and clients join statements by OID
//!   (psql's `\d t` finds t's OID in `pg_class`, then reads `pg_attribute` by it);
//! - the tables are listed through [`Governed`], pointed at each statement's governed
//!   catalog before it is planned; it shows every port as a table (`relkind` `r`, so `\dt`
//!   lists them; they are views to DataFusion) and leaves out a port that cannot be
//!   opened (never published) rather than failing the listing.
//!
//! [`setup_pg_catalog`]: datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::CatalogProviderList;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::generate_series_arg_coercion::CoerceIntArgsToBigInt;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    self as pg, PgCatalogSchemaProvider, PgCatalogStaticTables, array_bounds_udf, format_type,
    has_privilege_udf, pg_get_expr_udf, quote_ident_udf,
};
use tessera_engine::query::SessionExtension;

/// The one catalog of a governed session (`current_database()`).
const MESH: &str = "mesh";

/// The schema of the mesh's own metadata tables, listed as views.
const MESH_META: &str = "mesh_meta";

/// What `version()` answers: PostgreSQL's form, which drivers parse, then what we are.
pub(super) fn version() -> String {
    format!(
        "PostgreSQL {} (Tessera {}; Apache DataFusion, read-only)",
        super::SERVER_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// PostgreSQL's fixed catalog tables, decoded on first use.
static STATIC_TABLES: LazyLock<Result<Arc<PgCatalogStaticTables>, String>> = LazyLock::new(|| {
    PgCatalogStaticTables::try_new()
        .map(Arc::new)
        .map_err(|e| e.to_string())
});

type Provider = PgCatalogSchemaProvider<Governed, EmptyContextProvider>;

/// `pg_catalog` and the PostgreSQL functions, for one principal's connection.
#[derive(Debug)]
pub(super) struct PgCatalog {
    principal: String,
    /// The catalog of the statement being planned (what `provider` lists).
    current: Arc<Mutex<Option<Listing>>>,
    provider: OnceLock<Arc<Provider>>,
}

impl PgCatalog {
    pub fn new(principal: &str) -> PgCatalog {
        PgCatalog {
            principal: principal.to_string(),
            current: Default::default(),
            provider: OnceLock::new(),
        }
    }
}

/// A function of `inputs` that always answers `value`.
fn fixed(name: &str, inputs: Vec<DataType>, value: ScalarValue) -> ScalarUDF {
    create_udf(
        name,
        inputs,
        value.data_type(),
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
    )
}

fn constant(name: &str, value: String) -> ScalarUDF {
    fixed(name, vec![], ScalarValue::Utf8(Some(value)))
}

/// What psql's `\dt+`, `\dn+`, `\df` and `\dT` call that datafusion-pg-catalog lacks:
/// no comments, no sizes, every object visible.
fn psql_extras() -> Vec<ScalarUDF> {
    use DataType::{Int32, Int64, Utf8};
    let text = ScalarValue::Utf8(None);
    let yes = ScalarValue::Boolean(Some(true));
    vec![
        fixed("obj_description", vec![Int32, Utf8], text.clone()),
        fixed("col_description", vec![Int32, Int32], text.clone()),
        fixed("shobj_description", vec![Int32, Utf8], text.clone()),
        fixed("pg_get_function_result", vec![Int32], text.clone()),
        fixed("pg_get_function_arguments", vec![Int32], text.clone()),
        fixed("pg_size_pretty", vec![Int64], text),
        fixed("pg_table_size", vec![Int32], ScalarValue::Int64(None)),
        fixed("pg_function_is_visible", vec![Int32], yes.clone()),
        fixed("pg_type_is_visible", vec![Int32], yes),
    ]
}

impl SessionExtension for PgCatalog {
    fn schemas(&self) -> Vec<String> {
        vec!["pg_catalog".into()]
    }

    fn install(&self, ctx: &SessionContext) -> datafusion::error::Result<()> {
        let tables = STATIC_TABLES
            .as_ref()
            .map_err(|e| DataFusionError::Execution(e.clone()))?
            .clone();
        // The connection runs one statement at a time: point the listing at this one's
        // catalog, whose only tables are the caller's governed views.
        *self.current.lock().expect("listing lock is never poisoned") = Some(Listing {
            catalogs: ctx.state().catalog_list().clone(),
            schemas: Default::default(),
        });
        let provider = match self.provider.get() {
            Some(p) => p.clone(),
            None => {
                let listed = Governed {
                    current: self.current.clone(),
                };
                let p = Arc::new(PgCatalogSchemaProvider::try_new(
                    listed,
                    tables.clone(),
                    EmptyContextProvider,
                )?);
                self.provider.get_or_init(|| p).clone()
            }
        };
        ctx.catalog(MESH)
            .ok_or_else(|| DataFusionError::Plan(format!("no catalog `{MESH}`")))?
            .register_schema("pg_catalog", provider)?;

        ctx.register_udf(pg::create_current_database_udf(MESH));
        ctx.register_udf(pg::create_current_schema_udf());
        ctx.register_udf(pg::create_current_schemas_udf());
        ctx.register_udf(pg::create_pg_get_userbyid_udf());
        for name in [
            "has_table_privilege",
            "has_schema_privilege",
            "has_database_privilege",
            "has_any_column_privilege",
        ] {
            ctx.register_udf(has_privilege_udf::create_has_privilege_udf(name));
        }
        ctx.register_udf(pg::create_pg_table_is_visible());
        ctx.register_udf(format_type::create_format_type_udf());
        ctx.register_udtf("pg_get_keywords", tables.pg_get_keywords.clone());
        ctx.register_udf(pg_get_expr_udf::create_pg_get_expr_udf());
        ctx.register_udf(pg::create_pg_get_partkeydef_udf());
        ctx.register_udf(pg::create_pg_relation_is_publishable_udf());
        ctx.register_udf(pg::create_pg_get_statisticsobjdef_columns_udf());
        ctx.register_udf(pg::create_pg_encoding_to_char_udf());
        ctx.register_udf(pg::create_pg_backend_pid_udf());
        ctx.register_udf(pg::create_pg_relation_size_udf());
        ctx.register_udf(pg::create_pg_total_relation_size_udf());
        ctx.register_udf(pg::create_pg_stat_get_numscans());
        ctx.register_udf(pg::create_pg_get_constraintdef());
        ctx.register_udf(pg::create_pg_get_partition_ancestors_udf());
        ctx.register_udf(quote_ident_udf::create_quote_ident_udf());
        ctx.register_udf(quote_ident_udf::create_parse_ident_udf());
        ctx.register_udf(array_bounds_udf::create_array_upper_udf());
        ctx.register_udf(array_bounds_udf::create_array_lower_udf());
        // `current_user` is rewritten to `session_user()`; both are the principal.
        ctx.register_udf(constant("session_user", self.principal.clone()));
        ctx.register_udf(constant("current_user", self.principal.clone()));
        ctx.register_udf(constant("version", version()));
        for f in psql_extras() {
            ctx.register_udf(f);
        }

        // `regclass`, `regtype`, … as type names in casts.
        let state = ctx.state_ref();
        let current = state.read().clone();
        *state.write() = SessionStateBuilder::new_from_existing(current)
            .with_type_planner(Arc::new(PgOidTypePlanner))
            .build();
        // `generate_series` over PostgreSQL's int4 bounds.
        CoerceIntArgsToBigInt::widen(ctx);
        Ok(())
    }
}

/// The schemas of a statement's tables as opened so far, by (schema, table); `None`: it
/// could not be opened.
type Opened = Mutex<HashMap<(String, String), Option<SchemaRef>>>;

/// The catalog of one statement, and the schemas of its tables as opened so far.
#[derive(Debug, Clone)]
struct Listing {
    catalogs: Arc<dyn CatalogProviderList>,
    schemas: Arc<Opened>,
}

/// The statement's catalogs as `pg_class` and `pg_attribute` list them. Each table is
/// opened once per statement; one that cannot be opened is left out.
///
/// The provider's own `Governed` follows [`PgCatalog::current`]; a clone — what each
/// `pg_class`, `pg_attribute`, … table takes when a statement is planned — keeps the
/// statement it was made for, so a table read later (a suspended portal) still lists the
/// catalog of its own statement.
#[derive(Debug)]
struct Governed {
    current: Arc<Mutex<Option<Listing>>>,
}

impl Clone for Governed {
    fn clone(&self) -> Governed {
        Governed {
            current: Arc::new(Mutex::new(self.listing())),
        }
    }
}

impl Governed {
    fn listing(&self) -> Option<Listing> {
        self.current
            .lock()
            .expect("listing lock is never poisoned")
            .clone()
    }

    fn catalogs(&self) -> Result<Arc<dyn CatalogProviderList>, DataFusionError> {
        self.listing()
            .map(|l| l.catalogs)
            .ok_or_else(|| DataFusionError::Internal("pg_catalog read before a statement".into()))
    }
}

#[async_trait]
impl CatalogInfo for Governed {
    async fn catalog_names(&self) -> Result<Vec<String>, DataFusionError> {
        Ok(CatalogProviderList::catalog_names(
            self.catalogs()?.as_ref(),
        ))
    }

    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>, DataFusionError> {
        Ok(self.catalogs()?.catalog(catalog).map(|c| c.schema_names()))
    }

    async fn table_names(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<Option<Vec<String>>, DataFusionError> {
        Ok(self
            .catalogs()?
            .catalog(catalog)
            .and_then(|c| c.schema(schema))
            .map(|s| s.table_names()))
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<SchemaRef>, DataFusionError> {
        let Some(listing) = self.listing() else {
            return Ok(None);
        };
        let key = (schema.to_string(), table.to_string());
        if let Some(known) = listing
            .schemas
            .lock()
            .expect("schema cache lock is never poisoned")
            .get(&key)
        {
            return Ok(known.clone());
        }
        let Some(provider) = listing
            .catalogs
            .catalog(catalog)
            .and_then(|c| c.schema(schema))
        else {
            return Ok(None);
        };
        let found = match provider.table(table).await {
            Ok(t) => t.map(|t| t.schema()),
            Err(e) => {
                tracing::debug!("pg_catalog leaves out {schema}.{table}: {e}");
                None
            }
        };
        listing
            .schemas
            .lock()
            .expect("schema cache lock is never poisoned")
            .insert(key, found.clone());
        Ok(found)
    }

    async fn table_type(
        &self,
        _catalog: &str,
        schema: &str,
        _table: &str,
    ) -> Result<Option<TableType>, DataFusionError> {
        Ok(Some(match schema {
            "information_schema" | MESH_META => TableType::View,
            _ => TableType::Base,
        }))
    }
}
