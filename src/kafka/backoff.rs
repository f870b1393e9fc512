//! Retrying while the broker is away: exponential backoff with a deadline, shared by the sink's
//! transactional calls, the rewind after an abort and the state restore. Past the deadline the
//! caller gives up and the process exits, so that the orchestrator restarts it and reports it.

use std::time::{Duration, Instant};

/// How long a broker may be unreachable before the tracker gives up.
pub const BROKER_OUTAGE_LIMIT: Duration = Duration::from_secs(300);

const FIRST_DELAY: Duration = Duration::from_millis(100);
const LONGEST_DELAY: Duration = Duration::from_secs(5);

/// Delays between attempts: 100 ms, doubling up to 5 s, until `limit` has passed since the start.
#[derive(Debug)]
pub struct Backoff {
    started: Instant,
    limit: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(limit: Duration) -> Self {
        Self { started: Instant::now(), limit, next: FIRST_DELAY }
    }

    /// The delay before the next attempt, or `None` once the limit has passed.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.started.elapsed() >= self.limit {
            return None;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST_DELAY);
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_five_seconds() {
        let mut backoff = Backoff::new(Duration::from_secs(60));
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay().unwrap().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn gives_up_once_the_limit_has_passed() {
        let mut backoff = Backoff::new(Duration::ZERO);
        assert_eq!(backoff.next_delay(), None);
    }
}
