//! Lookups of one message's state for the API, read on the API's own thread. Each messages'
//! partition actor keeps its state in a [`SharedPartition`] and locks it for one record at a
//! time; the router publishes the assigned partitions' here whenever the assignment changes. A
//! lookup so waits for at most one record, not for the batch in the actor's hands, and wakes no
//! other thread (docs/BENCHMARKS.md, "Lookups").
//!
//! Consistency: a lookup sees every record the partition actor has applied, and every committed
//! status was applied before its commit, so a lookup is never behind `message-status` (README,
//! "Looking up a message").

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use super::messages::{Answer, LookupAnswer};
use crate::domain::PartitionState;
use crate::domain::supplier_id::partition_for;
use crate::domain::view::view;

/// One messages' partition: its state, changed by its actor and read by lookups, and how far the
/// actor has come.
pub struct SharedPartition {
    state: Mutex<PartitionState>,
    phase: AtomicU8,
}

/// Where a partition actor is, for lookups.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Phase {
    Restoring,
    Serving,
    /// Its state could not be read back: nothing of it is processed.
    FailedClosed,
    Stopped,
}

impl SharedPartition {
    pub fn new(state: PartitionState) -> Self {
        Self { state: Mutex::new(state), phase: AtomicU8::new(Phase::Restoring as u8) }
    }

    /// The state, for as short a time as possible: a lookup waits meanwhile.
    pub fn lock(&self) -> MutexGuard<'_, PartitionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Restoring,
            1 => Phase::Serving,
            2 => Phase::FailedClosed,
            _ => Phase::Stopped,
        }
    }

    fn answer(&self, id: &str) -> Answer {
        match self.phase() {
            Phase::Restoring => Answer::Restoring,
            Phase::FailedClosed => Answer::FailedClosed,
            Phase::Stopped => Answer::Stopped,
            Phase::Serving => {
                let state = self.lock();
                match state.get(id) {
                    Some(entry) => Answer::Found(Box::new(view(entry, state.policy()))),
                    None => Answer::Unknown,
                }
            }
        }
    }
}

pub struct PartitionLookups {
    /// The input topics' partition count: the gateway's partitioner maps ids onto it.
    partitions: i32,
    assigned: RwLock<HashMap<i32, Arc<SharedPartition>>>,
    /// How many times the router has published: see [`Self::assignments_seen`].
    publications: AtomicU64,
}

impl PartitionLookups {
    pub fn new(partitions: i32) -> Self {
        Self { partitions, assigned: RwLock::new(HashMap::new()), publications: AtomicU64::new(0) }
    }

    /// Replaces the published partitions with the router's current ones.
    pub(super) fn publish(&self, assigned: HashMap<i32, Arc<SharedPartition>>) {
        *self.assigned.write().unwrap_or_else(PoisonError::into_inner) = assigned;
        self.publications.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever this instance's assignment does. The group's rebalances are eager (every
    /// member gives up all its partitions and gets an assignment again), so every new generation
    /// of the group changes it on every member: what was learned of other members' partitions
    /// while it had another value is of an older generation.
    pub fn assignments_seen(&self) -> u64 {
        self.publications.load(Ordering::Acquire)
    }

    /// What the partition owning `id` (by the gateway's partitioner) holds of it here.
    pub fn lookup(&self, id: &str) -> LookupAnswer {
        let partition = partition_for(id.as_bytes(), self.partitions);
        let shared = self.assigned.read().unwrap_or_else(PoisonError::into_inner).get(&partition).cloned();
        let answer = match shared {
            None => Answer::NotAssigned,
            Some(shared) => shared.answer(id),
        };
        LookupAnswer { partition, answer }
    }
}

#[cfg(test)]
#[path = "lookups_tests.rs"]
mod tests;
