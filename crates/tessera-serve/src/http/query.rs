//! `POST /api/v1/query`: SQL over the caller's governed view of the mesh, streamed as
//! JSON, NDJSON, CSV or an Arrow IPC stream.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::StreamExt;
use tessera_engine::query::{plain_schema, to_plain};

use super::{JsonBody, caller, purpose_header};
use crate::error::{ErrorBody, ErrorDetail, ServeError};
use crate::state::{Rows, Shared};

/// A statement to run.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryRequest {
    /// One SQL statement (read-only).
    sql: String,
    /// Why the data is read; overrides the `Tessera-Purpose` header.
    #[serde(default)]
    purpose: Option<String>,
    /// `json` (default), `ndjson`, `csv` or `arrow` (an Arrow IPC stream). Without it, the
    /// `Accept` header decides.
    #[serde(default)]
    format: Option<ResultFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResultFormat {
    Json,
    Ndjson,
    Csv,
    Arrow,
}

impl ResultFormat {
    fn from_accept(headers: &HeaderMap) -> ResultFormat {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if accept.contains("application/vnd.apache.arrow.stream") {
            ResultFormat::Arrow
        } else if accept.contains("text/csv") {
            ResultFormat::Csv
        } else if accept.contains("application/x-ndjson") {
            ResultFormat::Ndjson
        } else {
            ResultFormat::Json
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Ndjson => "application/x-ndjson",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// The JSON result (`format: json`). Rows are objects keyed by column name; a failure
/// after the first rows were sent ends the document with `error` instead of
/// `row_count`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the streamed shape; the body is written piece by piece
pub(crate) struct QueryResponse {
    columns: Vec<ColumnOut>,
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Value>,
    row_count: Option<u64>,
    /// Deprecation notices of the ports read.
    notices: Vec<String>,
    error: Option<ErrorDetail>,
}

/// A column of a query result.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = ResultColumn)]
pub(crate) struct ColumnOut {
    name: String,
    /// The Arrow type (`Int64`, `Utf8`, `Timestamp(Microsecond, Some("UTC"))`, …).
    #[serde(rename = "type")]
    data_type: String,
}

/// Runs one SQL statement.
#[utoipa::path(post, path = "/api/v1/query", tag = "query",
    request_body = QueryRequest,
    params(("Tessera-Purpose" = Option<String>, Header, description = "Why the data is read (a purpose of mesh.yaml)")),
    responses(
        (status = 200, description = "The result, streamed: JSON, or NDJSON, CSV or an Arrow IPC stream by `format` or `Accept`",
            content(
                (QueryResponse = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
                (Vec<u8> = "application/vnd.apache.arrow.stream")
            )),
        (status = 400, description = "Bad SQL, an unknown table or column", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Refused by policy", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 422, description = "A query limit was reached", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody)
    ))]
pub(crate) async fn query(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<QueryRequest>,
) -> Result<Response, ServeError> {
    let caller = caller(&shared, &headers).await?;
    let purpose = match request.purpose {
        Some(p) => Some(p),
        None => purpose_header(&headers)?,
    };
    let format = request
        .format
        .unwrap_or_else(|| ResultFormat::from_accept(&headers));
    let session = shared.session(&caller, purpose.as_deref(), "http")?;
    let mut rows = shared.run(&session, &request.sql, "http").await?;
    // Wait for the first batch, so an error at the start of execution is a proper
    // error response rather than a broken stream.
    let first = match rows.next().await {
        Some(Err(e)) => return Err(e),
        other => other,
    };
    let schema = plain_schema(&rows.schema());
    let notices = rows.notices();
    let headers: Vec<HeaderValue> = notices
        .iter()
        .filter_map(|n| HeaderValue::from_str(n).ok())
        .collect();
    let body = encode(format, schema, first, rows, notices)?;
    let mut response = Body::from_stream(body).into_response();
    // Deprecation notices also as headers, for the formats without a place for them.
    for value in headers {
        response.headers_mut().append("tessera-notice", value);
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}

type Chunk = Result<Bytes, std::io::Error>;

fn columns_json(schema: &SchemaRef) -> String {
    let columns: Vec<ColumnOut> = schema
        .fields()
        .iter()
        .map(|f| ColumnOut {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
        })
        .collect();
    serde_json::to_string(&columns).expect("columns serialise")
}

/// A `Write` whose bytes are taken out after each write, so that one Arrow writer can
/// produce a stream chunk by chunk.
#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("buffer lock is never poisoned")
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(
            &mut *self.0.lock().expect("buffer lock is never poisoned"),
        ))
    }
}

type JsonArrayWriter =
    datafusion::arrow::json::Writer<Vec<u8>, datafusion::arrow::json::writer::JsonArray>;

/// Turns batches into one response format.
enum Encoder {
    Json {
        rows: u64,
        wrote_row: bool,
    },
    Ndjson,
    Csv(Box<datafusion::arrow::csv::Writer<Buffer>>, Buffer),
    Arrow(
        Box<datafusion::arrow::ipc::writer::StreamWriter<Buffer>>,
        Buffer,
    ),
}

impl Encoder {
    fn new(format: ResultFormat, schema: &SchemaRef) -> Result<Encoder, ServeError> {
        Ok(match format {
            ResultFormat::Json => Encoder::Json {
                rows: 0,
                wrote_row: false,
            },
            ResultFormat::Ndjson => Encoder::Ndjson,
            ResultFormat::Csv => {
                let buf = Buffer::default();
                let mut w = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(buf.clone());
                // The header, even when no row follows.
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(ServeError::internal)?;
                Encoder::Csv(Box::new(w), buf)
            }
            ResultFormat::Arrow => {
                let buf = Buffer::default();
                let w = datafusion::arrow::ipc::writer::StreamWriter::try_new(buf.clone(), schema)
                    .map_err(ServeError::internal)?;
                Encoder::Arrow(Box::new(w), buf)
            }
        })
    }

