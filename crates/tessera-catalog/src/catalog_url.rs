//! Catalog URLs: which store a `catalog.url` names.
//!
//! | URL | store |
//! |---|---|
//! | `sqlite://.tessera/catalog.db`, `sqlite:catalog.db` | SQLite file, relative to the mesh root |
//! | `sqlite:///var/lib/tessera/catalog.db` | SQLite file, absolute path |
//! | `sqlite::memory:` (or `sqlite://:memory:`) | SQLite in memory, gone when the store is dropped |
//! | `postgres://user[:password]@host[:port]/database[?params]`, `postgresql://…` | PostgreSQL server |
//!
//! The SQLite path is taken literally (no percent-decoding); query parameters are refused,
//! because Tessera sets the SQLite options itself. PostgreSQL URLs accept what sqlx's
//! `PgConnectOptions` accepts (`sslmode`, `application_name`, …); this build has no TLS
//! support, so `sslmode=require` fails to connect.

use std::path::{Path, PathBuf};

use crate::error::{CatalogError, Result, redact};

/// A parsed catalog URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CatalogUrl {
    SqliteFile(PathBuf),
    SqliteMemory,
    /// The URL as given (it may hold a password: never put it in a message; use `redact`).
    Postgres(String),
}

impl CatalogUrl {
    /// Reads `url`; a relative SQLite path is resolved against `base_dir`.
    pub(crate) fn parse(url: &str, base_dir: &Path) -> Result<CatalogUrl> {
        let bad = |why: &str| CatalogError::BadUrl {
            url: redact(url),
            why: why.to_string(),
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(CatalogUrl::Postgres(url.to_string()));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(match url.split_once(':') {
                Some((scheme, _)) if !scheme.is_empty() => {
                    bad(&format!("the scheme `{scheme}:` is not supported"))
                }
                _ if url.trim().is_empty() => bad("it is empty"),
                _ => bad("it has no scheme"),
            });
        };
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path == ":memory:" {
            return Ok(CatalogUrl::SqliteMemory);
        }
        if path.is_empty() {
            return Err(bad("it names no database file"));
        }
        if path.contains('?') || path.contains('#') {
            return Err(bad(
                "SQLite URLs take no query parameters or fragments (Tessera sets the SQLite options itself)",
            ));
        }
        if path.ends_with('/') {
            return Err(bad("it names a folder, not a database file"));
        }
        Ok(CatalogUrl::SqliteFile(base_dir.join(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<CatalogUrl> {
        CatalogUrl::parse(url, Path::new("/mesh"))
    }

    fn ok(url: &str) -> CatalogUrl {
        parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn sqlite_paths_are_relative_to_the_mesh_root_unless_absolute() {
        let file = |p: &str| CatalogUrl::SqliteFile(PathBuf::from(p));
        assert_eq!(
            ok("sqlite://.tessera/catalog.db"),
            file("/mesh/.tessera/catalog.db")
        );
        assert_eq!(ok("sqlite:catalog.db"), file("/mesh/catalog.db"));
        assert_eq!(ok("sqlite:///var/db/c.db"), file("/var/db/c.db"));
        assert_eq!(ok("sqlite::memory:"), CatalogUrl::SqliteMemory);
        assert_eq!(ok("sqlite://:memory:"), CatalogUrl::SqliteMemory);
    }

    #[test]
    fn postgres_urls_are_kept_whole() {
        for url in [
            "postgres://u:p@h:5432/db",
            "postgresql://h/db?sslmode=disable",
        ] {
            assert_eq!(ok(url), CatalogUrl::Postgres(url.to_string()));
        }
    }

    #[test]
    fn bad_urls_say_why_and_hide_passwords() {
        let why = |url: &str| match parse(url) {
            Err(CatalogError::BadUrl { url, why }) => format!("{url}: {why}"),
            other => panic!("{url}: expected BadUrl, got {other:?}"),
        };
        assert_eq!(why(""), ": it is empty");
        assert_eq!(why("catalog.db"), "catalog.db: it has no scheme");
        assert_eq!(
            why("mysql://u:secret@h/db"),
            "mysql://u:***@h/db: the scheme `mysql:` is not supported"
        );
        assert_eq!(why("sqlite://"), "sqlite://: it names no database file");
        assert_eq!(why("sqlite:"), "sqlite:: it names no database file");
        assert_eq!(
            why("sqlite://dir/"),
            "sqlite://dir/: it names a folder, not a database file"
        );
        assert!(why("sqlite://c.db?mode=ro").contains("no query parameters"));
    }
}
