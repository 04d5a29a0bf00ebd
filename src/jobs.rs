//! Background jobs: one loop shape for every periodic job `app::prepare` starts.
//!
//! Each job must be safe to run in several processes at once (conditional updates), because
//! every `ca-enrol serve` sharing a database runs all of them.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// Runs `job` at start and then every `interval`, logging a failure under `name` and carrying
/// on: a failed run is retried at the next tick. The job logs its own noteworthy results.
pub fn every<F, Fut, E>(interval: Duration, name: &'static str, mut job: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Display,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            if let Err(e) = job().await {
                tracing::error!(job = name, error = %e, "background job failed");
            }
        }
    });
}
