//! Arrow Flight SQL: the governed engine for ADBC, JDBC and pyarrow clients, over gRPC
//! (tonic) with arrow-flight's [`FlightSqlService`].
//!
//! ```text
//!  Handshake (Basic user:token) ──▶ authenticate ──▶ session handle (Bearer tfs_…)
//!  GetFlightInfo(SQL) ──▶ caller, purpose ──▶ Shared::session ──▶ plan: schema
//!                                            └──▶ ticket tft_… {caller, purpose, SQL}
//!  DoGet(ticket) ──▶ same caller? ──▶ Shared::run ──▶ Rows ──▶ FlightData, batch by batch
//! ```
//!
//! Credentials: a handshake with basic auth (the password is an API token, the user its
//! principal or empty; base64 with or without padding) returns `authorization: Bearer
//! <session handle>`, a random id kept in memory that expires unused after
//! `server.idle_timeout`; every later call sends it. A call may instead send `Bearer
//! <API token>` and skip the handshake. The purpose is the `tessera-purpose` header of
//! each call (ADBC: `adbc.flight.sql.rpc.call_header.tessera-purpose`), else the token's
//! only purpose.
//!
//! Invariants: tickets and prepared statements are ids of server-side entries bound to
//! the caller (principal and token) that made them: another caller holding the id gets
//! "not found". Catalog listings are governed SQL over `information_schema` in the
//! caller's session ([`catalog`]). Nothing is written: updates and ingestion are refused.
//!
//! Errors: the status message is [`ServeError::message`] unchanged (gRPC percent-encodes
//! it, so several lines and any UTF-8 arrive intact), and the binary trailer
//! `tessera-error-bin` carries `{"kind","message","error_id"}` as JSON — ADBC lists it in
//! the error's details, where the exact message can be read without the driver's
//! decorations.

mod catalog;
mod params;
mod store;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::SqlInfoData;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionBeginTransactionRequest, ActionBeginTransactionResult,
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, SqlSupportedTransaction, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use base64::Engine as _;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tessera_engine::query::{QueryError, QuerySession, plain_schema};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Caller;
use crate::conn::{Admitting, Connection};
use crate::error::{ErrorDetail, ErrorKind, ServeError};
use crate::state::Shared;
use store::Expiring;

/// The interface name in sessions, audit records and metrics.
const INTERFACE: &str = "flight";

/// The response header that carries a deprecation notice.
const NOTICE_HEADER: &str = "tessera-notice";

/// The header that names the purpose of a call.
pub const PURPOSE_HEADER: &str = "tessera-purpose";

/// The binary trailer of every error: `{"kind","message","error_id"}` as JSON.
pub const ERROR_TRAILER: &str = "tessera-error-bin";

/// Session handles start with this; API tokens with `tsr_`.
const SESSION_PREFIX: &str = "tfs_";

/// Serves connections from `listener` until `stopped` turns true; then stops accepting and
/// lets open calls finish (the caller aborts the task after its grace period).
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let local = listener.local_addr().ok();
    let admitting = Admitting {
        listener,
        shared: shared.clone(),
        interface: INTERFACE,
    };
    let incoming = futures::stream::unfold(admitting, move |admitting| async move {
        let next = admitting.next().await.map(|(conn, remote)| Admitted {
            conn,
            info: TcpConnectInfo {
                local_addr: local,
                remote_addr: Some(remote),
            },
        });
        Some((next, admitting))
    });
    // A request (a statement, a prepared statement's parameters) is bounded like an HTTP
    // body, by server.max_request_size; tonic answers a larger one with RESOURCE_EXHAUSTED
    // before decoding it. (Results are streamed in batches: no bound on what is sent.)
    let max_request = usize::try_from(shared.settings.max_request_size).unwrap_or(usize::MAX);
    let service = FlightServiceServer::new(FlightSql::new(shared))
        .max_decoding_message_size(max_request)
        .max_encoding_message_size(usize::MAX);
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
        .map_err(io::Error::other)
}

/// An admitted connection (it holds its connection permit and closes when idle), with
/// the addresses tonic hands to each request.
struct Admitted {
    conn: Connection<TcpStream>,
    info: TcpConnectInfo,
}

impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.conn).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn).poll_shutdown(cx)
    }
}

