//! One client connection (a "backend", in PostgreSQL's words): who it acts as, for which
//! purpose, and how it answers the simple and the extended query protocol.
//!
//! ```text
//!  Query(text) ─▶ commands ─▶ each in turn: run ─▶ RowDescription, DataRow…, CommandComplete
//!                                      (an error stops the rest: ErrorResponse)
//!  Parse(sql) ─▶ Command       Bind(values) ─▶ portal      Describe ─▶ plan, no run
//!  Execute(portal) ─▶ values written into the SQL ─▶ run ─▶ DataRow…, CommandComplete
//! ```
//!
//! Every query goes to `Shared::run` with the session `Shared::session` gives for the
//! connection's caller and purpose (looked up per statement, so a reloaded mesh is seen
//! at once); statements naming `pg_catalog` get the catalog extension ([`PgCatalog`]).
//! Rows are encoded by arrow-pg, in the text or binary format the client asked for.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::pgwire::api::auth::DefaultServerParameterProvider;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_query_response,
    send_ready_for_query,
};
use datafusion_postgres::pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::stmt::{QueryParser, StoredStatement};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, ConnectionManager, PgWireConnectionState,
    RandomPidSecretKeyGenerator, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::response::EmptyQueryResponse;
use datafusion_postgres::pgwire::messages::simplequery::Query;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use futures::future::{Either, select};
use futures::{Sink, SinkExt, StreamExt};
use tessera_engine::query::QuerySession;

use super::catalog::PgCatalog;
use super::statement::{self, Command, PRINCIPAL, PURPOSE};
use super::{INTERFACE, params};
use crate::auth::Caller;
use crate::error::{ErrorKind, ServeError};
use crate::state::{Rows, Shared};

/// What every connection of the server shares.
pub(super) struct Server {
    pub shared: Arc<Shared>,
    /// Running statements by (pid, secret key), for CancelRequest.
    pub cancels: Arc<ConnectionManager>,
    pub pids: RandomPidSecretKeyGenerator,
    /// The ParameterStatus messages of a login.
    pub parameters: DefaultServerParameterProvider,
}

/// One connection.
pub(super) struct Backend {
    pub server: Arc<Server>,
    /// Set when the connection was not admitted: its startup is answered with this.
    pub refused: Option<ServeError>,
    state: Mutex<State>,
    parser: Arc<Parser>,
}

#[derive(Default)]
struct State {
    caller: Option<Caller>,
    /// The token the connection logged in with (`None`: anonymous), checked again before
    /// each statement: a revoked or expired token ends the connection.
    token: Option<String>,
    /// The purpose asked for (startup options, `SET tessera.purpose`); `None`: the
    /// token's default.
    purpose: Option<String>,
    /// Client settings (`SET application_name = …`), for `SHOW`.
    settings: BTreeMap<String, String>,
    catalog: Option<Arc<PgCatalog>>,
}

/// An error as the client sees it: the message unchanged, with the SQLSTATE of its kind.
/// Credentials that stopped being valid (a revoked token) end the connection: FATAL.
pub(super) fn error(e: &ServeError) -> PgWireError {
    let severity = match e.kind {
        ErrorKind::Unauthenticated => "FATAL",
        _ => "ERROR",
    };
    PgWireError::UserError(Box::new(ErrorInfo::new(
        severity.into(),
        e.kind.sqlstate().into(),
        e.message.clone(),
    )))
}

