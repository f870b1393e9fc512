//! What `/healthz` and `/readyz` report, shared between the pipeline and the HTTP server.

mod watchdog;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::domain::InputTopic;
use watchdog::Watchdog;
pub use watchdog::{Stall, Work};

/// Liveness and readiness of this instance.
#[derive(Debug)]
pub struct Health {
    shutting_down: AtomicBool,
    broker_unavailable: AtomicBool,
    /// Replaced whole under the lock, so a reader never sees half an assignment.
    assignment: Mutex<Assignment>,
    watchdog: Mutex<Watchdog>,
}

#[derive(Debug, Default)]
enum Assignment {
    /// Not a group member yet.
    #[default]
    NotJoined,
    /// Partitions given up, the next assignment not yet known.
    Rebalancing,
    /// Assigned partitions: how many of each one's states are still restoring (the message state,
    /// and with receipt tracking the receipt join's), and those whose state was unreadable.
    Assigned { restoring: BTreeMap<i32, u8>, failed_closed: BTreeSet<i32> },
}

impl Health {
    /// `stall_timeout`: how long work may wait without a commit before `/healthz` fails.
    pub fn new(stall_timeout: Duration) -> Self {
        Self {
            shutting_down: AtomicBool::new(false),
            broker_unavailable: AtomicBool::new(false),
            assignment: Mutex::new(Assignment::NotJoined),
            watchdog: Mutex::new(Watchdog::new(stall_timeout, Instant::now())),
        }
    }

    /// Records a new assignment, each partition not ready until its `restores` states are.
    pub fn set_assigned(&self, partitions: &[i32], restores: u8) {
        let restoring = partitions.iter().map(|p| (*p, restores)).collect();
        *self.lock() = Assignment::Assigned { restoring, failed_closed: BTreeSet::new() };
        self.watchdog().progressed(Instant::now());
    }

    /// Every partition was given up; until the next assignment this instance processes nothing.
    pub fn set_rebalancing(&self) {
        *self.lock() = Assignment::Rebalancing;
    }

    /// One of the partition's states is restored.
    pub fn set_partition_ready(&self, partition: i32) {
        if let Assignment::Assigned { restoring, .. } = &mut *self.lock()
            && let Some(restoring) = restoring.get_mut(&partition)
        {
            *restoring = restoring.saturating_sub(1);
        }
        self.watchdog().progressed(Instant::now());
    }

    /// The partition's state is unreadable: it stays not ready and processes nothing, which a
    /// restart would not cure, so its waiting input is no stall.
    pub fn set_partition_failed_closed(&self, partition: i32) {
        if let Assignment::Assigned { failed_closed, .. } = &mut *self.lock() {
            failed_closed.insert(partition);
        }
    }

    /// Set while transactional calls are being retried because the broker does not answer.
    pub fn set_broker_unavailable(&self, unavailable: bool) {
        let was = self.broker_unavailable.swap(unavailable, Ordering::AcqRel);
        if was && !unavailable {
            self.watchdog().progressed(Instant::now());
        }
    }

    /// The consumer's lag per input partition; a failed-closed partition's inputs do not count.
    pub fn set_input_lag(&self, lags: impl IntoIterator<Item = (InputTopic, i32, i64)>) {
        let lagging = {
            let assignment = self.lock();
            let failed_closed = |input: InputTopic, partition: i32| match &*assignment {
                Assignment::Assigned { failed_closed, .. } => {
                    input != InputTopic::DeliveryReports && failed_closed.contains(&partition)
                }
                Assignment::NotJoined | Assignment::Rebalancing => false,
            };
            lags.into_iter().any(|(input, partition, lag)| lag > 0 && !failed_closed(input, partition))
        };
        self.watchdog().set(Work::Lagging, lagging, Instant::now());
    }

    /// Set when a transaction with consumed input opens; cleared when it ends either way.
    pub fn set_uncommitted(&self, uncommitted: bool) {
        self.watchdog().set(Work::Uncommitted, uncommitted, Instant::now());
    }

    /// Set while records handed to the partition actors are not yet processed.
    pub fn set_dispatched(&self, dispatched: bool) {
        self.watchdog().set(Work::Dispatched, dispatched, Instant::now());
    }

    /// A transaction committed.
    pub fn committed(&self) {
        let mut watchdog = self.watchdog();
        watchdog.set(Work::Uncommitted, false, Instant::now());
        watchdog.progressed(Instant::now());
    }

    /// Stuck: input waits and nothing has committed for longer than the stall timeout, while no
    /// restore or broker outage (each bounded on its own) explains it. Returns how long.
    pub fn stalled_for(&self) -> Option<Stall> {
        if self.shutting_down.load(Ordering::Acquire) || self.broker_unavailable() || self.restoring() {
            return None;
        }
        self.watchdog().stalled_for(Instant::now())
    }

