//! The clock that deadlines are checked against, per partition.
//!
//! Wall-clock time alone would expire messages whose responses are still in a consumer backlog
//! (after an outage, or when a benchmark preloads input). Record time alone would never expire
//! anything once the gateway goes quiet. So each input topic contributes its newest record
//! timestamp while its records flow, and the wall clock once it is idle (caught up); the slower
//! topic decides, as a response may still be behind in it.

/// One input topic's progress within a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputProgress {
    /// The newest record timestamp processed from this topic (0 if none).
    pub newest_record_ms: i64,
    /// No record arrived for a while: the topic is caught up.
    pub idle: bool,
}

/// The partition's clock in milliseconds since the epoch.
pub fn partition_clock(wall_ms: i64, inputs: &[InputProgress]) -> i64 {
    inputs
        .iter()
        .map(|input| if input.idle { wall_ms.max(input.newest_record_ms) } else { input.newest_record_ms })
        .min()
        .unwrap_or(wall_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALL: i64 = 10_000_000;

    fn flowing(ms: i64) -> InputProgress {
        InputProgress { newest_record_ms: ms, idle: false }
    }

    fn idle(ms: i64) -> InputProgress {
        InputProgress { newest_record_ms: ms, idle: true }
    }

    #[test]
    fn a_backlog_holds_the_clock_at_its_record_time() {
        assert_eq!(partition_clock(WALL, &[flowing(5_000), flowing(7_000)]), 5_000);
        assert_eq!(partition_clock(WALL, &[idle(9_000), flowing(7_000)]), 7_000, "responses still behind");
    }

    #[test]
    fn caught_up_inputs_follow_the_wall_clock() {
        assert_eq!(partition_clock(WALL, &[idle(5_000), idle(0)]), WALL);
        assert_eq!(partition_clock(WALL, &[idle(WALL + 50), idle(0)]), WALL, "the slower input decides");
    }
}