/// The gRPC status of a refused or failed call: the code of its kind, the message
/// unchanged, and the error as JSON in the `tessera-error-bin` trailer.
pub(crate) fn status(e: ServeError) -> Status {
    let code = match e.kind {
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorKind::NotPermitted => tonic::Code::PermissionDenied,
        ErrorKind::BadRequest => tonic::Code::InvalidArgument,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::Conflict => tonic::Code::FailedPrecondition,
        ErrorKind::Limit | ErrorKind::TooLarge => tonic::Code::ResourceExhausted,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Internal => tonic::Code::Internal,
    };
    let detail = ErrorDetail {
        kind: e.kind,
        message: e.message.clone(),
        error_id: e.error_id.clone(),
    };
    let mut metadata = MetadataMap::new();
    metadata.insert_bin(
        ERROR_TRAILER,
        MetadataValue::from_bytes(&serde_json::to_vec(&detail).expect("an error serialises")),
    );
    Status::with_metadata(code, e.message, metadata)
}

fn unauthenticated(message: impl Into<String>) -> ServeError {
    ServeError::new(ErrorKind::Unauthenticated, message)
}

/// The schema results are sent with: plain string and binary types (not views), and
/// dictionaries as their values (what the Flight encoder sends).
pub(crate) fn wire_schema(schema: &SchemaRef) -> SchemaRef {
    let plain = plain_schema(schema);
    let fields: Vec<Field> = plain
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, values) => {
                f.as_ref().clone().with_data_type(plain_type(values))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, plain.metadata().clone()))
}

fn plain_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// True when batches of `computed` can be sent as `announced`: the same columns, each
/// castable to the announced type (planning and execution may differ in nullability or in
/// a type's width).
fn conforms(computed: &SchemaRef, announced: &SchemaRef) -> bool {
    let computed = wire_schema(computed);
    computed.fields().len() == announced.fields().len()
        && computed
            .fields()
            .iter()
            .zip(announced.fields())
            .all(|(c, a)| {
                c.name() == a.name()
                    && datafusion::arrow::compute::can_cast_types(c.data_type(), a.data_type())
            })
}

/// A batch cast to the announced schema, so that every message matches the schema of the
/// FlightInfo (ADBC checks it, nullability included).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ServeError> {
    if batch.schema().as_ref() == schema.as_ref() {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServeError::internal)?;
    RecordBatch::try_new(schema.clone(), columns).map_err(ServeError::internal)
}

fn ipc_schema(schema: &Schema) -> Result<prost::bytes::Bytes, ServeError> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(ServeError::internal)?;
    Ok(message.0)
}

/// What GetSqlInfo answers.
static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = arrow_flight::sql::metadata::SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Tessera");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // The Arrow columnar format version (Schema.fbs MetadataVersion V5).
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.build().expect("the SQL info is well formed")
});

/// Who made a ticket or a prepared statement: only the same principal with the same
/// token (whose purposes decided the session) may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    principal: String,
    token_id: Option<String>,
}

impl Owner {
    fn of(caller: &Caller) -> Owner {
        Owner {
            principal: caller.principal.clone(),
            token_id: caller.token_id.clone(),
        }
    }
}

/// A planned statement a ticket stands for.
struct Statement {
    owner: Owner,
    purpose: Option<String>,
    sql: String,
    /// The schema the FlightInfo announced; DoGet sends batches in it.
    schema: SchemaRef,
}

/// A prepared statement: the SQL with numbered placeholders and the bound values.
#[derive(Clone)]
struct Prepared {
    owner: Owner,
    purpose: Option<String>,
    sql: String,
    parameters: usize,
    bound: Option<RecordBatch>,
}

/// What a session handle stands for: the credentials of the handshake, checked again on
/// every call (a revoked or expired token stops working within seconds).
#[derive(Clone)]
struct Handle {
    token: Option<String>,
}

/// Credentials as sent: the API token (none for the anonymous principal), and the user
/// name of basic auth.
struct Credentials {
    token: Option<String>,
    user: Option<String>,
}

/// The Flight SQL service.
pub(crate) struct FlightSql {
    shared: Arc<Shared>,
    handles: Expiring<Handle>,
    statements: Expiring<Arc<Statement>>,
    prepared: Expiring<Prepared>,
}

fn not_found(what: &str) -> ServeError {
    ServeError::not_found(format!(
        "no such {what}: unknown, expired (unused for longer than server.idle_timeout), or \
         made by another caller"
    ))
}

/// The text of an id sent as bytes.
fn id_text(bytes: &[u8], what: &str) -> Result<String, ServeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| not_found(what))
}

