//! Queries execute on their own runtime, apart from the caller's.
//!
//! DataFusion's operators run on whichever tokio runtime polls them, and a busy operator
//! holds its worker thread until it yields. On the caller's runtime that would starve
//! the caller's timers (so a query could overrun its time limit unnoticed) and, in a
//! server, every other request. Here the plan runs on a dedicated multi-thread runtime,
//! one worker per core, and hands batches to the caller through a small channel; the
//! caller keeps its deadline. Dropping the receiving side aborts the query's tasks at
//! their next yield point (an operator that never yields, such as a huge cross join,
//! runs until it does — DataFusion cancels cooperatively).

use std::sync::OnceLock;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("tessera-query")
            .enable_all()
            .build()
            .expect("the query runtime starts")
    })
}

/// Batches of a query running on the query runtime.
pub(crate) struct Remote {
    pub schema: SchemaRef,
    pub batches: mpsc::Receiver<Result<RecordBatch, DataFusionError>>,
    pub task: AbortOnDrop,
}

/// Aborts the task when dropped: a caller that stops reading stops the query.
pub(crate) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts `make` (which builds the stream) on the query runtime and forwards its batches.
pub(crate) async fn spawn<F>(make: F) -> Result<Remote, DataFusionError>
where
    F: Future<Output = Result<SendableRecordBatchStream, DataFusionError>> + Send + 'static,
{
    let (started_tx, started_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(2);
    let task = AbortOnDrop(runtime().spawn(async move {
        let mut stream = match make.await {
            Ok(s) => s,
            Err(e) => {
                let _ = started_tx.send(Err(e));
                return;
            }
        };
        if started_tx.send(Ok(stream.schema())).is_err() {
            return;
        }
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }));
    let schema = started_rx.await.map_err(|_| {
        DataFusionError::Execution("the query stopped before it started (a panic?)".into())
    })??;
    Ok(Remote {
        schema,
        batches: rx,
        task,
    })
}

/// Runs `work` to completion on the query runtime.
pub(crate) async fn run<T, F>(work: F) -> Result<T, DataFusionError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, DataFusionError>> + Send + 'static,
{
    let handle = runtime().spawn(work);
    let abort = handle.abort_handle();
    struct Guard(tokio::task::AbortHandle);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _guard = Guard(abort);
    handle
        .await
        .map_err(|e| DataFusionError::Execution(format!("the query stopped: {e}")))?
}
