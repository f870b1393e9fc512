//! The router: owns the partition actors, creates them when partitions are assigned, dispatches
//! consumed batches to them, and on revocation drains them and commits before they stop.

use std::collections::HashMap;

use actix::prelude::*;
use futures::future::join_all;

use super::messages::{Assign, Commit, Dispatch, Process, Reset, RevokeAll, SinkError, Stop};
use super::partition::{PartitionActor, PartitionContext};
use crate::kafka::records::InputRecord;

pub struct Router {
    partitions: HashMap<i32, Addr<PartitionActor>>,
    workers: Vec<ArbiterHandle>,
    next_worker: usize,
    shared: PartitionContext,
}

impl Router {
    pub fn new(workers: Vec<ArbiterHandle>, shared: PartitionContext) -> Self {
        Self { partitions: HashMap::new(), workers, next_worker: 0, shared }
    }

    fn start_partition(&mut self, partition: i32) -> Addr<PartitionActor> {
        let worker = &self.workers[self.next_worker % self.workers.len()];
        self.next_worker += 1;
        let shared = self.shared.clone();
        PartitionActor::start_in_arbiter(worker, move |ctx| {
            ctx.set_mailbox_capacity(super::UNBOUNDED_MAILBOX);
            PartitionActor::new(partition, shared)
        })
    }
}

impl Actor for Router {
    type Context = Context<Self>;
}

impl Handler<Dispatch> for Router {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Dispatch(records): Dispatch, _ctx: &mut Self::Context) -> Self::Result {
        let mut by_partition: HashMap<i32, Vec<InputRecord>> = HashMap::new();
        for record in records {
            by_partition.entry(record.partition).or_default().push(record);
        }
        let mut pending = Vec::with_capacity(by_partition.len());
        for (partition, records) in by_partition {
            match self.partitions.get(&partition) {
                // Enqueued now, in order; the returned future only waits for completion.
                Some(actor) => pending.push(actor.send(Process(records))),
                // Not ours (any more): its offsets are never committed here, so its owner will
                // consume these records again. Nothing is lost by dropping them.
                None => tracing::warn!(partition, records = records.len(), "Dropping records of unassigned partition"),
            }
        }
        Box::pin(async move {
            join_all(pending).await;
        })
    }
}

impl Handler<Assign> for Router {
    type Result = ();

    fn handle(&mut self, Assign(partitions): Assign, _ctx: &mut Self::Context) {
        self.shared.health.set_assigned(&partitions);
        for partition in partitions {
            if !self.partitions.contains_key(&partition) {
                let actor = self.start_partition(partition);
                self.partitions.insert(partition, actor);
            }
        }
        self.shared.metrics.assigned_partitions.set(self.partitions.len() as i64);
    }
}

impl Handler<RevokeAll> for Router {
    type Result = ResponseFuture<Result<(), SinkError>>;

    fn handle(&mut self, RevokeAll { commit }: RevokeAll, _ctx: &mut Self::Context) -> Self::Result {
        let stopping: Vec<_> = self.partitions.drain().map(|(_, actor)| actor.send(Stop)).collect();
        self.shared.metrics.assigned_partitions.set(0);
        self.shared.health.set_rebalancing();
        let sink = self.shared.sink.clone();
        Box::pin(async move {
            // Each actor answers Stop only after it enqueued all its outputs to the sink, so the
            // commit below covers everything processed for the revoked partitions.
            join_all(stopping).await;
            let committed = if commit { sink.send(Commit).await.unwrap_or(Err(SinkError::Stopped)) } else { Ok(()) };
            // No partition state is left, so nothing computed from an aborted transaction can
            // reach the sink any more: the next assignment restores from the changelog and
            // consumes from the committed offsets, which is what a rewind would do.
            let _ = sink.send(Reset).await;
            committed
        })
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