impl Backend {
    pub fn new(server: Arc<Server>, refused: Option<ServeError>) -> Backend {
        Backend {
            server,
            refused,
            state: Mutex::new(State::default()),
            parser: Arc::new(Parser),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.server.shared
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("connection state lock is never poisoned")
    }

    pub(super) fn logged_in(&self, caller: Caller, token: Option<String>, purpose: Option<String>) {
        let mut state = self.state();
        state.catalog = Some(Arc::new(PgCatalog::new(&caller.principal)));
        state.caller = Some(caller);
        state.token = token;
        state.purpose = purpose;
    }

    /// Who the connection acts as, and the purpose it asked for, as of the login.
    fn caller(&self) -> Result<(Caller, Option<String>), ServeError> {
        let state = self.state();
        match &state.caller {
            Some(c) => Ok((c.clone(), state.purpose.clone())),
            None => Err(ServeError::internal(
                "a statement before the login finished",
            )),
        }
    }

    /// The caller as of now: its token checked again (the authenticator keeps what it
    /// read for a moment, so this costs a store read every few seconds at most).
    async fn current_caller(&self) -> Result<(Caller, Option<String>), ServeError> {
        let (caller, purpose) = self.caller()?;
        let token = self.state().token.clone();
        match token {
            None => Ok((caller, purpose)),
            Some(token) => Ok((
                self.shared().auth.authenticate(Some(&token)).await?,
                purpose,
            )),
        }
    }

    /// The governed session for this connection's caller and purpose, with the catalog
    /// extension when the statement needs it.
    async fn session(&self, catalog: bool) -> Result<QuerySession, ServeError> {
        let (caller, purpose) = self.current_caller().await?;
        let session = self
            .shared()
            .session(&caller, purpose.as_deref(), INTERFACE)?;
        let extension = self.state().catalog.clone();
        Ok(match (catalog, extension) {
            (true, Some(extension)) => session.with_extension(extension),
            _ => session,
        })
    }

    /// Runs one command; rows are encoded in `format`.
    async fn execute<C>(
        &self,
        client: &mut C,
        command: &Command,
        bound: Option<String>,
        format: &Format,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        match command {
            Command::Query { sql, catalog, .. } => {
                let sql = bound.as_deref().unwrap_or(sql);
                let session = self.session(*catalog).await.map_err(|e| error(&e))?;
                let rows = self
                    .shared()
                    .run(&session, sql, INTERFACE)
                    .await
                    .map_err(|e| error(&e))?;
                // Deprecations of the ports read; a catalog query "reads" every table.
                if !catalog {
                    for notice in rows.notices() {
                        let info = ErrorInfo::new("WARNING".into(), "01000".into(), notice);
                        client
                            .feed(PgWireBackendMessage::NoticeResponse(info.into()))
                            .await?;
                    }
                }
                Ok(Response::Query(encode(rows, format, options)?))
            }
            Command::SetPurpose(purpose) => {
                if let Some(p) = purpose {
                    // Refused here (not at the next query) when the token or policy forbids it.
                    let (caller, _) = self.current_caller().await.map_err(|e| error(&e))?;
                    self.shared()
                        .session(&caller, Some(p), INTERFACE)
                        .map_err(|e| error(&e))?;
                }
                self.state().purpose = purpose.clone();
                Ok(Response::Execution(Tag::new(match purpose {
                    Some(_) => "SET",
                    None => "RESET",
                })))
            }
            Command::Setting { name, value } => {
                let mut state = self.state();
                match value {
                    Some(v) => {
                        state.settings.insert(name.clone(), v.clone());
                        Ok(Response::Execution(Tag::new("SET")))
                    }
                    None => {
                        state.settings.remove(name);
                        Ok(Response::Execution(Tag::new("RESET")))
                    }
                }
            }
            Command::ResetAll => {
                let mut state = self.state();
                state.purpose = None;
                state.settings.clear();
                Ok(Response::Execution(Tag::new("RESET")))
            }
            Command::Show(name) => {
                let rows = self.show(name).map_err(|e| error(&e))?;
                let columns = show_columns(name);
                Ok(Response::Query(text_response(
                    &columns, rows, format, options,
                )?))
            }
            Command::Begin => Ok(Response::TransactionStart(Tag::new("BEGIN"))),
            Command::Commit => Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
            Command::Rollback => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
            Command::Done(tag) => Ok(Response::Execution(Tag::new(tag))),
            Command::Refuse(message) => Err(error(&ServeError::bad_request(message.clone()))),
        }
    }

    /// `SHOW name`: Tessera's settings, the server's fixed ones, and what the client set.
    fn show(&self, name: &str) -> Result<Vec<Vec<String>>, ServeError> {
        let (caller, asked) = self.caller()?;
        let purpose = caller
            .purpose(asked.as_deref())
            .map_err(ServeError::from)?
            .unwrap_or_default();
        let state = self.state();
        let mut all: Vec<(String, String)> = vec![
            (PURPOSE.into(), purpose),
            (PRINCIPAL.into(), caller.principal.clone()),
            ("server_version".into(), super::SERVER_VERSION.into()),
            ("server_encoding".into(), "UTF8".into()),
            ("client_encoding".into(), "UTF8".into()),
            ("standard_conforming_strings".into(), "on".into()),
            ("integer_datetimes".into(), "on".into()),
            ("datestyle".into(), "ISO, YMD".into()),
            ("intervalstyle".into(), "postgres".into()),
            ("timezone".into(), "UTC".into()),
            ("transaction_isolation".into(), "read committed".into()),
            ("default_transaction_read_only".into(), "on".into()),
            ("transaction_read_only".into(), "on".into()),
            ("is_superuser".into(), "off".into()),
            ("max_identifier_length".into(), "63".into()),
            ("search_path".into(), "public".into()),
            ("application_name".into(), String::new()),
            ("statement_timeout".into(), "0".into()),
        ];
        for (k, v) in &state.settings {
            match all.iter_mut().find(|(n, _)| n == k) {
                Some(entry) => entry.1 = v.clone(),
                None => all.push((k.clone(), v.clone())),
            }
        }
        let wanted = show_columns(name)[0];
        if name == "all" {
            return Ok(all.into_iter().map(|(n, v)| vec![n, v]).collect());
        }
        all.into_iter()
            .find(|(n, _)| n == wanted)
            .map(|(_, v)| vec![vec![v]])
            .ok_or_else(|| {
                ServeError::bad_request(format!("unrecognized configuration parameter \"{name}\""))
            })
    }

    /// The statement with the portal's parameters written in. A parameter the client
    /// sent in binary without a type is read as the type the planner infers (what
    /// Describe told the client).
    async fn bind(
        &self,
        command: &Command,
        portal: &Portal<Command>,
    ) -> Result<Option<String>, ServeError> {
        let Command::Query { sql, catalog, .. } = command else {
            return Ok(None);
        };
        if portal.parameter_len() == 0 {
            return Ok(None);
        }
        let declared = &portal.statement.parameter_types;
        let needs_inference = (0..portal.parameter_len()).any(|i| {
            portal.parameter_format.is_binary(i) && declared.get(i).cloned().flatten().is_none()
        });
        let inferred = match needs_inference {
            true => self.parameter_types(sql, *catalog, declared).await?,
            false => Vec::new(),
        };
        let types: Vec<Type> = (0..portal.parameter_len())
            .map(|i| {
                declared
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| inferred.get(i).cloned())
                    .unwrap_or(Type::UNKNOWN)
            })
            .collect();
        params::bind(sql, portal, &types).map(Some)
    }

