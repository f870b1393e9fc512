//! A stage's state restore, shared by the partition actors and the receipt join: it runs off the
//! actor's thread while the actor's mailbox waits, and its end is logged, measured and turned into
//! what the actor must do next.

use super::context::StageContext;
use super::failure::PipelineError;
use crate::kafka::restore::{RestoreError, Restored};

/// How a restore ended, for the actor.
pub enum RestoreEnd<S> {
    /// Install the state and start processing (readiness is already updated).
    Restored(Restored<S>),
    /// An unreadable changelog record: processing without it could publish a second status, and
    /// ending the process would only move the partition to another instance that fails the same
    /// way. So the partition stops here: it processes nothing (its offsets are never committed,
    /// so nothing is lost), the instance is never ready, and an alert says why.
    FailedClosed,
    /// Reported to `run`, which stops the pipeline: stop the actor.
    Failed,
}

/// Runs the blocking `restore` on the blocking pool, counted as restoring meanwhile.
pub fn run<S: Send + 'static>(
    shared: &StageContext,
    restore: impl FnOnce() -> Result<Restored<S>, RestoreError> + Send + 'static,
) -> actix_rt::task::JoinHandle<Result<Restored<S>, RestoreError>> {
    shared.metrics.partitions_restoring.inc();
    actix_rt::task::spawn_blocking(restore)
}

/// Logs and measures how the restore of `what` of `partition` ended, and says what to do next.
pub fn finish<S>(
    partition: i32,
    what: &'static str,
    result: Result<Result<Restored<S>, RestoreError>, actix_rt::task::JoinError>,
    shared: &StageContext,
) -> RestoreEnd<S> {
    shared.metrics.partitions_restoring.dec();
    match result {
        Ok(Ok(restored)) => {
            let seconds = restored.elapsed.as_secs_f64();
            tracing::info!(partition, what, records = restored.records, seconds, "State restored");
            shared.metrics.restore_seconds.observe(seconds);
            shared.health.set_partition_ready(partition);
            RestoreEnd::Restored(restored)
        }
        Ok(Err(error @ RestoreError::Corrupt { .. })) => {
            tracing::error!(partition, what, %error, "Partition state unreadable; not processing this partition");
            shared.metrics.partitions_failed_closed.inc();
            shared.health.set_partition_failed_closed(partition);
            RestoreEnd::FailedClosed
        }
        Ok(Err(error)) => {
            shared.failures.report(PipelineError::Restore { partition, error });
            RestoreEnd::Failed
        }
        Err(_) => {
            shared.failures.report(PipelineError::RestorePanicked { partition });
            RestoreEnd::Failed
        }
    }
}
