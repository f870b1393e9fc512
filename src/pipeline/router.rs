//! The router: owns the stages' actors (per assigned partition: the messages' partition actor and,
//! with receipt tracking, the receipt join; per delivery-reports partition the receipt intake),
//! creates them when partitions are assigned, dispatches consumed batches to them, and on
//! revocation drains them and commits before they stop.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use futures::future::join_all;

use futures::FutureExt;

use super::context::StageContext;
use super::lookups::{PartitionLookups, SharedPartition};
use super::messages::{Assign, Commit, Dispatch, Process, Reset, RevokeAll, SinkError, Stop};
use super::partition::PartitionActor;
use super::receipt_intake::ReceiptIntake;
use super::receipt_join::ReceiptJoinActor;
use crate::domain::{InputTopic, PartitionState};
use crate::kafka::records::InputRecord;

/// Which stage handles a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stage {
    Messages,
    ReceiptJoin,
    ReceiptIntake,
}

impl Stage {
    fn of(input: InputTopic) -> Self {
        match input {
            InputTopic::SentMessages | InputTopic::SubmitResponses | InputTopic::MatchedReceipts => Self::Messages,
            InputTopic::ReceiptIndex | InputTopic::ReceiptsById => Self::ReceiptJoin,
            InputTopic::DeliveryReports => Self::ReceiptIntake,
        }
    }
}

/// One assigned partition's actor of any stage.
enum StageActor {
    /// With its state, which lookups read.
    Messages(Addr<PartitionActor>, Arc<SharedPartition>),
    ReceiptJoin(Addr<ReceiptJoinActor>),
    ReceiptIntake(Addr<ReceiptIntake>),
}

impl StageActor {
    fn process(&self, records: Vec<InputRecord>) -> futures::future::BoxFuture<'static, ()> {
        match self {
            StageActor::Messages(actor, _) => Box::pin(actor.send(Process(records)).map(|_| ())),
            StageActor::ReceiptJoin(actor) => Box::pin(actor.send(Process(records)).map(|_| ())),
            StageActor::ReceiptIntake(actor) => Box::pin(actor.send(Process(records)).map(|_| ())),
        }
    }

    fn stop(&self) -> futures::future::BoxFuture<'static, ()> {
        match self {
            StageActor::Messages(actor, _) => Box::pin(actor.send(Stop).map(|_| ())),
            StageActor::ReceiptJoin(actor) => Box::pin(actor.send(Stop).map(|_| ())),
            StageActor::ReceiptIntake(actor) => Box::pin(actor.send(Stop).map(|_| ())),
        }
    }
}

pub struct Router {
    actors: HashMap<(Stage, i32), StageActor>,
    workers: Vec<ArbiterHandle>,
    next_worker: usize,
    shared: StageContext,
    /// Where the API finds the messages' partition states.
    lookups: Arc<PartitionLookups>,
}

impl Router {
    pub fn new(workers: Vec<ArbiterHandle>, shared: StageContext, lookups: Arc<PartitionLookups>) -> Self {
        Self { actors: HashMap::new(), workers, next_worker: 0, shared, lookups }
    }

    /// Tells the API which messages' partition states exist now.
    fn publish_lookups(&self) {
        let assigned = self
            .actors
            .iter()
            .filter_map(|((_, partition), actor)| match actor {
                StageActor::Messages(_, state) => Some((*partition, state.clone())),
                _ => None,
            })
            .collect();
        self.lookups.publish(assigned);
    }

    /// Starts a partition's actor of `stage` on the next worker thread.
    fn start(&mut self, stage: Stage, partition: i32) -> StageActor {
        let worker = &self.workers[self.next_worker % self.workers.len()];
        self.next_worker += 1;
        let shared = self.shared.clone();
        match stage {
            Stage::Messages => {
                let state = Arc::new(SharedPartition::new(PartitionState::new(shared.policy.clone())));
                let actor_state = state.clone();
                let actor = PartitionActor::start_in_arbiter(worker, move |ctx| {
                    ctx.set_mailbox_capacity(super::UNBOUNDED_MAILBOX);
                    PartitionActor::new(partition, shared, actor_state)
                });
                StageActor::Messages(actor, state)
            }
            Stage::ReceiptJoin => StageActor::ReceiptJoin(ReceiptJoinActor::start_in_arbiter(worker, move |ctx| {
                ctx.set_mailbox_capacity(super::UNBOUNDED_MAILBOX);
                ReceiptJoinActor::new(partition, shared)
            })),
            Stage::ReceiptIntake => StageActor::ReceiptIntake(ReceiptIntake::start_in_arbiter(worker, move |ctx| {
                ctx.set_mailbox_capacity(super::UNBOUNDED_MAILBOX);
                ReceiptIntake::new(partition, shared)
            })),
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;
}

impl Handler<Dispatch> for Router {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Dispatch(records): Dispatch, _ctx: &mut Self::Context) -> Self::Result {
        let mut by_actor: HashMap<(Stage, i32), Vec<InputRecord>> = HashMap::new();
        for record in records {
            by_actor.entry((Stage::of(record.source), record.partition)).or_default().push(record);
        }
        let mut pending = Vec::with_capacity(by_actor.len());
        for (key, records) in by_actor {
            match self.actors.get(&key) {
                // Enqueued now, in order; the returned future only waits for completion.
                Some(actor) => pending.push(actor.process(records)),
                // Not ours (any more): its offsets are never committed here, so its owner will
                // consume these records again. Nothing is lost by dropping them.
                None => {
                    tracing::warn!(stage = ?key.0, partition = key.1, records = records.len(), "Dropping records of unassigned partition")
                }
            }
        }
        Box::pin(async move {
            join_all(pending).await;
        })
    }
}

impl Handler<Assign> for Router {
    type Result = ();

    fn handle(&mut self, Assign(assignment): Assign, _ctx: &mut Self::Context) {
        let receipts = self.shared.topics.receipts_on();
        // With receipts each partition has two states to restore: the messages' and the join's.
        self.shared.health.set_assigned(&assignment.partitions, if receipts { 2 } else { 1 });
        let mut wanted: Vec<(Stage, i32)> = assignment.partitions.iter().map(|p| (Stage::Messages, *p)).collect();
        if receipts {
            wanted.extend(assignment.partitions.iter().map(|p| (Stage::ReceiptJoin, *p)));
            wanted.extend(assignment.delivery_reports.iter().map(|p| (Stage::ReceiptIntake, *p)));
        }
        for (stage, partition) in wanted {
            if !self.actors.contains_key(&(stage, partition)) {
                let actor = self.start(stage, partition);
                self.actors.insert((stage, partition), actor);
            }
        }
        self.shared.metrics.assigned_partitions.set(assignment.partitions.len() as i64);
        self.publish_lookups();
    }
}

impl Handler<RevokeAll> for Router {
    type Result = ResponseFuture<Result<(), SinkError>>;

    fn handle(&mut self, RevokeAll { commit }: RevokeAll, _ctx: &mut Self::Context) -> Self::Result {
        let stopping: Vec<_> = self.actors.drain().map(|(_, actor)| actor.stop()).collect();
        self.publish_lookups();
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
