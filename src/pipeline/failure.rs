//! Failures the tracker cannot repair in place. A stage reports one and carries on harmlessly
//! (dropping work it can no longer do right); [`crate::app::run`] receives it, stops the pipeline
//! as on SIGTERM and returns it, so `main` exits non-zero and Kubernetes restarts the pod. Nothing
//! is lost: what was not committed is aborted by the broker and processed again after the restart.
//!
//! Each message includes its cause's text, and no variant marks a `#[source]`, so a log line
//! (`{:#}` walks the chain) says the cause once.

use rdkafka::error::KafkaError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::messages::SinkError;
use crate::kafka::authorization::MissingPermission;
use crate::kafka::restore::RestoreError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot restore partition {partition}: {error}")]
    Restore { partition: i32, error: RestoreError },
    #[error("restoring partition {partition} panicked")]
    RestorePanicked { partition: i32 },
    #[error(
        "assignment is not co-partitioned: {sent_topic} {sent:?} vs {other_topic} {other:?} (partition counts changed?)"
    )]
    NotCoPartitioned { sent_topic: String, sent: Vec<i32>, other_topic: String, other: Vec<i32> },
    #[error("transactions cannot go on: {0}")]
    Sink(SinkError),
    #[error("commit before giving up partitions failed: {0}")]
    CommitBeforeRevoke(SinkError),
    #[error("group consumer failed: {0}")]
    Consumer(KafkaError),
    #[error("rewind to the committed offsets failed: {0}")]
    Rewind(KafkaError),
    #[error("{0}")]
    NotAuthorized(MissingPermission),
    #[error("the {0} stopped unexpectedly")]
    StageStopped(&'static str),
}

/// Where stages report failures; cheap to clone into each of them.
#[derive(Clone)]
pub struct Failures(UnboundedSender<PipelineError>);

impl Failures {
    pub fn channel() -> (Self, UnboundedReceiver<PipelineError>) {
        let (sender, receiver) = unbounded_channel();
        (Self(sender), receiver)
    }

    pub fn report(&self, error: PipelineError) {
        tracing::error!(error = %error, "Pipeline failed; stopping so the orchestrator restarts the tracker");
        // Nobody listening means `run` has already returned: the process is ending anyway.
        let _ = self.0.send(error);
    }
}
