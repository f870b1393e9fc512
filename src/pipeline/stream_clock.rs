//! A stage's clock for deadlines: per input, the newest record time while its records flow, the
//! wall clock once it is idle; the slowest input decides (see [`partition_clock`]). Shared by
//! the partition actors and the receipt join.

use std::time::Duration;

use super::clock::Clock;
use crate::domain::InputTopic;
use crate::domain::clock::{InputProgress, partition_clock};

/// After this long without input the input is taken to be caught up, and follows the wall clock
/// instead of the record timestamps.
pub const IDLE_AFTER: Duration = Duration::from_secs(5);

pub struct StreamClock {
    inputs: Vec<InputTopic>,
    /// Per input (by [`InputTopic::index`]): the highest record timestamp seen, and when a
    /// record last arrived (monotonic).
    newest_ms: [i64; InputTopic::COUNT],
    last_record: [Duration; InputTopic::COUNT],
}

impl StreamClock {
    pub fn new(inputs: &[InputTopic], clock: &dyn Clock) -> Self {
        Self {
            inputs: inputs.to_vec(),
            newest_ms: [0; InputTopic::COUNT],
            last_record: [clock.monotonic(); InputTopic::COUNT],
        }
    }

    /// A record of `input` with this timestamp was processed at `monotonic`.
    pub fn record(&mut self, input: InputTopic, timestamp_ms: i64, monotonic: Duration) {
        let i = input.index();
        self.newest_ms[i] = self.newest_ms[i].max(timestamp_ms);
        self.last_record[i] = monotonic;
    }

    /// Counts idleness from now (after a restore, which took its own time).
    pub fn restart(&mut self, clock: &dyn Clock) {
        self.last_record = [clock.monotonic(); InputTopic::COUNT];
    }

    pub fn now_ms(&self, clock: &dyn Clock) -> i64 {
        let now = clock.monotonic();
        let inputs: Vec<InputProgress> = self
            .inputs
            .iter()
            .map(|input| InputProgress {
                newest_record_ms: self.newest_ms[input.index()],
                idle: now.saturating_sub(self.last_record[input.index()]) >= IDLE_AFTER,
            })
            .collect();
        partition_clock(clock.wall_ms(), &inputs)
    }
}
