//! Exactly once under SIGKILL, rebalances and joins, with the load generator streaming input.
//!
//! Kill moments are chosen by progress, not time: each round waits until the tracker has
//! published a random number of further statuses (a condition), then kills it. Every fault is
//! asserted to land while the load generator still writes, and every counted kill to land with a
//! transaction open (processed input not yet committed), as its coordinator shows; a kill that
//! happened to fall between two transactions is not counted, and the round is repeated.

mod support;

use std::time::Duration;

use rand::Rng;
use support::{LoadGen, Scenario, Tracker, assert_exactly_once, wait_for};

const SENT: &str = r#"sms_tracker_statuses_published_total{status="SENT"}"#;

/// Commits a second apart: a kill then finds a transaction open (partitions registered with the
/// coordinator, input processed and not committed) almost always, where at the default 100 ms
/// about half the kills on a loaded machine fell between two transactions.
const SLOW_COMMITS: [&str; 2] = ["--commit-interval-ms", "1000"];

/// Transactions with consumed input that `tracker` committed because partitions were revoked.
fn revoke_commits(tracker: &Tracker) -> f64 {
    tracker.metric("sms_tracker_revoke_commits_total").unwrap_or(0.0)
}

fn published(tracker: &Tracker) -> f64 {
    tracker.metric(SENT).unwrap_or(0.0)
}

/// Waits until `tracker` has published at least `more` statuses since it started, and asserts
/// that the load generator is still writing then: the fault that follows lands mid-stream.
fn wait_for_progress(tracker: &Tracker, more: f64, loadgen: &mut LoadGen) {
    wait_for("the tracker to make progress", Duration::from_secs(180), || {
        assert!(!loadgen.finished(), "the input ended before the fault: it would not land mid-stream");
        (published(tracker) >= more).then_some(())
    });
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let messages: usize = std::env::var("CHAOS_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let s = Scenario::new("chaos-kill");
    s.create_inputs(4, 4);
    // Input for up to about 80 s; stopped once the kills are done, however many rounds they took.
    let mut loadgen = LoadGen::spawn(&s, messages, 6_000, &["--invalid-share", "0.005", "--duplicate-share", "0.03"]);
    let args = ["--static-membership", SLOW_COMMITS[0], SLOW_COMMITS[1]];
    let mut rng = rand::rng();
    let (mut rounds, mut kills) = (0, 0);
    while kills < 5 {
        rounds += 1;
        assert!(rounds <= 12, "only {kills} of {rounds} kills landed inside a transaction");
        let tracker = Tracker::start_instance(&s, "pod-0", &args);
        let more = rng.random_range(500.0..(messages as f64 / 50.0));
        wait_for_progress(&tracker, more, &mut loadgen);
        tracker.wait_for_more_processed(200.0);
        if tracker.sigkill_reporting_open_transaction(&s, "pod-0") {
            kills += 1;
        }
    }
    let last = Tracker::start_instance(&s, "pod-0", &args);
    wait_for_progress(&last, 500.0, &mut loadgen);
    let summary = loadgen.stop();
    assert_exactly_once(&s, &summary, &format!("{}-", s.app_id));
    drop(last);
}

/// SIGKILLs `tracker` (instance `instance`); while the kill falls between two transactions,
/// starts the instance again and repeats, so the kill that counts lands with uncommitted work.
fn kill_inside_a_transaction(s: &Scenario, mut tracker: Tracker, instance: &str, loadgen: &mut LoadGen) {
    for _ in 0..4 {
        tracker.wait_for_more_processed(200.0);
        assert!(!loadgen.finished(), "the input ended before the kill: it would not land mid-stream");
        if tracker.sigkill_reporting_open_transaction(s, instance) {
            return;
        }
        tracker = Tracker::start_instance(s, instance, &SLOW_COMMITS);
        let before = published(&tracker);
        wait_for_progress(&tracker, before + 500.0, loadgen);
    }
    panic!("no kill of {instance} landed inside a transaction");
}

/// Two instances share the work; one leaves (gracefully or killed) mid-stream and the survivor
/// takes its partitions over; then a third joins and takes some over. Nothing lost or repeated.
fn two_instances_then_one_leaves_then_a_third_joins(kill: bool) {
    let s = Scenario::new(if kill { "rebalance-kill" } else { "rebalance-term" });
    s.create_inputs(4, 4);
    // Input for up to about 50 s, stopped once the leave, the takeover and the join are done.
    let mut loadgen = LoadGen::spawn(&s, 100_000, 5_000, &["--invalid-share", "0.005"]);
    let a = Tracker::start_instance(&s, "pod-a", &SLOW_COMMITS);
    // The survivor commits slowly too, so that the join's revoke finds its processed input still
    // in an open transaction, and has to commit it before giving partitions up.
    let b = Tracker::start_instance(&s, "pod-b", &SLOW_COMMITS);
    wait_for("both instances to hold partitions", Duration::from_secs(60), || {
        let holds = |t: &Tracker| t.http_get("/readyz").is_some_and(|(_, body)| !body.contains("[]"));
        (holds(&a) && holds(&b)).then_some(())
    });
    wait_for_progress(&a, 1000.0, &mut loadgen);
    if kill {
        kill_inside_a_transaction(&s, a, "pod-a", &mut loadgen);
    } else {
        // Processed input waits in the open transaction; the leave must commit it.
        a.wait_for_more_processed(200.0);
        assert!(a.terminate().success());
    }
    let survivor_before = published(&b);
    wait_for_progress(&b, survivor_before + 2000.0, &mut loadgen);
    b.wait_for_more_processed(200.0);
    let revoke_commits_before = revoke_commits(&b);
    let c = Tracker::start_instance(&s, "pod-c", &[]);
    wait_for("the new instance to take partitions over", Duration::from_secs(60), || {
        assert!(!loadgen.finished(), "the input ended before the join: it would not land mid-stream");
        c.http_get("/readyz").is_some_and(|(status, body)| status == 200 && !body.contains("[]")).then_some(())
    });
    assert!(
        revoke_commits(&b) > revoke_commits_before,
        "the join's revoke found processed, uncommitted input on the survivor and committed it"
    );
    wait_for_progress(&c, 1.0, &mut loadgen);
    let summary = loadgen.stop();
    assert_exactly_once(&s, &summary, &format!("{}-", s.app_id));
    drop((b, c));
}

#[test]
fn rebalance_after_graceful_leave_and_join() {
    two_instances_then_one_leaves_then_a_third_joins(false);
}

#[test]
fn rebalance_after_sigkill_and_join() {
    two_instances_then_one_leaves_then_a_third_joins(true);
}
