//! The pipeline, in the order data flows: the [`source`] thread polls both inputs, orders each
//! partition's gateway inputs by timestamp ([`input_order`]) and hands batches to the
//! [`router`], which dispatches them to one [`partition`] actor per assigned partition, which
//! hand their outputs to the [`sink`], which produces them and commits consumed offsets in Kafka
//! transactions. The stages talk only through the [`messages`] below; each is
//! thin over [`crate::domain`] (what to do with a record) and [`crate::kafka`] (how to talk to
//! the broker).
//!
//! Ordering is what makes the commit exact: each actor enqueues its results to the next one
//! synchronously inside its handler, and mailboxes are FIFO, so a `Commit` sent after a partition
//! actor answered finds every output of that partition already in the sink.
//!
//! That needs `Addr::send` to enqueue at once, always. With a bounded mailbox actix parks a sender
//! that filled it and holds its next messages in the returned futures, delivering them later —
//! possibly after a `Commit` or `Stop` sent meanwhile (a batch of a revoked partition would then
//! land in the next transaction). So every actor here is started with [`UNBOUNDED_MAILBOX`];
//! memory stays bounded because every sender awaits the answer (the source keeps at most a few
//! batches in flight, and each answer comes only once the sink took the batch).
//!
//! Two messages flow against the data, and both go through a queue too:
//! - **Rewind** (sink → source, [`messages::SourceCommand`]): a transaction aborted. The sink drops
//!   every batch until [`messages::Reset`]; the source drains its in-flight batches, has the router
//!   stop every partition actor without committing (their state includes aborted changes), seeks
//!   back to the committed offsets and assigns the partitions again, which restores their state
//!   from the changelog. The router sends `Reset` only after every actor stopped, so by FIFO no
//!   batch computed from the aborted state can reach the sink after it.
//! - **Failure** (any stage → [`crate::app::run`], [`failure::Failures`]): something the tracker
//!   cannot repair in place. `run` then stops the pipeline as on SIGTERM and returns the error.

/// Mailbox capacity that never parks a sender (0 is unbounded in actix; see above).
pub const UNBOUNDED_MAILBOX: usize = 0;

pub mod clock;
pub mod context;
pub mod failure;
pub mod input_order;
pub mod lookups;
pub mod messages;
pub mod partition;
pub mod rate_limit;
pub mod receipt_intake;
pub mod receipt_join;
pub mod restoring;
pub mod router;
pub mod sink;
pub mod source;
pub mod stream_clock;

#[cfg(test)]
mod test_kit;
