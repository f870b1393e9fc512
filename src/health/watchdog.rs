//! The liveness rule: a pipeline is stuck when work waits and nothing commits. Kubernetes restarts
//! a pod whose `/healthz` fails, so the rule must never fire on a pipeline that is slow for a
//! reason a restart would not cure; [`super::Health`] exempts restores and broker outages (each
//! has its own bound) before asking this.

use std::time::{Duration, Instant};

/// Where work can wait. Each is reported by the stage that sees it; any one is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Input not yet consumed, as of the consumer's latest statistics (which arrive only while
    /// the source polls, hence the other two).
    Lagging = 0,
    /// Records handed to the partition actors and not yet processed.
    Dispatched = 1,
    /// Processed input in an open, not yet committed transaction.
    Uncommitted = 2,
}

/// A stall: how long, and which work waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub waited: Duration,
    pub waiting: Vec<Work>,
}

/// Work waiting and the last sign of progress; times come from the caller so the rule is testable.
#[derive(Debug)]
pub struct Watchdog {
    timeout: Duration,
    waiting: [bool; 3],
    /// When the current wait began: work appeared, or the last progress, whichever is later.
    waiting_since: Instant,
}

impl Watchdog {
    pub fn new(timeout: Duration, now: Instant) -> Self {
        Self { timeout, waiting: [false; 3], waiting_since: now }
    }

    pub fn set(&mut self, work: Work, waiting: bool, now: Instant) {
        let had_work = self.has_work();
        self.waiting[work as usize] = waiting;
        if !had_work && self.has_work() {
            // The wait starts when the work arrives, not at the last commit before an idle hour.
            self.waiting_since = now;
        }
    }

    /// A transaction committed, or the pipeline came back from something it was exempt during.
    pub fn progressed(&mut self, now: Instant) {
        self.waiting_since = now;
    }

    /// How long work has waited without progress, once that is longer than the timeout, and where.
    pub fn stalled_for(&self, now: Instant) -> Option<Stall> {
        let waited = now.saturating_duration_since(self.waiting_since);
        (self.has_work() && waited > self.timeout).then(|| Stall { waited, waiting: self.waiting_work() })
    }

    fn waiting_work(&self) -> Vec<Work> {
        [Work::Lagging, Work::Dispatched, Work::Uncommitted].into_iter().filter(|w| self.waiting[*w as usize]).collect()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn has_work(&self) -> bool {
        self.waiting.iter().any(|waiting| *waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(60);

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn waiting_work_without_a_commit_for_longer_than_the_timeout_is_a_stall() {
        let start = Instant::now();
        let mut watchdog = Watchdog::new(TIMEOUT, start);
        watchdog.set(Work::Lagging, true, start);
        assert_eq!(watchdog.stalled_for(at(start, 60)), None, "not longer than the timeout yet");
        let stall = Stall { waited: Duration::from_secs(61), waiting: vec![Work::Lagging] };
        assert_eq!(watchdog.stalled_for(at(start, 61)), Some(stall));
        watchdog.progressed(at(start, 61));
        assert_eq!(watchdog.stalled_for(at(start, 100)), None, "a commit restarts the wait");
    }

    #[test]
    fn an_idle_pipeline_is_never_stalled_and_new_work_starts_a_fresh_wait() {
        let start = Instant::now();
        let mut watchdog = Watchdog::new(TIMEOUT, start);
        assert_eq!(watchdog.stalled_for(at(start, 3600)), None, "no work, no stall");
        watchdog.set(Work::Uncommitted, true, at(start, 3600));
        assert_eq!(watchdog.stalled_for(at(start, 3601)), None, "the wait began when the work came");
        assert!(watchdog.stalled_for(at(start, 3661)).is_some());
    }

    #[test]
    fn uncommitted_work_keeps_the_wait_going_when_the_lag_is_gone() {
        let start = Instant::now();
        let mut watchdog = Watchdog::new(TIMEOUT, start);
        watchdog.set(Work::Lagging, true, start);
        watchdog.set(Work::Uncommitted, true, at(start, 1));
        watchdog.set(Work::Lagging, false, at(start, 2));
        assert!(watchdog.stalled_for(at(start, 61)).is_some(), "consumed but never committed is stuck too");
        watchdog.set(Work::Uncommitted, false, at(start, 62));
        assert_eq!(watchdog.stalled_for(at(start, 62)), None);
        watchdog.set(Work::Lagging, true, at(start, 62));
        assert_eq!(watchdog.stalled_for(at(start, 100)), None, "work that ended and came back waits afresh");
    }
}