    /// Plans `sql` (never runs it) for its result columns, and its parameters' types: the
    /// client's where it declared them, else the planner's, else text.
    async fn describe(
        &self,
        sql: &str,
        catalog: bool,
        declared: &[Option<Type>],
        parameters: usize,
    ) -> Result<(SchemaRef, Vec<Type>), ServeError> {
        let session = self.session(catalog).await?;
        if self.shared().is_draining() {
            return Err(ServeError::new(
                ErrorKind::Unavailable,
                "the server is shutting down; no new statements",
            ));
        }
        let planned = session.plan(sql).await?;
        let inferred = planned
            .logical_plan()
            .get_parameter_types()
            .unwrap_or_default();
        let types = (0..parameters)
            .map(|i| {
                declared.get(i).cloned().flatten().unwrap_or_else(|| {
                    inferred
                        .get(&format!("${}", i + 1))
                        .cloned()
                        .flatten()
                        .and_then(|dt| into_pg_type(&dt).ok())
                        .filter(|t| *t != Type::UNKNOWN)
                        .unwrap_or(Type::TEXT)
                })
            })
            .collect();
        Ok((planned.schema(), types))
    }

    async fn parameter_types(
        &self,
        sql: &str,
        catalog: bool,
        declared: &[Option<Type>],
    ) -> Result<Vec<Type>, ServeError> {
        let parameters = declared.len().max(statement_parameters(sql));
        Ok(self.describe(sql, catalog, declared, parameters).await?.1)
    }
}

/// The columns `SHOW name` answers with: the setting's name as PostgreSQL spells it.
fn show_columns(name: &str) -> Vec<&str> {
    match name {
        "all" => vec!["name", "setting"],
        "transaction isolation level" => vec!["transaction_isolation"],
        "time zone" => vec!["timezone"],
        other => vec![other],
    }
}

fn statement_parameters(sql: &str) -> usize {
    match statement::commands(sql).first() {
        Some(Command::Query { parameters, .. }) => *parameters,
        _ => 0,
    }
}

/// The rows of a statement as DataRow messages; an error (the row cap, a failure while
/// computing) ends them.
fn encode(rows: Rows, format: &Format, options: Arc<FormatOptions>) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(arrow_schema_to_pg_fields(
        &rows.schema(),
        format,
        Some(options),
    )?);
    let encoding = fields.clone();
    let data = rows
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<_>> + Send> = match batch {
                Ok(batch) => encode_recordbatch(encoding.clone(), batch),
                Err(e) => Box::new(std::iter::once(Err(error(&e)))),
            };
            futures::stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(fields, data))
}

