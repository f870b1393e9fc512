//! What `/healthz` and `/readyz` report, shared between the pipeline and the HTTP server.

use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;

/// Liveness and readiness of this instance.
#[derive(Debug, Default)]
pub struct Health {
    joined: AtomicBool,
    shutting_down: AtomicBool,
    broker_unavailable: AtomicBool,
    /// Assigned partitions and whether each is ready to process (restored).
    partitions: DashMap<i32, bool>,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a new assignment, each partition not ready until restored; an assignment (even an
    /// empty one) means the group was joined.
    pub fn set_assigned(&self, partitions: &[i32]) {
        self.partitions.clear();
        for partition in partitions {
            self.partitions.insert(*partition, false);
        }
        self.joined.store(true, Ordering::Release);
    }

    pub fn set_partition_ready(&self, partition: i32) {
        if let Some(mut ready) = self.partitions.get_mut(&partition) {
            *ready = true;
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

    /// Ready: joined the group, every assigned partition ready, the broker answering, and not
    /// shutting down.
    pub fn is_ready(&self) -> bool {
        self.joined.load(Ordering::Acquire)
            && !self.shutting_down.load(Ordering::Acquire)
            && !self.broker_unavailable()
            && self.partitions.iter().all(|p| *p.value())
    }

    pub fn assigned(&self) -> Vec<i32> {
        let mut partitions: Vec<i32> = self.partitions.iter().map(|p| *p.key()).collect();
        partitions.sort_unstable();
        partitions
    }
}
