//! Many writers at once, through two stores on the same catalog (as two processes
//! would be): nothing is lost, and where only one write may win, exactly one does.

use std::sync::Arc;

use tessera_catalog::{CatalogError, CatalogStore, RunKind, RunStatus};

use crate::support::{Fixture, check, finish_as, key, new_run, version};

backend_tests!(
    concurrent_writers_lose_nothing,
    racing_for_one_version_only_one_run_wins,
    racing_to_finish_a_run_only_one_wins,
);

const TASKS: i64 = 40;
const VERSIONS_PER_TASK: i64 = 4;
const CHECKS_PER_TASK: usize = 3;

async fn two_stores(fx: &Fixture) -> [Arc<dyn CatalogStore>; 2] {
    let (a, b) = tokio::join!(fx.open(), fx.open());
    [a, b]
}

async fn concurrent_writers_lose_nothing(fx: Fixture) {
    let stores = two_stores(&fx).await;
    stores[0]
        .start_run(&new_run("shared", RunKind::Test, "crm", "customers", 0))
        .await
        .unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = stores[(i % 2) as usize].clone();
            tokio::spawn(async move {
                let run_id = format!("run-{i:02}");
                store
                    .start_run(&new_run(&run_id, RunKind::Publish, "crm", "customers", i))
                    .await
                    .unwrap();
                for v in i * VERSIONS_PER_TASK..(i + 1) * VERSIONS_PER_TASK {
                    store
                        .record_version(&version(&key("main"), v, &run_id))
                        .await
                        .unwrap();
                }
                let batch: Vec<_> = (0..CHECKS_PER_TASK)
                    .map(|n| check(&format!("{run_id}/{n}"), n % 2 == 0))
                    .collect();
                store.record_checks("shared", &batch).await.unwrap();
                store
                    .finish_run(&run_id, &finish_as(RunStatus::Succeeded, i + 1))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a writer task panicked");
    }

    let reader = fx.open().await;
    let versions = reader.versions(&key("main")).await.unwrap();
    let want: Vec<_> = (0..TASKS * VERSIONS_PER_TASK)
        .map(|v| {
            version(
                &key("main"),
                v,
                &format!("run-{:02}", v / VERSIONS_PER_TASK),
            )
        })
        .collect();
    assert_eq!(versions, want);

    let runs = reader.runs(&Default::default()).await.unwrap();
    assert_eq!(runs.len(), TASKS as usize + 1);
    assert!(
        runs.iter()
            .filter(|r| r.id != "shared")
            .all(|r| r.status == RunStatus::Succeeded && r.duration_ms == Some(1000)),
        "every run finished"
    );

    // Every batch is there, whole and in its own order (batches interleave freely).
    let names: Vec<String> = reader
        .checks("shared")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names.len(), TASKS as usize * CHECKS_PER_TASK);
    for batch in names.chunks(CHECKS_PER_TASK) {
        let run_id = batch[0].split('/').next().unwrap();
        let want: Vec<String> = (0..CHECKS_PER_TASK)
            .map(|n| format!("{run_id}/{n}"))
            .collect();
        assert_eq!(batch, want.as_slice(), "a batch was split or reordered");
    }
}

async fn racing_for_one_version_only_one_run_wins(fx: Fixture) {
    let stores = two_stores(&fx).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let run_id = format!("contender-{i}");
                let outcome = store
                    .record_version(&version(&key("main"), 7, &run_id))
                    .await;
                (run_id, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (run_id, Ok(())) => winners.push(run_id),
            (_, Err(CatalogError::Conflict(_))) => {}
            (run_id, Err(e)) => panic!("{run_id}: expected Ok or Conflict, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let recorded = stores[0].versions(&key("main")).await.unwrap();
    assert_eq!(recorded, vec![version(&key("main"), 7, &winners[0])]);
}

async fn racing_to_finish_a_run_only_one_wins(fx: Fixture) {
    let stores = two_stores(&fx).await;
    stores[0]
        .start_run(&new_run("r1", RunKind::Build, "crm", "customers", 0))
        .await
        .unwrap();
    let statuses = [
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Interrupted,
    ];
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = stores[i % 2].clone();
            let status = statuses[i % statuses.len()];
            tokio::spawn(async move {
                let outcome = store
                    .finish_run("r1", &finish_as(status, 10 + i as i64))
                    .await;
                (status, i as i64, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (status, i, Ok(())) => winners.push((status, i)),
            (_, _, Err(CatalogError::Conflict(_))) => {}
            (_, i, Err(e)) => panic!("finisher {i}: expected Ok or Conflict, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let (status, i) = winners[0];
    let run = stores[1].run("r1").await.unwrap().unwrap();
    assert_eq!(run.status, status);
    assert_eq!(run.duration_ms, Some((10 + i) * 1000));
}
