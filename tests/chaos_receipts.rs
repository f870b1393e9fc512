//! Exactly once with delivery receipts flowing, under SIGKILL and rebalances: every message gets
//! SENT and then exactly its planned delivery outcome. Every fault is asserted to land while the
//! load generator is still writing input (and so while the receipt hops have work in flight), and
//! every counted kill inside a transaction, as its coordinator shows (a kill that fell between two
//! transactions is repeated).

mod support;

use std::time::Duration;

use support::{LoadGen, Receipts, Scenario, Tracker, assert_delivery_exactly_once, wait_for};

const STATUSES: [&str; 4] = ["SENT", "DELIVERED", "UNDELIVERED", "DELIVERY_UNKNOWN"];

/// Longer than a fault delays receipts here (a killed instance's open transaction blocks
/// read_committed readers for the transaction timeout, 10 s, then the partitions are restored),
/// so that the planned outcome, not DELIVERY_UNKNOWN, is what a receipt delayed by a fault gets.
const DELIVERY_TIMEOUT_SECONDS: u64 = 45;

/// Statuses this tracker process has published (committed) so far.
fn published(tracker: &Tracker) -> f64 {
    STATUSES
        .iter()
        .map(|s| tracker.metric(&format!(r#"sms_tracker_statuses_published_total{{status="{s}"}}"#)).unwrap_or(0.0))
        .sum()
}

/// Waits until `tracker` published `more` statuses, and asserts the input is still flowing.
fn progress_mid_stream(tracker: &Tracker, more: f64, loadgen: &mut LoadGen) {
    wait_for("the tracker to make progress", Duration::from_secs(180), || {
        assert!(!loadgen.finished(), "the input ended before the fault: it would not land mid-stream");
        (published(tracker) >= more).then_some(())
    });
}

/// Messages with receipts at a rate that keeps every hop busy, until the test stops the input
/// once its faults are done (however many rounds they took). The rate is moderate: after a kill
/// the restarted tracker catches up on the gateway's inputs faster than receipts cross their two
/// re-keyed hops, and receipts that fall behind by more than the delivery timeout become
/// DELIVERY_UNKNOWN (README, Guarantees).
fn streaming(s: &Scenario, receipts: &Receipts, shares: &[&'static str]) -> LoadGen {
    let mut extra = vec!["--invalid-share", "0.005", "--duplicate-share", "0.03"];
    extra.extend_from_slice(shares);
    LoadGen::spawn(s, 200_000, 4_000, &receipts.loadgen_args(&extra))
}

/// Every message gets a final receipt (nine in ten delivered), so no outcome depends on a timeout.
const ALL_FINAL: [&str; 4] = ["--delivered-share", "0.9", "--undelivered-share", "0.1"];

/// A delivery timeout none of the kill test's messages reaches.
const NO_TIMEOUT_SECONDS: u64 = 3_600;

/// Repeated kills, each followed by a restart that restores every stage and catches up: the
/// receipt hops can then fall behind by more than any delivery timeout short enough for a test
/// (README, Guarantees), so here every message gets a final receipt and no timeout is due; what
/// is checked is that each receipt's outcome is published exactly once across the kills.
/// DELIVERY_UNKNOWN under a kill is covered by the rebalance test below, under rewinds by the
/// abort test.
#[test]
fn sigkill_mid_stream_with_receipts_loses_and_duplicates_nothing() {
    let s = Scenario::new("chaos-receipts-kill");
    s.create_inputs(4, 4);
    let receipts = Receipts::create(&s, NO_TIMEOUT_SECONDS);
    let mut args = receipts.tracker_args();
    args.extend(["--static-membership", "--commit-interval-ms", "1000"]);
    let mut loadgen = streaming(&s, &receipts, &ALL_FINAL);
    let (mut rounds, mut kills) = (0, 0);
    while kills < 3 {
        rounds += 1;
        assert!(rounds <= 10, "only {kills} of {rounds} kills landed inside a transaction");
        let tracker = Tracker::start_instance(&s, "pod-0", &args);
        progress_mid_stream(&tracker, 1500.0, &mut loadgen);
        tracker.wait_for_more_processed(200.0);
        assert!(!loadgen.finished(), "the input ended before the kill: it would not land mid-stream");
        if tracker.sigkill_reporting_open_transaction(&s, "pod-0") {
            kills += 1;
        }
    }
    let last = Tracker::start_instance(&s, "pod-0", &args);
    progress_mid_stream(&last, 1000.0, &mut loadgen);
    let summary = loadgen.stop();
    assert_delivery_exactly_once(&s, &summary, last);
}

#[test]
fn rebalances_with_receipts_lose_and_duplicate_nothing() {
    let s = Scenario::new("chaos-receipts-rebalance");
    s.create_inputs(4, 4);
    let receipts = Receipts::create(&s, DELIVERY_TIMEOUT_SECONDS);
    let mut args = receipts.tracker_args();
    // Commits a second apart, so that a kill finds a transaction open (as in tests/chaos.rs).
    args.extend(["--commit-interval-ms", "1000"]);
    let mut loadgen = streaming(&s, &receipts, &[]);
    let a = Tracker::start_instance(&s, "pod-a", &args);
    let b = Tracker::start_instance(&s, "pod-b", &args);
    wait_for("both instances to hold partitions", Duration::from_secs(60), || {
        let holds = |t: &Tracker| t.http_get("/readyz").is_some_and(|(status, _)| status == 200);
        (holds(&a) && holds(&b)).then_some(())
    });
    progress_mid_stream(&a, 1000.0, &mut loadgen);
    a.wait_for_more_processed(200.0);
    assert!(!loadgen.finished(), "the input ended before the kill: it would not land mid-stream");
    let open = a.sigkill_reporting_open_transaction(&s, "pod-a");
    let survivor = published(&b);
    progress_mid_stream(&b, survivor + 1000.0, &mut loadgen);
    let c = Tracker::start_instance(&s, "pod-c", &args);
    progress_mid_stream(&c, 1.0, &mut loadgen);
    b.wait_for_more_processed(200.0);
    assert!(!loadgen.finished(), "the input ended before the kill: it would not land mid-stream");
    let open = open | b.sigkill_reporting_open_transaction(&s, "pod-b");
    assert!(open, "at least one of the two kills landed inside a transaction");
    progress_mid_stream(&c, published(&c) + 1000.0, &mut loadgen);
    let summary = loadgen.stop();
    assert_delivery_exactly_once(&s, &summary, c);
}

/// Every third transaction aborted at the last moment (offsets sent, only the commit missing)
/// while receipts flow through the hops: every stage drops its state, rewinds and restores.
#[cfg(feature = "fault-injection")]
#[test]
fn aborted_transactions_with_receipts_rewind_and_lose_nothing() {
    let s = Scenario::new("chaos-receipts-abort");
    s.create_inputs(4, 4);
    let receipts = Receipts::create(&s, DELIVERY_TIMEOUT_SECONDS);
    let mut args = receipts.tracker_args();
    args.extend(["--fault-abort-every", "3"]);
    let tracker = Tracker::start_with_faults(&s, &args);
    let extra = receipts.loadgen_args(&["--invalid-share", "0.005", "--duplicate-share", "0.03"]);
    // Slow enough (~15 s of input) that rewinds, each restoring two states per partition, still
    // overlap the input on a loaded machine.
    let mut loadgen = LoadGen::spawn(&s, 10_000, 3_000, &extra);
    let aborted = |t: &Tracker| t.metric(r#"sms_tracker_transactions_total{result="aborted"}"#).unwrap_or(0.0);
    wait_for("an injected abort while input flows", Duration::from_secs(90), || {
        assert!(!loadgen.finished(), "the input ended before any abort: it would not land mid-stream");
        (aborted(&tracker) >= 1.0).then_some(())
    });
    let summary = loadgen.wait();
    assert_delivery_exactly_once(&s, &summary, tracker);
}
