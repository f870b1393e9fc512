//! Lookups of one message's state for the API, straight to the partition actor that holds it. The
//! router publishes its messages' partition actors here whenever the assignment changes; a lookup
//! then wakes the API's thread and the partition's, not the router's as well on the way there and
//! back (docs/BENCHMARKS.md, "Lookups").
//!
//! Consistency is unchanged: a lookup is queued in the partition actor's mailbox behind the
//! records the router handed it before, and every committed status was processed before its
//! commit, so a lookup is never behind `message-status` (README, "Looking up a message").

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use actix::Addr;

use super::messages::{Answer, LookupAnswer, Query};
use super::partition::PartitionActor;
use crate::domain::supplier_id::partition_for;
use crate::health::Health;

pub struct PartitionLookups {
    /// The input topics' partition count: the gateway's partitioner maps ids onto it.
    partitions: i32,
    health: Arc<Health>,
    actors: RwLock<HashMap<i32, Addr<PartitionActor>>>,
}

impl PartitionLookups {
    pub fn new(partitions: i32, health: Arc<Health>) -> Self {
        Self { partitions, health, actors: RwLock::new(HashMap::new()) }
    }

    /// Replaces the published actors with the router's current ones.
    pub(super) fn publish(&self, actors: HashMap<i32, Addr<PartitionActor>>) {
        *self.actors.write().unwrap_or_else(PoisonError::into_inner) = actors;
    }

    /// What the partition owning `id` (by the gateway's partitioner) holds of it here.
    pub fn lookup(&self, id: String) -> impl Future<Output = LookupAnswer> + 'static {
        let partition = partition_for(id.as_bytes(), self.partitions);
        let actor = self.actors.read().unwrap_or_else(PoisonError::into_inner).get(&partition).cloned();
        let restoring = self.health.partition_restoring(partition);
        async move {
            let answer = match actor {
                None => Answer::NotAssigned,
                Some(_) if restoring => Answer::Restoring,
                Some(actor) => actor.send(Query { id }).await.unwrap_or(Answer::Stopped),
            };
            LookupAnswer { partition, answer }
        }
    }
}
