//! The crate's one error type, grouped by who is at fault:
//!
//! - the user's configuration: [`CatalogError::BadUrl`] (fix `catalog.url` in `mesh.yaml`);
//! - the environment: [`CatalogError::Connect`] (server down, wrong database, no
//!   permission on a folder) and [`CatalogError::Migrate`] (a schema this build cannot
//!   use, e.g. written by a newer Tessera);
//! - the caller's logic: [`CatalogError::Conflict`] (a write that contradicts what is
//!   recorded; retrying will not help), [`CatalogError::NotFound`] (a write that names a
//!   record nobody recorded, such as revoking an unknown token) and
//!   [`CatalogError::InvalidArgument`] (an argument no store could use, such as an empty
//!   audit key);
//! - anything else the database reports: [`CatalogError::Query`].
//!
//! **Invariant:** no message carries a password. URLs are passed through [`redact`] before
//! they enter an error; database drivers do not echo passwords in their own errors.

use sqlx::migrate::MigrateError;

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog URL is not one Tessera understands. `url` is redacted.
    #[error(
        "catalog URL `{url}` is not one Tessera understands: {why}\n  \
         help: use sqlite://<path> (relative to the mesh root, e.g. sqlite://.tessera/catalog.db), \
         sqlite::memory:, or postgres://<user>@<host>:<port>/<database> (postgresql:// also works)"
    )]
    BadUrl { url: String, why: String },

    /// Could not connect to the server or open the database file. `url` is redacted.
    #[error("could not open the catalog at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },

    /// The schema could not be brought up to date.
    #[error("could not bring the catalog schema up to date: {}", migrate_message(.0))]
    Migrate(#[source] MigrateError),

    /// A write that contradicts what is recorded (the message says what and how).
    #[error("{0}")]
    Conflict(String),

    /// A write names a record that is not recorded (the message says which); nothing was
    /// written.
    #[error("{0}")]
    NotFound(String),

    /// An argument no store could use (the message says which and why); nothing was read
    /// or written.
    #[error("{0}")]
    InvalidArgument(String),

    /// The database refused or failed a statement.
    #[error("catalog query failed: {0}")]
    Query(#[source] sqlx::Error),
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Query(e)
    }
}

fn migrate_message(e: &MigrateError) -> String {
    let help = match e {
        MigrateError::VersionMissing(_) | MigrateError::VersionTooNew(..) => {
            "\n  help: the catalog was written by a newer Tessera; upgrade Tessera, or point catalog.url at another store"
        }
        MigrateError::VersionMismatch(_) => {
            "\n  help: a migration changed after it was applied; this Tessera build is broken, please report it"
        }
        _ => "",
    };
    format!("{e}{help}")
}

/// `url` with any password replaced by `***`: the one in the user-info part
/// (`postgres://user:secret@host/db`) and any query parameter whose name contains
/// `password` (`?password=secret`). Works on text that is not a valid URL too (a password
/// with an unescaped `/` or `@`), erring on the side of hiding more.
pub fn redact(url: &str) -> String {
    // The user info ends at the *last* `@`: a password may hold `@`, `/`, `:` or `?`.
    let (mut out, rest) = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, rest)) => {
                let shown = match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***"),
                    None => userinfo.to_string(),
                };
                (format!("{scheme}://{shown}@"), rest)
            }
            None => (format!("{scheme}://"), rest),
        },
        None => (String::new(), url),
    };
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}=***")
                    }
                    _ => param.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords_and_keeps_the_rest() {
        let cases = [
            (
                "sqlite://.tessera/catalog.db",
                "sqlite://.tessera/catalog.db",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            (
                "postgresql://u:s%40cret@h/db?sslmode=disable",
                "postgresql://u:***@h/db?sslmode=disable",
            ),
            ("postgres://u:se/cr@et@h/db", "postgres://u:***@h/db"),
            ("postgres://u:a:b@h/db", "postgres://u:***@h/db"),
            ("postgres://u:se?cret@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?user=u&password=secret&x=1",
                "postgres://h/db?user=u&password=***&x=1",
            ),
            (
                "postgres://h/db?sslpassword=secret",
                "postgres://h/db?sslpassword=***",
            ),
            (
                "postgres://u:secret@h/db?password=other",
                "postgres://u:***@h/db?password=***",
            ),
            ("not a url: secret", "not a url: secret"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "redact({input:?})");
        }
    }
}