    fn start(&mut self, schema: &SchemaRef, notices: &[String]) -> Bytes {
        match self {
            Encoder::Json { .. } => Bytes::from(format!(
                "{{\"columns\":{},\"notices\":{},\"rows\":[",
                columns_json(schema),
                serde_json::to_string(notices).expect("strings serialise")
            )),
            Encoder::Ndjson => Bytes::new(),
            Encoder::Csv(_, buf) | Encoder::Arrow(_, buf) => buf.take(),
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Bytes, ServeError> {
        match self {
            Encoder::Json { rows, wrote_row } => {
                let mut w: JsonArrayWriter = datafusion::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build(Vec::new());
                w.write(batch).map_err(ServeError::internal)?;
                w.finish().map_err(ServeError::internal)?;
                let out = w.into_inner();
                // "[{…},{…}]" without its brackets
                let inner = out.get(1..out.len().saturating_sub(1)).unwrap_or_default();
                if inner.is_empty() {
                    return Ok(Bytes::new());
                }
                *rows += batch.num_rows() as u64;
                let mut chunk = Vec::with_capacity(inner.len() + 1);
                if *wrote_row {
                    chunk.push(b',');
                }
                *wrote_row = true;
                chunk.extend_from_slice(inner);
                Ok(Bytes::from(chunk))
            }
            Encoder::Ndjson => {
                let mut w = datafusion::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, datafusion::arrow::json::writer::LineDelimited>(Vec::new());
                w.write(batch).map_err(ServeError::internal)?;
                w.finish().map_err(ServeError::internal)?;
                Ok(Bytes::from(w.into_inner()))
            }
            Encoder::Csv(w, buf) => {
                w.write(batch).map_err(ServeError::internal)?;
                Ok(buf.take())
            }
            Encoder::Arrow(w, buf) => {
                w.write(batch).map_err(ServeError::internal)?;
                Ok(buf.take())
            }
        }
    }

    fn end(&mut self) -> Result<Bytes, ServeError> {
        match self {
            Encoder::Json { rows, .. } => Ok(Bytes::from(format!("],\"row_count\":{rows}}}"))),
            Encoder::Ndjson | Encoder::Csv(..) => Ok(Bytes::new()),
            Encoder::Arrow(w, buf) => {
                w.finish().map_err(ServeError::internal)?;
                Ok(buf.take())
            }
        }
    }

    /// How a failure after the response started is told: the JSON document ends with
    /// it; the other formats have no place for it, so the response is cut off (the
    /// client sees an incomplete body, never a silently short result).
    fn failed(&mut self, e: &ServeError) -> Chunk {
        match self {
            Encoder::Json { .. } => Ok(Bytes::from(format!(
                "],\"error\":{}}}",
                serde_json::to_string(&ErrorBody::from(e).error).expect("errors serialise")
            ))),
            _ => Err(std::io::Error::other(e.message.clone())),
        }
    }
}

struct Encoding {
    schema: SchemaRef,
    encoder: Encoder,
    first: Option<Result<RecordBatch, ServeError>>,
    rows: Rows,
    head: Option<Bytes>,
    done: bool,
}

fn encode(
    format: ResultFormat,
    schema: SchemaRef,
    first: Option<Result<RecordBatch, ServeError>>,
    rows: Rows,
    notices: Vec<String>,
) -> Result<impl futures::Stream<Item = Chunk> + Send, ServeError> {
    let mut encoder = Encoder::new(format, &schema)?;
    let head = encoder.start(&schema, &notices);
    let state = Encoding {
        schema,
        encoder,
        first,
        rows,
        head: Some(head),
        done: false,
    };
    Ok(futures::stream::unfold(state, |mut st| async move {
        if let Some(head) = st.head.take() {
            return Some((Ok(head), st));
        }
        if st.done {
            return None;
        }
        let next = match st.first.take() {
            Some(first) => Some(first),
            None => st.rows.next().await,
        };
        let chunk = match next {
            None => {
                st.done = true;
                st.encoder
                    .end()
                    .map_err(|e| std::io::Error::other(e.message))
            }
            Some(Err(e)) => {
                st.done = true;
                st.encoder.failed(&e)
            }
            Some(Ok(batch)) => {
                match to_plain(&batch, &st.schema)
                    .map_err(ServeError::internal)
                    .and_then(|b| st.encoder.batch(&b))
                {
                    Ok(bytes) => Ok(bytes),
                    Err(e) => {
                        st.done = true;
                        st.encoder.failed(&e)
                    }
                }
            }
        };
        Some((chunk, st))
    }))
}
