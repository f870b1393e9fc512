//! Token-bucket pacing for `--rate`, so a load test can hold a steady records/s instead of
//! bursting as fast as the broker accepts. The bucket holds at most 50 ms worth of tokens: enough
//! to absorb scheduling jitter without letting a stall turn into a burst.

use std::thread;
use std::time::{Duration, Instant};

pub struct Pacer {
    /// Tokens (records) per second.
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// `None` for rate 0, which means unlimited.
    pub fn new(rate: u64, now: Instant) -> Option<Self> {
        if rate == 0 {
            return None;
        }
        let rate = rate as f64;
        let burst = (rate / 20.0).max(1.0);
        Some(Self { rate, burst, tokens: burst, last: now })
    }

    /// Takes a token if one is available at `now` and returns zero; otherwise returns how long to
    /// wait until one will be, taking nothing.
    pub fn try_take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }

    /// Blocks until the next record may be sent.
    pub fn wait(&mut self) {
        loop {
            let delay = self.try_take(Instant::now());
            if delay.is_zero() {
                return;
            }
            thread::sleep(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_is_unlimited() {
        assert!(Pacer::new(0, Instant::now()).is_none());
    }

    #[test]
    fn allows_a_small_burst_then_paces_at_the_rate() {
        let start = Instant::now();
        let mut pacer = Pacer::new(1000, start).unwrap();
        // 50 ms worth of tokens up front.
        for _ in 0..50 {
            assert_eq!(pacer.try_take(start), Duration::ZERO);
        }
        let wait = pacer.try_take(start);
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(1), "{wait:?}");
        // Over one simulated second exactly `rate` more records go through.
        let sent = (1..=1000).filter(|ms| pacer.try_take(start + Duration::from_millis(*ms)).is_zero()).count();
        assert_eq!(sent, 1000);
    }

    #[test]
    fn an_idle_period_does_not_build_up_more_than_the_burst() {
        let start = Instant::now();
        let mut pacer = Pacer::new(100, start).unwrap();
        let later = start + Duration::from_secs(60);
        let burst = (0..100).take_while(|_| pacer.try_take(later).is_zero()).count();
        assert_eq!(burst, 5);
    }

    #[test]
    fn wait_holds_the_rate() {
        let mut pacer = Pacer::new(200, Instant::now()).unwrap();
        let start = Instant::now();
        for _ in 0..30 {
            pacer.wait();
        }
        // 10 burst tokens, then 20 at 5 ms each.
        assert!(start.elapsed() >= Duration::from_millis(95), "{:?}", start.elapsed());
    }
}