/// A small all-text result (`SHOW`).
fn text_response(
    columns: &[&str],
    rows: Vec<Vec<String>>,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<QueryResponse> {
    let schema = text_schema(columns);
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|c| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[c].as_str()),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| error(&ServeError::internal(e)))?;
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(options))?);
    let data = encode_recordbatch(fields.clone(), batch).collect::<Vec<_>>();
    Ok(QueryResponse::new(fields, futures::stream::iter(data)))
}

fn text_schema(columns: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ))
}

async fn cancel_receiver<C: ClientInfo>(
    client: &C,
) -> Option<futures::channel::oneshot::Receiver<()>> {
    let handle = client.session_extensions().get::<Arc<ConnectionHandle>>()?;
    Some(handle.start_query().await)
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    /// Runs the statements one after the other, each answered before the next starts
    /// (so a text of many statements never holds two query permits); the first error
    /// ends the text, as in PostgreSQL.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let commands = statement::commands(&query.query);
        if commands.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        for command in &commands {
            let cancel = cancel_receiver(client).await;
            let run = pin!(self.run_simple(client, command));
            match cancel {
                Some(cancel) => match select(run, cancel).await {
                    Either::Left((result, _)) => result?,
                    Either::Right(_) => return Err(PgWireError::QueryCanceled),
                },
                None => run.await?,
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        send_ready_for_query(client, client.transaction_status()).await
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_query runs each statement itself")
    }
}

impl Backend {
    async fn run_simple<C>(&self, client: &mut C, command: &Command) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let status = client.transaction_status();
        match self
            .execute(client, command, None, &Format::UnifiedText)
            .await?
        {
            Response::Query(rows) => send_query_response(client, rows, true).await?,
            Response::Execution(tag) => send_execution_response(client, tag).await?,
            Response::TransactionStart(tag) => {
                send_execution_response(client, tag).await?;
                client.set_transaction_status(status.to_in_transaction_state());
            }
            Response::TransactionEnd(tag) => {
                send_execution_response(client, tag).await?;
                client.set_transaction_status(status.to_idle_state());
            }
            _ => {}
        }
        Ok(())
    }
}

/// Parse: the statement's command (one per Parse message).
pub(super) struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Command;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Command>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut commands = statement::commands(sql);
        match commands.len() {
            0 => Ok(None),
            1 => Ok(commands.pop()),
            _ => Err(error(&ServeError::bad_request(
                "cannot insert multiple commands into a prepared statement: send one \
                 statement per Parse (or use the simple query protocol)",
            ))),
        }
    }

    // Describe is answered by Backend (it plans the statement); these are not asked.
    fn get_parameter_types(&self, _stmt: &Command) -> PgWireResult<Vec<Type>> {
        Ok(Vec::new())
    }

    fn get_result_schema(
        &self,
        _stmt: &Command,
        _column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

/// The columns `command` answers with, in `format`, without running it (a query is
/// planned), and its parameters' types.
impl Backend {
    async fn fields<C: ClientInfo>(
        &self,
        client: &C,
        command: &Command,
        bound: Option<String>,
        declared: &[Option<Type>],
        format: &Format,
    ) -> PgWireResult<(Vec<Type>, Vec<FieldInfo>)> {
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        match command {
            Command::Query {
                sql,
                catalog,
                parameters,
            } => {
                let sql = bound.as_deref().unwrap_or(sql);
                let parameters = match bound {
                    Some(_) => 0,
                    None => (*parameters).max(declared.len()),
                };
                let (schema, types) = self
                    .describe(sql, *catalog, declared, parameters)
                    .await
                    .map_err(|e| error(&e))?;
                let fields = arrow_schema_to_pg_fields(&schema, format, Some(options))?;
                Ok((types, fields))
            }
            Command::Show(name) => {
                let columns = show_columns(name);
                let fields =
                    arrow_schema_to_pg_fields(&text_schema(&columns), format, Some(options))?;
                Ok((Vec::new(), fields))
            }
            Command::Refuse(message) => Err(error(&ServeError::bad_request(message.clone()))),
            _ => Ok((Vec::new(), Vec::new())),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Command;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<Command>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Command>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (types, fields) = self
            .fields(
                client,
                &target.statement,
                None,
                &target.parameter_types,
                &Format::UnifiedText,
            )
            .await?;
        Ok(DescribeStatementResponse::new(types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Command>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Command>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let command = &portal.statement.statement;
        let bound = self.bind(command, portal).await.map_err(|e| error(&e))?;
        let (_, fields) = self
            .fields(client, command, bound, &[], &portal.result_column_format)
            .await?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Command>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Command>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let command = &portal.statement.statement;
        let bound = self.bind(command, portal).await.map_err(|e| error(&e))?;
        self.execute(client, command, bound, &portal.result_column_format)
            .await
    }
}