fn read_only(statement: &str, help: &str) -> ServeError {
    ServeError::from(QueryError::ReadOnly {
        statement: statement.into(),
        help: help.into(),
    })
}

/// A stream of FlightData as tonic wants it.
type FlightStream = <FlightSql as FlightService>::DoGetStream;

fn one_batch(schema: SchemaRef, batch: RecordBatch) -> Response<FlightStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async { Ok(batch) }))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn info_for(
    command: impl ProstMessageExt,
    schema: &Schema,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = Ticket::new(command.as_any().encode_to_vec());
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| status(ServeError::internal(e)))?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

impl FlightSql {
    pub(crate) fn new(shared: Arc<Shared>) -> FlightSql {
        let ttl = shared.settings.idle_timeout;
        FlightSql {
            shared,
            handles: Expiring::new(SESSION_PREFIX, ttl),
            statements: Expiring::new("tft_", ttl),
            prepared: Expiring::new("tfp_", ttl),
        }
    }

    /// The credentials of a call: basic auth, a bearer API token, a bearer session handle
    /// (resolved to the handshake's credentials), or none.
    fn credentials(&self, metadata: &MetadataMap) -> Result<Credentials, ServeError> {
        let Some(value) = metadata.get("authorization") else {
            return Ok(Credentials {
                token: None,
                user: None,
            });
        };
        let value = value
            .to_str()
            .map_err(|_| unauthenticated("the authorization header is not text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let (user, token) = basic(rest)?;
            return Ok(Credentials {
                token: Some(token),
                user: Some(user),
            });
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthenticated(format!(
                "the authorization header uses the `{scheme}` scheme; authenticate with a \
                 handshake (basic auth, the token as password) or send `Bearer <token>`"
            )));
        }
        if rest.starts_with(SESSION_PREFIX) {
            let handle = self.handles.get(rest).ok_or_else(|| {
                unauthenticated(
                    "the Flight SQL session is unknown or expired (unused for longer than \
                     server.idle_timeout, or the server restarted); connect again",
                )
            })?;
            return Ok(Credentials {
                token: handle.token,
                user: None,
            });
        }
        Ok(Credentials {
            token: Some(rest.to_string()),
            user: None,
        })
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Caller, ServeError> {
        let caller = self
            .shared
            .auth
            .authenticate(credentials.token.as_deref())
            .await?;
        match credentials.user.as_deref().map(str::trim) {
            Some(user) if !user.is_empty() && user != caller.principal => {
                Err(unauthenticated(format!(
                    "the user name `{user}` is not the principal of the token; send the \
                     token's principal as the user name, or none"
                )))
            }
            _ => Ok(caller),
        }
    }

    async fn caller(&self, metadata: &MetadataMap) -> Result<Caller, ServeError> {
        let credentials = self.credentials(metadata)?;
        self.authenticate(&credentials).await
    }

    /// The caller, the purpose the call asks for (`tessera-purpose`) resolved against the
    /// caller's credentials, and the governed session for both.
    async fn session(
        &self,
        metadata: &MetadataMap,
    ) -> Result<(Caller, Option<String>, QuerySession), ServeError> {
        let caller = self.caller(metadata).await?;
        let asked = match metadata.get(PURPOSE_HEADER) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                ServeError::bad_request(format!("the {PURPOSE_HEADER} header is not text"))
            })?),
        };
        let purpose = caller.purpose(asked)?;
        let session = self
            .shared
            .session(&caller, purpose.as_deref(), INTERFACE)?;
        Ok((caller, purpose, session))
    }

    /// Plans `sql` for its result schema, without running it.
    async fn plan_schema(
        &self,
        session: &QuerySession,
        sql: &str,
    ) -> Result<SchemaRef, ServeError> {
        if self.shared.is_draining() {
            return Err(ServeError::new(
                ErrorKind::Unavailable,
                "the server is shutting down; no new statements",
            ));
        }
        let query = session.plan(sql).await?;
        Ok(wire_schema(&query.schema()))
    }

    /// A ticket for `sql`, planned now, that only `caller` can redeem.
    async fn ticket(
        &self,
        caller: &Caller,
        purpose: Option<String>,
        session: &QuerySession,
        sql: String,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, ServeError> {
        let schema = self.plan_schema(session, &sql).await?;
        let id = self.statements.insert(Arc::new(Statement {
            owner: Owner::of(caller),
            purpose,
            sql,
            schema: schema.clone(),
        }));
        let ticket = TicketStatementQuery {
            statement_handle: id.into(),
        };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(ServeError::internal)?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor)
            .with_ordered(true);
        Ok(info)
    }

    /// Runs a statement and streams its batches in `schema`; an error after the first
    /// batch ends the stream with its status. Also returns the deprecation notices of the
    /// ports it reads.
    async fn stream(
        &self,
        session: &QuerySession,
        sql: &str,
        schema: SchemaRef,
    ) -> Result<(FlightStream, Vec<String>), ServeError> {
        let mut rows = self.shared.run(session, sql, INTERFACE).await?;
        let notices = rows.notices();
        if !conforms(&rows.schema(), &schema) {
            return Err(ServeError::bad_request(
                "the statement's result columns changed since it was planned (a new version \
                 was published); run it again",
            ));
        }
        // Wait for the first batch, so an error at the start of execution is the call's
        // status rather than a broken stream.
        let first = match rows.next().await {
            Some(Err(e)) => return Err(e),
            other => other,
        };
        let announced = schema.clone();
        let batches = futures::stream::iter(first).chain(rows).map(move |batch| {
            batch
                .and_then(|b| conform(&b, &announced))
                .map_err(|e| FlightError::Tonic(Box::new(status(e))))
        });
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok((Box::pin(encoded), notices))
    }

    async fn refuse_update(&self, metadata: &MetadataMap, sql: &str) -> ServeError {
        let session = match self.session(metadata).await {
            Ok((_, _, session)) => session,
            Err(e) => return e,
        };
        // The engine's own refusal (audited), word for word what the other protocols say.
        match session.plan(sql).await {
            Err(e) => ServeError::from(e),
            Ok(_) => ServeError::bad_request(
                "this statement returns rows: run it as a query (CommandStatementQuery), not \
                 as an update",
            ),
        }
    }
}

