//! The liveness watchdog: `/healthz` fails when input waits and nothing commits for longer than
//! `--stall-timeout-seconds`, so Kubernetes restarts a stuck pod, and never during a long restore
//! with input waiting. The faults (a commit that never returns, a slow restore) exist only in
//! the `sms-tracker-faults` test binary.

#![cfg(feature = "fault-injection")]

mod support;

use std::time::{Duration, Instant};

use support::{DEADLINE, LoadGen, Scenario, Tracker, wait_for};

/// The consumer's lag is a sign of waiting input only as fresh as librdkafka's statistics: the
/// stall timeouts here are short, so the statistics come more often than by default.
const FRESH_LAG: &str = "--kafka-property=statistics.interval.ms=500";

fn healthz(tracker: &Tracker) -> Option<(u16, String)> {
    tracker.http_get("/healthz")
}

#[test]
fn a_frozen_pipeline_fails_healthz_and_a_replacement_finishes_its_work() {
    let s = Scenario::new("watchdog-freeze");
    s.create_inputs(4, 4);
    let tracker = Tracker::start_with_faults(
        &s,
        &["--fault-freeze-after-commits", "30", "--stall-timeout-seconds", "3", FRESH_LAG],
    );
    assert_eq!(healthz(&tracker).map(|(code, _)| code), Some(200), "healthy before the freeze");
    let mut loadgen = LoadGen::spawn(&s, 20_000, 4_000, &["--invalid-share", "0.01"]);
    let prefix = loadgen.id_prefix.clone();

    wait_for("the pipeline to freeze", DEADLINE, || tracker.logs().contains("freezing the pipeline").then_some(()));
    assert!(!loadgen.finished(), "the freeze landed while the gateway was still writing");
    let frozen_at = Instant::now();
    let (_, body) = wait_for("/healthz to fail", DEADLINE, || healthz(&tracker).filter(|(code, _)| *code == 503));
    assert!(body.contains("stalled"), "says why: {body}");
    assert!(frozen_at.elapsed() < Duration::from_secs(30), "noticed within the timeout and a statistics interval");
    assert!(tracker.metric("sms_tracker_stalled_seconds").unwrap_or(0.0) > 0.0, "and the metric shows it");

    // As the kubelet would after the liveness probe failed: the replacement finishes the work.
    tracker.sigkill();
    let replacement = Tracker::start(&s, &[]);
    let summary = loadgen.wait();
    support::assert_exactly_once(&s, &summary, &prefix);
    assert_eq!(healthz(&replacement).map(|(code, _)| code), Some(200));
}

#[test]
fn a_long_restore_with_input_waiting_is_no_stall() {
    let s = Scenario::new("watchdog-restore");
    s.create_inputs(2, 2);
    // A backlog waits before the tracker starts, so its input lags throughout the restore.
    let loadgen = LoadGen::spawn(&s, 20_000, 0, &[]);
    let prefix = loadgen.id_prefix.clone();
    let summary = loadgen.wait();
    let stall_timeout = Duration::from_secs(2);
    let faults = ["--fault-restore-delay-ms", "9000", "--stall-timeout-seconds", "2", FRESH_LAG];
    let tracker = Tracker::spawn_with_faults(&s, &faults);

    // The whole backlog waits while the partitions restore: the records the source has handed
    // to the restoring partition actors, and the rest behind them, are work that is not moving.
    let started = Instant::now();
    let mut probes_while_restoring = 0;
    let restored_after = loop {
        assert!(started.elapsed() < DEADLINE, "the tracker never became ready");
        if let Some((code, body)) = healthz(&tracker) {
            assert_eq!(code, 200, "no stall during a restore: {body}");
            let restoring = tracker.metric("sms_tracker_partitions_restoring").unwrap_or(0.0);
            if restoring > 0.0 {
                probes_while_restoring += 1;
            }
            // Nothing moves while both partitions restore. (Once one has restored it processes and
            // commits its share while the other may still restore for a moment: seen once.)
            if restoring >= 2.0 {
                assert_eq!(tracker.metric("sms_tracker_transactions_total{result=\"committed\"}").unwrap_or(0.0), 0.0);
            }
            if tracker.http_get("/readyz").map(|(code, _)| code) == Some(200) {
                break started.elapsed();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(restored_after > 3 * stall_timeout, "the restore outlasted the stall timeout ({restored_after:?})");
    assert!(probes_while_restoring > 20, "/healthz was probed throughout the restore ({probes_while_restoring})");

    support::assert_exactly_once(&s, &summary, &prefix);
    assert_eq!(healthz(&tracker).map(|(code, _)| code), Some(200), "healthy once the backlog is processed");
}
