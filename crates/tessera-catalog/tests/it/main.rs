//! The catalog's behaviour, pinned against real databases.
//!
//! Each test in the backend modules is written once, as `async fn name(fx: Fixture)`, and
//! [`backend_tests!`] runs it twice: `<module>::sqlite::<name>` against a SQLite file in a
//! temporary folder, `<module>::postgres::<name>` against a fresh database (created for the
//! test, dropped after it) on the server `TESSERA_TEST_POSTGRES_URL` names. `scripts/test`
//! starts that server; without it the PostgreSQL tests fail and say so.
//!
//! Run one backend: `cargo nextest run -p tessera-catalog -E 'test(/::sqlite::/)'`.

/// Runs each named `async fn(Fixture)` of the calling module against both backends.
macro_rules! backend_tests {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $crate::support::with_fixture($crate::support::Backend::Sqlite, super::$test)
                        .await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $crate::support::with_fixture($crate::support::Backend::Postgres, super::$test)
                        .await
                }
            )+
        }
    };
}

mod access;
mod audit;
mod catalog;
mod checks;
mod concurrency;
mod erasures;
mod open;
mod runs;
mod sla;
mod support;
mod tokens;
mod versions;
