//! The broker is stopped and started again mid-stream, an outage longer than the tracker's
//! transaction timeout: nothing lost, nothing published twice, and the tracker rides it out.
//!
//! This test runs its own broker on another port (the shared one serves the other tests, which
//! must not see an outage), so it lives alone in this test binary.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{LoadGen, Receipts, Scenario, Tracker, assert_delivery_exactly_once, assert_exactly_once, wait_for};

const PORT: &str = "19092";
const CONTROLLER_PORT: &str = "19093";
/// Shorter than any broker restart (a JVM start alone takes longer).
const TXN_TIMEOUT_MS: u32 = 2000;

fn broker(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
    let status = Command::new(script)
        .arg(action)
        .env("KAFKA_PORT", PORT)
        .env("KAFKA_CONTROLLER_PORT", CONTROLLER_PORT)
        .status()
        .expect("run scripts/kafka.sh");
    assert!(status.success(), "scripts/kafka.sh {action} failed");
}

/// Stops the test's broker however the test ends.
struct BrokerGuard;

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        broker("stop");
    }
}

#[test]
fn broker_restart_mid_stream_loses_and_duplicates_nothing() {
    broker("start");
    let _guard = BrokerGuard;
    // SAFETY: the only test in this binary; set before any other thread reads the environment.
    unsafe { std::env::set_var("KAFKA_BOOTSTRAP", format!("localhost:{PORT}")) };

    outage_mid_stream(false);
    // The same with receipts flowing through the re-keyed hops.
    outage_mid_stream(true);
}

/// Longer than the outage and the recovery after it, so a receipt delayed by it still decides.
const DELIVERY_TIMEOUT_SECONDS: u64 = 40;

fn outage_mid_stream(receipts_on: bool) {
    let s = Scenario::new(if receipts_on { "broker-restart-receipts" } else { "broker-restart" });
    s.create_inputs(4, 4);
    let receipts = receipts_on.then(|| Receipts::create(&s, DELIVERY_TIMEOUT_SECONDS));
    let mut loadgen_args = vec!["--invalid-share", "0.005"];
    let mut tracker_args = vec!["--kafka-property".to_owned(), format!("transaction.timeout.ms={TXN_TIMEOUT_MS}")];
    if let Some(receipts) = &receipts {
        loadgen_args = receipts.loadgen_args(&loadgen_args);
        tracker_args.extend(receipts.tracker_args.iter().cloned());
    }
    let mut loadgen = LoadGen::spawn(&s, 30_000, 10_000, &loadgen_args);
    // Dynamic membership: the tracker rides out the outage by itself. (A static member can be
    // fenced by its own rejoin after a coordinator restart; that is fatal for librdkafka's
    // consumer and the tracker exits for a restart, tested in consumer::tests.)
    // A transaction timeout shorter than the outage: the coordinator aborts the open transaction
    // when the broker is back and fences the producer's epoch, which the tracker must survive.
    let tracker_args: Vec<&str> = tracker_args.iter().map(String::as_str).collect();
    let tracker = Tracker::start_instance(&s, "pod-0", &tracker_args);
    wait_for("statuses before the outage", Duration::from_secs(120), || {
        (tracker.metric(r#"sms_tracker_statuses_published_total{status="SENT"}"#)? >= 3000.0).then_some(())
    });
    assert!(!loadgen.finished(), "the outage must happen mid-stream");

    broker("stop");
    broker("start");

    let summary = loadgen.wait();
    assert!(tracker.http_get("/healthz").is_some(), "the tracker survived the outage:\n{}", tracker.logs());
    if receipts_on {
        assert_delivery_exactly_once(&s, &summary, tracker);
    } else {
        assert_exactly_once(&s, &summary, &format!("{}-", s.app_id));
    }
}
