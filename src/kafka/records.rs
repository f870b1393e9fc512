//! Owned records passed between the consumer thread, the pipeline stages and the producer.

use rdkafka::Message;
use rdkafka::message::BorrowedMessage;

use crate::domain::{InputTopic, RecordErrorKind, Status};

/// A consumed input record, detached from librdkafka's buffers.
#[derive(Debug, Clone)]
pub struct InputRecord {
    pub source: InputTopic,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Record timestamp in milliseconds since the epoch, if the broker gave one.
    pub timestamp_ms: Option<i64>,
}

impl InputRecord {
    pub fn from_message(source: InputTopic, message: &BorrowedMessage<'_>) -> Self {
        Self {
            source,
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}

/// Which output topic a record goes to, and what it counts as once committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    Status(Status),
    DeadLetter(RecordErrorKind),
    /// The state changelog (key = message id, value = encoded entry, None = purged).
    Changelog,
    /// The receipt join's changelog (key = receipt key).
    JoinChangelog,
    /// An accepted part for the receipt join's index (internal, key = receipt key).
    ReceiptIndex,
    /// A receipt re-keyed by receipt key (internal).
    ReceiptById,
    /// A receipt joined to its message (internal, key = message id).
    MatchedReceipt,
}

/// A record to produce inside the current transaction.
#[derive(Debug, Clone)]
pub struct OutputRecord {
    pub destination: Destination,
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// For a status: the message's `sent-messages` timestamp (completion latency).
    pub sent_at_ms: Option<i64>,
    /// The record's timestamp, when it must carry its cause's time rather than now (a joined
    /// receipt keeps the receipt's, so the message's clock does not run ahead of a backlog).
    pub timestamp_ms: Option<i64>,
}
