//! Opening a catalog: URLs, migrations, and what a failure says.

use std::path::Path;

use sqlx::Connection;
use tessera_catalog::{CatalogError, ProductRecord, open};

use crate::support::{Backend, Fixture, at, postgres_admin_url};

backend_tests!(
    migrations_are_idempotent,
    concurrent_opens_of_a_fresh_catalog_all_succeed,
    kind_names_the_backend,
);

fn product(name: &str) -> ProductRecord {
    ProductRecord {
        domain: "crm".into(),
        product: name.into(),
        status: "active".into(),
        description: None,
        descriptor_yaml: format!("name: {name}\n"),
        updated_at: at(0),
    }
}

async fn migrations_are_idempotent(fx: Fixture) {
    let first = fx.open().await;
    first.upsert_product(&product("customers")).await.unwrap();
    // Opening again (while the first store is still open, then after) migrates nothing
    // and loses nothing.
    let second = fx.open().await;
    drop(first);
    let third = fx.open().await;
    assert_eq!(second.products().await.unwrap(), vec![product("customers")]);
    assert_eq!(third.products().await.unwrap(), vec![product("customers")]);
}

async fn concurrent_opens_of_a_fresh_catalog_all_succeed(fx: Fixture) {
    // Like several processes starting at once on a catalog nobody has created yet.
    let (a, b, c, d) = tokio::join!(fx.open(), fx.open(), fx.open(), fx.open());
    for (i, store) in [a, b, c, d].iter().enumerate() {
        store
            .upsert_product(&product(&format!("p{i}")))
            .await
            .unwrap();
    }
    let e = fx.open().await;
    assert_eq!(e.products().await.unwrap().len(), 4);
}

async fn kind_names_the_backend(fx: Fixture) {
    let store = fx.open().await;
    let want = match fx.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(store.kind(), want);
}

#[tokio::test]
async fn bad_urls_are_bad_url_errors_that_list_the_forms() {
    for url in [
        "",
        "catalog.db",
        "mysql://u:secret@h/db",
        "sqlite://",
        "sqlite:",
        "sqlite://dir/",
        "sqlite://c.db?mode=ro",
        "postgres://u:secret@h:notaport/db",
    ] {
        let err = open(url, Path::new("/tmp"))
            .await
            .err()
            .unwrap_or_else(|| panic!("{url}: opened"));
        assert!(matches!(err, CatalogError::BadUrl { .. }), "{url}: {err:?}");
        let message = err.to_string();
        for form in [
            "sqlite://",
            "sqlite::memory:",
            "postgres://",
            "postgresql://",
        ] {
            assert!(message.contains(form), "{url}: {message}");
        }
        assert!(!message.contains("secret"), "{message}");
        assert!(!format!("{err:?}").contains("secret"), "{err:?}");
    }
}

#[tokio::test]
async fn sqlite_paths_are_relative_to_the_mesh_root_and_use_wal() {
    let root = tempfile::tempdir().unwrap();
    let store = open("sqlite://.tessera/nested/catalog.db", root.path())
        .await
        .unwrap();
    assert_eq!(store.kind(), "sqlite");
    let file = root.path().join(".tessera/nested/catalog.db");
    assert!(file.is_file(), "{} was not created", file.display());

    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");

    // An absolute path ignores the mesh root.
    let elsewhere = tempfile::tempdir().unwrap();
    let absolute = elsewhere.path().join("abs.db");
    open(
        &format!("sqlite://{}", absolute.display()),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    assert!(absolute.is_file());
}

#[tokio::test]
async fn sqlite_memory_stores_are_separate_and_work() {
    let a = open("sqlite::memory:", Path::new("/nonexistent"))
        .await
        .unwrap();
    let b = open("sqlite::memory:", Path::new("/nonexistent"))
        .await
        .unwrap();
    a.upsert_product(&product("customers")).await.unwrap();
    assert_eq!(a.products().await.unwrap(), vec![product("customers")]);
    assert_eq!(b.products().await.unwrap(), vec![]);
}

#[tokio::test]
async fn sqlite_connect_failure_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("not-a-folder"), "x").unwrap();
    let err = open("sqlite://not-a-folder/catalog.db", root.path())
        .await
        .err()
        .expect("a catalog under a regular file cannot be created");
    assert!(matches!(err, CatalogError::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("could not open the catalog at sqlite://")
            && message.contains("not-a-folder/catalog.db"),
        "{message}"
    );
}

#[tokio::test]
async fn postgres_connect_failure_hides_the_password() {
    let mut url = url::Url::parse(&postgres_admin_url()).unwrap();
    url.set_username("tessera_nobody").unwrap();
    url.set_password(Some("s3cret-pw")).unwrap();
    url.set_path("tessera_no_such_database");
    url.set_query(Some("application_name=catalog-test&password=s3cret-pw"));
    let err = open(url.as_str(), Path::new("/tmp"))
        .await
        .err()
        .expect("no such role or database");
    assert!(matches!(err, CatalogError::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert!(!message.contains("s3cret"), "{message}");
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    assert!(
        message.starts_with("could not open the catalog at postgres://tessera_nobody:***@"),
        "{message}"
    );
    assert!(message.contains("password=***"), "{message}");
}

#[tokio::test]
async fn postgres_refused_connection_fails_at_once_and_says_why() {
    // A port nobody listens on (free a moment ago).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://tessera:s3cret@127.0.0.1:{port}/catalog");
    let started = std::time::Instant::now();
    let err = open(&url, Path::new("/tmp")).await.err().expect("refused");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, CatalogError::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "could not open the catalog at postgres://tessera:***@127.0.0.1:{port}/catalog: "
        )),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn postgres_connection_is_not_needed_to_reject_a_bad_url() {
    // No server involved: sqlx cannot read the URL.
    let err = open("postgresql://u:s3cret@[::1", Path::new("/tmp"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, CatalogError::BadUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test]
async fn postgres_is_reachable_for_the_tests() {
    // A plain check that gives one clear failure when the server is missing.
    let url = postgres_admin_url();
    sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", tessera_catalog::redact(&url)));
}
