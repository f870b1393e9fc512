//! The actor system: a [`router::Router`] dispatches consumed records to one
//! [`partition::PartitionActor`] per assigned partition, which hand their outputs to the
//! [`sink::Sink`], which produces them and commits consumed offsets in Kafka transactions.
//!
//! Ordering is what makes the commit exact: each actor enqueues its results to the next one
//! synchronously inside its handler, and mailboxes are FIFO, so a `Commit` sent after a partition
//! actor answered finds every output of that partition already in the sink.
//!
//! That needs `Addr::send` to enqueue at once, always. With a bounded mailbox actix parks a sender
//! that filled it and holds its next messages in the returned futures, delivering them later —
//! possibly after a `Commit` or `Stop` sent meanwhile (a batch of a revoked partition would then
//! land in the next transaction). So every actor here is started with [`UNBOUNDED_MAILBOX`];
//! memory stays bounded because every sender awaits the answer (the consumer thread keeps at most
//! a few batches in flight, and each answer comes only once the sink took the batch).

/// Mailbox capacity that never parks a sender (0 is unbounded in actix; see above).
pub const UNBOUNDED_MAILBOX: usize = 0;

pub mod partition;
pub mod router;
pub mod sink;

/// Names of the four topics, shared by the actors.
#[derive(Debug, Clone)]
pub struct TopicNames {
    pub sent: String,
    pub responses: String,
    pub status: String,
    pub dead_letter: String,
}

impl TopicNames {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            sent: config.sent_topic.clone(),
            responses: config.responses_topic.clone(),
            status: config.status_topic.clone(),
            dead_letter: config.dead_letter_topic.clone(),
        }
    }

    pub fn input(&self, source: crate::kafka::records::Source) -> &str {
        match source {
            crate::kafka::records::Source::SentMessages => &self.sent,
            crate::kafka::records::Source::SubmitResponses => &self.responses,
        }
    }
}
