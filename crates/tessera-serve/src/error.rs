//! One error shape for every adapter: what kind of failure, the message a user can act
//! on, and an id that ties the response to the server's log. Internal errors (the store,
//! an I/O failure, a bug) are logged with their detail and answered with the id only.

use tessera_engine::query::{QueryError, QueryErrorKind};

use crate::auth::AuthError;

/// A refused or failed request, on any protocol.
#[derive(Debug, Clone)]
pub struct ServeError {
    pub kind: ErrorKind,
    /// Safe to show the caller.
    pub message: String,
    /// `err_` + 16 hex digits; the server's log has the same id.
    pub error_id: String,
}

/// What went wrong, in the terms every protocol maps to its own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No, bad, expired or revoked credentials (HTTP 401).
    Unauthenticated,
    /// Policy refused it (HTTP 403).
    NotPermitted,
    /// The request is malformed: bad SQL, unknown table or column, bad parameters (400).
    BadRequest,
    /// Nothing at that path or id (404).
    NotFound,
    /// It contradicts what is recorded: decided already, granted already (409).
    Conflict,
    /// A query limit (time, memory, rows) was reached (422).
    Limit,
    /// The request body is larger than `server.max_request_size` (413).
    TooLarge,
    /// The server is at its limits or shutting down; retry later (503).
    Unavailable,
    /// A fault on our side; the message carries only the error id (500).
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::NotPermitted => "not_permitted",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Limit => "limit",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Unauthenticated => 401,
            ErrorKind::NotPermitted => 403,
            ErrorKind::BadRequest => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Limit => 422,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// The PostgreSQL SQLSTATE clients branch on.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::Unauthenticated => "28P01", // invalid_password
            ErrorKind::NotPermitted => "42501",    // insufficient_privilege
            ErrorKind::BadRequest => "42000",      // syntax_error_or_access_rule_violation
            ErrorKind::NotFound => "42P01",        // undefined_table
            ErrorKind::Conflict => "55000",        // object_not_in_prerequisite_state
            ErrorKind::Limit => "54000",           // program_limit_exceeded
            ErrorKind::TooLarge => "54000",
            ErrorKind::Unavailable => "57P03", // cannot_connect_now
            ErrorKind::Internal => "XX000",    // internal_error
        }
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("err_{}", hex::encode(bytes))
}

/// The longest line of a message a client is sent (and the log records); a longer one —
/// a statement of megabytes quoted in a syntax error — is cut, saying how much.
const MAX_LINE: usize = 1000;
/// The longest message, all its lines together.
const MAX_MESSAGE: usize = 16 * 1024;

/// `message` with each line at most [`MAX_LINE`] bytes and the whole at most about
/// [`MAX_MESSAGE`]: what a client sent cannot make the answer (or the log) megabytes long.
fn bounded(message: String) -> String {
    if message.len() <= MAX_LINE {
        return message;
    }
    let cut = |n: usize| format!("… ({n} more bytes not shown)");
    let mut out = String::new();
    let mut consumed = 0;
    for line in message.split_inclusive('\n') {
        if out.len() + line.len().min(MAX_LINE) > MAX_MESSAGE {
            out.push_str(&cut(message.len() - consumed));
            break;
        }
        consumed += line.len();
        let text = line.strip_suffix('\n').unwrap_or(line);
        if text.len() <= MAX_LINE {
            out.push_str(line);
            continue;
        }
        let end = (0..=MAX_LINE)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        out.push_str(&text[..end]);
        out.push_str(&cut(text.len() - end));
        if line.len() > text.len() {
            out.push('\n');
        }
    }
    out
}