    pub fn stall_timeout(&self) -> Duration {
        self.watchdog().timeout()
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
            Assignment::Assigned { restoring, .. } => !restoring.is_empty() && restoring.values().all(|r| *r == 0),
            Assignment::NotJoined | Assignment::Rebalancing => false,
        };
        assigned_and_restored && !self.shutting_down.load(Ordering::Acquire) && !self.broker_unavailable()
    }

    pub fn assigned(&self) -> Vec<i32> {
        match &*self.lock() {
            Assignment::Assigned { restoring, .. } => restoring.keys().copied().collect(),
            Assignment::NotJoined | Assignment::Rebalancing => Vec::new(),
        }
    }

    /// A partition's state is still being restored (an unreadable one never will be).
    fn restoring(&self) -> bool {
        match &*self.lock() {
            Assignment::Assigned { restoring, failed_closed } => {
                restoring.iter().any(|(partition, r)| *r > 0 && !failed_closed.contains(partition))
            }
            Assignment::NotJoined | Assignment::Rebalancing => false,
        }
    }

    // The locks guard plain data; a panic elsewhere cannot leave it inconsistent.
    fn lock(&self) -> MutexGuard<'_, Assignment> {
        self.assignment.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn watchdog(&self) -> MutexGuard<'_, Watchdog> {
        self.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(60);

    #[test]
    fn ready_only_once_every_assigned_partition_is_restored() {
        let health = Health::new(STALL);
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
        let health = Health::new(STALL);
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
        let health = Health::new(STALL);
        health.set_assigned(&[0], 2);
        health.set_partition_ready(0);
        assert!(!health.is_ready());
        health.set_partition_ready(0);
        assert!(health.is_ready());
    }

    #[test]
    fn readers_never_see_half_an_assignment() {
        let health = std::sync::Arc::new(Health::new(STALL));
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
        let health = Health::new(STALL);
        health.set_assigned(&[0], 1);
        health.set_partition_ready(0);
        health.set_broker_unavailable(true);
        assert!(!health.is_ready());
        health.set_broker_unavailable(false);
        assert!(health.is_ready());
        health.set_shutting_down();
        assert!(!health.is_ready());
    }

    /// A health whose watchdog fires on any waiting work, and a moment later than now.
    fn impatient() -> Health {
        Health::new(Duration::ZERO)
    }

    fn later() {
        std::thread::sleep(Duration::from_millis(2));
    }

    #[test]
    fn stalled_when_work_waits_uncommitted_and_not_once_it_commits() {
        let health = impatient();
        health.set_assigned(&[0], 1);
        health.set_partition_ready(0);
        later();
        assert_eq!(health.stalled_for(), None, "no work waiting");
        health.set_uncommitted(true);
        later();
        assert!(health.stalled_for().is_some());
        health.committed();
        later();
        assert_eq!(health.stalled_for(), None);
        health.set_input_lag([(InputTopic::SentMessages, 0, 5)]);
        later();
        assert!(health.stalled_for().is_some(), "input waiting");
    }

    #[test]
    fn restores_broker_outages_and_shutdown_are_never_a_stall() {
        let health = impatient();
        health.set_assigned(&[0, 1], 1);
        health.set_partition_ready(0);
        health.set_input_lag([(InputTopic::SentMessages, 0, 5)]);
        later();
        assert_eq!(health.stalled_for(), None, "partition 1 is still restoring");
        health.set_partition_ready(1);
        later();
        assert!(health.stalled_for().is_some());
        health.set_broker_unavailable(true);
        assert_eq!(health.stalled_for(), None, "retrying a broker outage has its own bound");
        health.set_broker_unavailable(false);
        later();
        assert!(health.stalled_for().is_some());
        health.set_shutting_down();
        assert_eq!(health.stalled_for(), None);
    }

    #[test]
    fn a_failed_closed_partition_neither_counts_as_restoring_nor_as_waiting_input() {
        let health = impatient();
        health.set_assigned(&[0, 1], 1);
        health.set_partition_ready(0);
        health.set_partition_failed_closed(1);
        health.set_input_lag([(InputTopic::SentMessages, 1, 100), (InputTopic::SubmitResponses, 1, 100)]);
        later();
        assert_eq!(health.stalled_for(), None, "its input waits for an operator, not a restart");
        health.set_input_lag([(InputTopic::SentMessages, 1, 100), (InputTopic::SentMessages, 0, 1)]);
        later();
        assert!(health.stalled_for().is_some(), "the other partitions are still watched");
    }
}
