//! What `/healthz` and `/readyz` report, shared between the pipeline and the HTTP server.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Liveness and readiness of this instance.
#[derive(Debug, Default)]
pub struct Health {
    shutting_down: AtomicBool,
    broker_unavailable: AtomicBool,
    /// Replaced whole under the lock, so a reader never sees half an assignment.
    assignment: Mutex<Assignment>,
}

#[derive(Debug, Default)]
enum Assignment {
    /// Not a group member yet.
    #[default]
    NotJoined,
    /// Partitions given up, the next assignment not yet known.
    Rebalancing,
    /// Assigned partitions and how many of each one's states are still restoring (the message
    /// state, and with receipt tracking the receipt join's).
    Assigned(BTreeMap<i32, u8>),
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a new assignment, each partition not ready until its `restores` states are.
    pub fn set_assigned(&self, partitions: &[i32], restores: u8) {
        let partitions = partitions.iter().map(|p| (*p, restores)).collect();
        *self.lock() = Assignment::Assigned(partitions);
    }

    /// Every partition was given up; until the next assignment this instance processes nothing.
    pub fn set_rebalancing(&self) {
        *self.lock() = Assignment::Rebalancing;
    }

    /// One of the partition's states is restored.
    pub fn set_partition_ready(&self, partition: i32) {
        if let Assignment::Assigned(partitions) = &mut *self.lock()
            && let Some(restoring) = partitions.get_mut(&partition)
        {
            *restoring = restoring.saturating_sub(1);
        }
    }

    /// Set while transactional calls are being retried because the broker does not answer.
    pub fn set_broker_unavailable(&self, unavailable: bool) {
        self.broker_unavailable.store(unavailable, Ordering::Release);
    }

    pub fn broker_unavailable(&self) -> bool {
        self.broker_unavailable.load(Ordering::Acquire)
    }

    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Ready: at least one partition assigned and every assigned partition restored, the broker
    /// answering, and not shutting down. An instance without partitions does no work, so it is
    /// not ready either (the chart keeps replicas at most the partition count).
    pub fn is_ready(&self) -> bool {
        let assigned_and_restored = match &*self.lock() {
            Assignment::Assigned(partitions) => !partitions.is_empty() && partitions.values().all(|r| *r == 0),
            Assignment::NotJoined | Assignment::Rebalancing => false,
        };
        assigned_and_restored && !self.shutting_down.load(Ordering::Acquire) && !self.broker_unavailable()
    }

    pub fn assigned(&self) -> Vec<i32> {
        match &*self.lock() {
            Assignment::Assigned(partitions) => partitions.keys().copied().collect(),
            Assignment::NotJoined | Assignment::Rebalancing => Vec::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Assignment> {
        // The lock guards plain data; a panic elsewhere cannot leave it inconsistent.
        self.assignment.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_once_every_assigned_partition_is_restored() {
        let health = Health::new();
        assert!(!health.is_ready(), "not joined");
        health.set_assigned(&[0, 1], 1);
        assert!(!health.is_ready());
        health.set_partition_ready(0);
        assert!(!health.is_ready(), "half restored");
        health.set_partition_ready(1);
        assert!(health.is_ready());
        assert_eq!(health.assigned(), vec![0, 1]);
    }

    #[test]
    fn never_ready_on_an_empty_or_changing_assignment() {
        let health = Health::new();
        health.set_assigned(&[], 1);
        assert!(!health.is_ready(), "empty assignment");
        health.set_assigned(&[3], 1);
        health.set_partition_ready(3);
        assert!(health.is_ready());
        health.set_rebalancing();
        assert!(!health.is_ready(), "between revoke and assign");
        health.set_partition_ready(3);
        assert!(!health.is_ready(), "a late restore of a revoked partition changes nothing");
        health.set_assigned(&[3, 4], 1);
        health.set_partition_ready(3);
        assert!(!health.is_ready(), "a partition restored in an earlier assignment is restored again");
    }

    #[test]
    fn with_receipts_a_partition_is_ready_once_both_of_its_states_are() {
        let health = Health::new();
        health.set_assigned(&[0], 2);
        health.set_partition_ready(0);
        assert!(!health.is_ready());
        health.set_partition_ready(0);
        assert!(health.is_ready());
    }

    #[test]
    fn readers_never_see_half_an_assignment() {
        let health = std::sync::Arc::new(Health::new());
        let partitions: Vec<i32> = (0..64).collect();
        let writer = {
            let health = health.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    health.set_rebalancing();
                    health.set_assigned(&partitions, 1);
                }
            })
        };
        while !writer.is_finished() {
            let seen = health.assigned().len();
            assert!(seen == 0 || seen == 64, "saw {seen} of 64 partitions");
            assert!(!health.is_ready());
        }
        writer.join().unwrap();
    }

    #[test]
    fn not_ready_while_the_broker_is_away_or_shutting_down() {
        let health = Health::new();
        health.set_assigned(&[0], 1);
        health.set_partition_ready(0);
        health.set_broker_unavailable(true);
        assert!(!health.is_ready());
        health.set_broker_unavailable(false);
        assert!(health.is_ready());
        health.set_shutting_down();
        assert!(!health.is_ready());
    }
}
