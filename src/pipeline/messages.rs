//! Every message between the pipeline's stages, in the order data flows.

use actix::Message;
use rdkafka::error::KafkaError;

use crate::domain::view::MessageView;
use crate::domain::{InputTopic, Status};
use crate::kafka::records::{Destination, InputRecord, OutputRecord};
use crate::kafka::transaction::TransactionError;

/// Sink → source, and `run` → source, through the source thread's inbox (it is not an actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceCommand {
    /// A transaction aborted: go back to the committed offsets and restore state.
    Rewind,
    /// Commit what was processed, leave the group and end the thread.
    Stop,
}

/// Source → router: a batch of consumed records of any assigned partitions, in processing order
/// (a partition's gateway inputs merged by timestamp, [`super::input_order`]). Answered once
/// every partition actor handed its part to the sink.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dispatch(pub Vec<InputRecord>);

/// Source → router: partitions newly assigned to this instance (or assigned again after a
/// rewind). Their actors restore state before processing anything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Assign(pub Assignment);

/// The partitions of one assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Partitions of the co-partitioned inputs: the messages' (and the receipt join's) state.
    pub partitions: Vec<i32>,
    /// Partitions of the gateway's delivery-reports topic (any count, re-keyed on arrival).
    pub delivery_reports: Vec<i32>,
}

/// Source → router: give up every partition: drain, commit (unless the pipeline is rewinding
/// after an abort), stop. Answers once all of that is done.
#[derive(Message)]
#[rtype(result = "Result<(), SinkError>")]
pub struct RevokeAll {
    pub commit: bool,
}

/// Router → partition actor: records of this actor's partition, in processing order (each input
/// in offset order).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Process(pub Vec<InputRecord>);

/// Router → partition actor: stop after everything queued before this message was handled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// The answer to a lookup: the id's partition, and what this instance can say about it.
#[derive(Debug)]
pub struct LookupAnswer {
    pub partition: i32,
    pub answer: Answer,
}

#[derive(Debug)]
pub enum Answer {
    Found(Box<MessageView>),
    /// No state: never seen, or purged after its retention.
    Unknown,
    /// Assigned here, its state not restored yet.
    Restoring,
    /// Assigned here, its state unreadable: nothing of it is processed (README "Guarantees").
    FailedClosed,
    /// Not assigned to this instance (another one owns it, or a rebalance is under way).
    NotAssigned,
    /// Its actor has stopped (the pipeline is stopping or failed).
    Stopped,
}

/// Partition actor → sink: outputs of one processed batch of a partition, and the input offsets
/// they account for.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct SinkBatch {
    pub partition: i32,
    pub outputs: Vec<OutputRecord>,
    /// Changed state entries of the partition: `(key, encoded entry or None when purged)`.
    pub changelog: Vec<(String, Option<Vec<u8>>)>,
    /// Which changelog those go to (the messages' or the receipt join's).
    pub changelog_topic: Destination,
    /// Next offset to consume per [`InputTopic`] index, if the batch had records of that input.
    pub next_offsets: [Option<i64>; InputTopic::COUNT],
    /// `sent-messages` timestamps of the messages whose submit status is in `outputs`, for latency.
    pub completions: Vec<i64>,
    /// The delivery outcomes in `outputs`, each with its message's SENT time, for delivery latency.
    pub delivery_completions: Vec<(Status, i64)>,
    /// The supplier of each receipt dead-lettered as unmatched, counted per supplier once committed.
    pub unmatched_suppliers: Vec<String>,
}

/// Router → sink: commit the open transaction now (before partitions are given up, or at
/// shutdown).
#[derive(Message)]
#[rtype(result = "Result<(), SinkError>")]
pub struct Commit;

/// Router → sink: every partition actor has stopped. Whatever transaction is still open holds
/// outputs of state that is gone (after a `Commit`, nothing is open): abort it, and accept
/// batches again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reset;

/// Why the sink could not commit.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Repaired in place: the pipeline rewinds to the committed offsets (or, at a revoke, the
    /// next owner of the partitions resumes from them).
    #[error("transaction aborted: {0}")]
    Aborted(KafkaError),
    #[error(transparent)]
    Transaction(TransactionError),
    #[error(
        "the producer failed fatally more than {max} times within {window:?} (another live instance with the same transactional id?); last error: {cause}"
    )]
    ReplacedTooOften { max: usize, window: std::time::Duration, cause: KafkaError },
    #[error("the failed producer could not be replaced: {0}")]
    Replacement(TransactionError),
    #[error("the sink failed earlier and takes no more work")]
    Failed,
    #[error("the sink actor has stopped")]
    Stopped,
}