impl ServeError {
    /// An error whose message is safe to show (each line at most 1000 bytes).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ServeError {
        let e = ServeError {
            kind,
            message: bounded(message.into()),
            error_id: new_id(),
        };
        tracing::info!(error_id = %e.error_id, kind = e.kind.as_str(), "{}", e.message);
        e
    }

    /// A fault whose detail stays in the log.
    pub fn internal(detail: impl std::fmt::Display) -> ServeError {
        let error_id = new_id();
        tracing::error!(error_id = %error_id, "internal error: {detail}");
        ServeError {
            kind: ErrorKind::Internal,
            message: format!("internal error ({error_id}); the server's log has the detail"),
            error_id,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ServeError {
        ServeError::new(ErrorKind::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> ServeError {
        ServeError::new(ErrorKind::NotFound, message)
    }
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServeError {}

impl From<AuthError> for ServeError {
    fn from(e: AuthError) -> ServeError {
        match e {
            AuthError::Store(detail) => ServeError::internal(detail),
            AuthError::PurposeNotAllowed { .. } => {
                ServeError::new(ErrorKind::NotPermitted, e.to_string())
            }
            e => ServeError::new(ErrorKind::Unauthenticated, e.to_string()),
        }
    }
}

impl From<QueryError> for ServeError {
    fn from(e: QueryError) -> ServeError {
        let kind = match e.kind() {
            QueryErrorKind::NotPermitted => ErrorKind::NotPermitted,
            QueryErrorKind::Limit => ErrorKind::Limit,
            QueryErrorKind::Syntax
            | QueryErrorKind::ReadOnly
            | QueryErrorKind::UnknownTable
            | QueryErrorKind::Unavailable
            | QueryErrorKind::UnknownColumn
            | QueryErrorKind::TimeTravel
            | QueryErrorKind::Plan => ErrorKind::BadRequest,
            // Execution errors are the query's (a division by zero, a bad cast): the
            // message is about the user's SQL. Opening a table or writing the audit
            // record is ours.
            QueryErrorKind::Execution => ErrorKind::BadRequest,
            QueryErrorKind::Open | QueryErrorKind::Audit => {
                return ServeError::internal(e.to_string());
            }
        };
        ServeError::new(kind, e.to_string())
    }
}

/// The JSON body of every HTTP error.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub kind: ErrorKind,
    pub message: String,
    pub error_id: String,
}

impl From<&ServeError> for ErrorBody {
    fn from(e: &ServeError) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                kind: e.kind,
                message: e.message.clone(),
                error_id: e.error_id.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_quoted_statement_is_cut_line_by_line() {
        let sql = format!("SELEC '{}'", "x".repeat(3_000_000));
        let message =
            format!("SQL syntax error: found: SELEC (line 1, column 1)\n  | {sql}\n  | ^");
        let e = ServeError::bad_request(message);
        let lines: Vec<&str> = e.message.lines().collect();
        assert_eq!(lines.len(), 3, "{}", e.message);
        assert_eq!(
            lines[0],
            "SQL syntax error: found: SELEC (line 1, column 1)"
        );
        assert!(lines[1].starts_with("  | SELEC 'xxx"), "{}", lines[1]);
        assert!(
            lines[1].ends_with(&format!(
                "… ({} more bytes not shown)",
                sql.len() + 4 - MAX_LINE
            )),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "  | ^");
    }

    #[test]
    fn many_lines_are_cut_as_a_whole_and_characters_stay_whole() {
        let e = ServeError::bad_request("é".repeat(600));
        assert!(e.message.starts_with(&"é".repeat(500)), "{}", e.message);
        assert!(
            e.message.ends_with("… (200 more bytes not shown)"),
            "{}",
            e.message
        );
        let long = "a line\n".repeat(10_000);
        let e = ServeError::bad_request(long.clone());
        assert!(e.message.len() <= MAX_MESSAGE + 40, "{}", e.message.len());
        assert!(
            e.message.ends_with("more bytes not shown)"),
            "{}",
            e.message
        );
        let short = "a line\n".repeat(200);
        assert_eq!(ServeError::bad_request(short.clone()).message, short);
    }
}