/// The user and password of a basic auth header; the base64 may lack its padding (the
/// ADBC Go driver sends it so).
fn basic(encoded: &str) -> Result<(String, String), ServeError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(encoded.trim())
        .map_err(|_| unauthenticated("the basic auth credentials are not base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| unauthenticated("the basic auth credentials are not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| unauthenticated("the basic auth credentials are not `user:token`"))?;
    Ok((user.to_string(), password.to_string()))
}

type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let credentials = self.credentials(request.metadata()).map_err(status)?;
        self.authenticate(&credentials).await.map_err(status)?;
        let handle = self.handles.insert(Handle {
            token: credentials.token,
        });
        let bearer = MetadataValue::try_from(format!("Bearer {handle}"))
            .map_err(|e| status(ServeError::internal(e)))?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: handle.into_bytes().into(),
        };
        let mut response: Response<HandshakeStream> =
            Response::new(Box::pin(futures::stream::once(async { Ok(reply) })));
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    // ---- statements ----

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (caller, purpose, session) = self.session(request.metadata()).await.map_err(status)?;
        if query.transaction_id.is_some() {
            return Err(status(ServeError::bad_request(
                "Tessera has no transactions (its SQL is read-only); send the query without one",
            )));
        }
        let info = self
            .ticket(
                &caller,
                purpose,
                &session,
                query.query,
                request.into_inner(),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream>, Status> {
        let caller = self.caller(request.metadata()).await.map_err(status)?;
        let id = id_text(&ticket.statement_handle, "statement").map_err(status)?;
        let statement = self
            .statements
            .get(&id)
            .filter(|s| s.owner == Owner::of(&caller))
            .ok_or_else(|| status(not_found("statement")))?;
        let session = self
            .shared
            .session(&caller, statement.purpose.as_deref(), INTERFACE)
            .map_err(status)?;
        let (stream, notices) = self
            .stream(&session, &statement.sql, statement.schema.clone())
            .await
            .map_err(status)?;
        let mut response = Response::new(stream);
        // A deprecated port's notice, as a `tessera-notice` header (one per notice), the
        // way HTTP sends it; PostgreSQL clients get a WARNING.
        for notice in notices {
            if let Ok(value) = tonic::metadata::MetadataValue::try_from(notice.as_str()) {
                response.metadata_mut().append(NOTICE_HEADER, value);
            }
        }
        Ok(response)
    }

    // ---- prepared statements ----

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (caller, purpose, session) = self.session(request.metadata()).await.map_err(status)?;
        if query.transaction_id.is_some() {
            return Err(status(ServeError::bad_request(
                "Tessera has no transactions (its SQL is read-only); prepare the query without one",
            )));
        }
        let (sql, parameters) = params::number(&query.query).map_err(status)?;
        if self.shared.is_draining() {
            return Err(status(ServeError::new(
                ErrorKind::Unavailable,
                "the server is shutting down; no new statements",
            )));
        }
        let planned = session
            .plan(&sql)
            .await
            .map_err(|e| status(ServeError::from(e)))?;
        let dataset_schema = wire_schema(&planned.schema());
        let parameter_schema = if parameters == 0 {
            None
        } else {
            let types = planned
                .logical_plan()
                .get_parameter_types()
                .unwrap_or_default();
            let fields: Vec<Field> = (1..=parameters)
                .map(|i| {
                    let name = format!("${i}");
                    let dt = types
                        .get(&name)
                        .cloned()
                        .flatten()
                        .unwrap_or(DataType::Null);
                    Field::new(name, plain_type(&dt), true)
                })
                .collect();
            Some(Schema::new(fields))
        };
        drop(planned);
        let handle = self.prepared.insert(Prepared {
            owner: Owner::of(&caller),
            purpose,
            sql,
            parameters,
            bound: None,
        });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into_bytes().into(),
            dataset_schema: ipc_schema(&dataset_schema).map_err(status)?,
            parameter_schema: match parameter_schema {
                Some(s) => ipc_schema(&s).map_err(status)?,
                None => Default::default(),
            },
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let caller = self.caller(request.metadata()).await.map_err(status)?;
        let id = id_text(&query.prepared_statement_handle, "prepared statement").map_err(status)?;
        let mut prepared = self
            .prepared
            .get(&id)
            .filter(|p| p.owner == Owner::of(&caller))
            .ok_or_else(|| status(not_found("prepared statement")))?;
        let mut batches = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        );
        let mut values = Vec::new();
        let mut rows = 0;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| {
                status(ServeError::bad_request(format!(
                    "the parameters cannot be read: {e}"
                )))
            })?;
            rows += batch.num_rows();
            if rows > 1 {
                return Err(status(ServeError::bad_request(
                    "bind exactly one row of parameters to run a query",
                )));
            }
            values.push(batch);
        }
        let bound = match values.into_iter().find(|b| b.num_rows() == 1) {
            Some(batch) => {
                // Refuse a value that cannot be bound now, not when the query runs.
                params::bind(&prepared.sql, &batch).map_err(status)?;
                Some(batch)
            }
            None => None,
        };
        prepared.bound = bound;
        if !self.prepared.replace(&id, prepared) {
            return Err(status(not_found("prepared statement")));
        }
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(id.into_bytes().into()),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(request.metadata()).await.map_err(status)?;
        let id = id_text(&query.prepared_statement_handle, "prepared statement").map_err(status)?;
        let prepared = self
            .prepared
            .get(&id)
            .filter(|p| p.owner == Owner::of(&caller))
            .ok_or_else(|| status(not_found("prepared statement")))?;
        let sql = match (&prepared.bound, prepared.parameters) {
            (_, 0) => prepared.sql.clone(),
            (Some(values), _) => params::bind(&prepared.sql, values).map_err(status)?,
            (None, n) => {
                return Err(status(ServeError::bad_request(format!(
                    "the prepared statement takes {n} parameters; bind them before running it"
                ))));
            }
        };
        let session = self
            .shared
            .session(&caller, prepared.purpose.as_deref(), INTERFACE)
            .map_err(status)?;
        let info = self
            .ticket(
                &caller,
                prepared.purpose,
                &session,
                sql,
                request.into_inner(),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(info))
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let caller = self.caller(request.metadata()).await.map_err(status)?;
        // Closing what is gone (expired) is not an error; another caller's stays open.
        if let Ok(id) = id_text(&query.prepared_statement_handle, "prepared statement")
            && self
                .prepared
                .get(&id)
                .is_some_and(|p| p.owner == Owner::of(&caller))
        {
            self.prepared.remove(&id);
        }
        Ok(())
    }

    // ---- the catalog ----

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        let schema = query.into_builder().schema();
        info_for(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream>, Status> {
        let (_, _, session) = self.session(request.metadata()).await.map_err(status)?;
        let names = catalog::catalogs(&self.shared, &session)
            .await
            .map_err(status)?;
        let mut builder = query.into_builder();
        for name in names {
            builder.append(name);
        }
        let schema = builder.schema();
        let batch = builder
            .build()
            .map_err(|e| status(ServeError::internal(e)))?;
        Ok(one_batch(schema, batch))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        let schema = query.clone().into_builder().schema();
        info_for(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream>, Status> {
        let (_, _, session) = self.session(request.metadata()).await.map_err(status)?;
        let schema = query.clone().into_builder().schema();
        let batch = catalog::schemas(&self.shared, &session, query)
            .await
            .map_err(status)?;
        Ok(one_batch(schema, batch))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        let schema = query.clone().into_builder().schema();
        info_for(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream>, Status> {
        let (_, _, session) = self.session(request.metadata()).await.map_err(status)?;
        let schema = query.clone().into_builder().schema();
        let batch = catalog::tables(&self.shared, &session, query)
            .await
            .map_err(status)?;
        Ok(one_batch(schema, batch))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        let schema = query.into_builder().schema();
        info_for(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream>, Status> {
        let (_, _, session) = self.session(request.metadata()).await.map_err(status)?;
        let types = catalog::table_types(&self.shared, &session)
            .await
            .map_err(status)?;
        let mut builder = query.into_builder();
        for t in types {
            builder.append(t);
        }
        let schema = builder.schema();
        let batch = builder
            .build()
            .map_err(|e| status(ServeError::internal(e)))?;
        Ok(one_batch(schema, batch))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        let schema = query.clone().into_builder(&SQL_INFO).schema();
        info_for(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream>, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        let builder = query.into_builder(&SQL_INFO);
        let schema = builder.schema();
        let batch = builder
            .build()
            .map_err(|e| status(ServeError::internal(e)))?;
        Ok(one_batch(schema, batch))
    }

    // ---- refused: Tessera's SQL is read-only ----

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(status(
            self.refuse_update(request.metadata(), &command.query).await,
        ))
    }

    async fn do_put_prepared_statement_update(
        &self,
        command: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let caller = self.caller(request.metadata()).await.map_err(status)?;
        let id =
            id_text(&command.prepared_statement_handle, "prepared statement").map_err(status)?;
        let prepared = self
            .prepared
            .get(&id)
            .filter(|p| p.owner == Owner::of(&caller))
            .ok_or_else(|| status(not_found("prepared statement")))?;
        Err(status(
            self.refuse_update(request.metadata(), &prepared.sql).await,
        ))
    }

    async fn do_put_statement_ingest(
        &self,
        _command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        Err(status(read_only(
            "bulk ingestion",
            "a table is a data product's output port: declare it in the mesh and publish it \
             with `tessera publish`",
        )))
    }

    async fn do_put_substrait_plan(
        &self,
        _command: CommandStatementSubstraitPlan,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        Err(status(ServeError::bad_request(
            "Tessera runs SQL, not Substrait plans",
        )))
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        self.caller(request.metadata()).await.map_err(status)?;
        Err(status(ServeError::bad_request(
            "Tessera has no transactions (its SQL is read-only); use autocommit",
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decodes_with_and_without_padding() {
        let padded = base64::engine::general_purpose::STANDARD.encode("dora:tsr_x");
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode("dora:tsr_x");
        assert_ne!(padded, unpadded);
        for encoded in [padded, unpadded] {
            assert_eq!(
                basic(&encoded).unwrap(),
                ("dora".to_string(), "tsr_x".to_string())
            );
        }
        assert_eq!(
            basic(&base64::engine::general_purpose::STANDARD.encode(":tsr_a:b")).unwrap(),
            (String::new(), "tsr_a:b".to_string())
        );
        assert!(basic("not base64!").is_err());
    }

    #[test]
    fn an_error_keeps_its_message_and_carries_it_as_json() {
        let e = ServeError::new(ErrorKind::NotPermitted, "no\n  help: ask — the DPO");
        let id = e.error_id.clone();
        let s = status(e);
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        assert_eq!(s.message(), "no\n  help: ask — the DPO");
        let trailer = s
            .metadata()
            .get_bin(ERROR_TRAILER)
            .unwrap()
            .to_bytes()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&trailer).unwrap();
        assert_eq!(json["kind"], "not_permitted");
        assert_eq!(json["message"], "no\n  help: ask — the DPO");
        assert_eq!(json["error_id"], id.as_str());
    }
}
