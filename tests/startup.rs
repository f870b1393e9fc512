//! Start-up checks: co-partitioning and topic ownership.

mod support;

use support::{Scenario, Tracker, wait_for};

/// Rule 7: inputs with different partition counts are refused, naming both topics and counts.
#[test]
fn refuses_inputs_that_are_not_co_partitioned() {
    let s = Scenario::new("not-copartitioned");
    s.create_inputs(2, 3);
    let tracker = Tracker::spawn(&s, &[]);
    let log = tracker.log.clone();
    let status = tracker.wait_exit();
    assert!(!status.success(), "must exit non-zero");
    let logs = std::fs::read_to_string(log).unwrap();
    assert!(logs.contains(&format!("{} has 2 partitions", s.sent)), "{logs}");
    assert!(logs.contains(&format!("{} has 3 partitions", s.responses)), "{logs}");
}

/// Input topics are never created silently.
#[test]
fn refuses_missing_input_topics_without_create_topics() {
    let s = Scenario::new("missing-inputs");
    let tracker = Tracker::spawn(&s, &[]);
    let log = tracker.log.clone();
    assert!(!tracker.wait_exit().success());
    let logs = std::fs::read_to_string(log).unwrap();
    assert!(logs.contains(&format!("input topic {} does not exist", s.sent)), "{logs}");
    let admin = support::admin();
    let metadata = admin.inner().fetch_metadata(Some(&s.sent), std::time::Duration::from_secs(10)).unwrap();
    assert!(metadata.topics()[0].partitions().is_empty(), "the input topic must not have been created");
}

/// `--create-topics` creates the inputs with the given count, and the outputs with the same.
#[test]
fn create_topics_creates_inputs_and_outputs_with_one_partition_count() {
    let s = Scenario::new("create-topics");
    let tracker = Tracker::start(&s, &["--create-topics", "--partitions", "5"]);
    for topic in [&s.sent, &s.responses, &s.status, &s.dead_letters] {
        assert_eq!(support::end_offsets(topic).len(), 5, "{topic}");
    }
    let (status, body) = tracker.http_get("/healthz").unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    let ready = wait_for("all partitions assigned", support::DEADLINE, || {
        let (_, body) = tracker.http_get("/readyz")?;
        body.contains("[0, 1, 2, 3, 4]").then_some(body)
    });
    assert!(ready.starts_with("ready"), "{ready}");
    assert!(tracker.terminate().success(), "SIGTERM ends the tracker cleanly");
}

/// Fault injection lives only in the tests' `sms-tracker-faults`: the tracker itself neither
/// offers nor accepts a fault option (scripts/check-release-binary.sh checks the release build's
/// bytes too).
#[test]
fn the_tracker_has_no_fault_injection_option() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_sms-tracker")).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--bootstrap-servers"), "{help}");
    // A word starting with "fault" ("default" is fine).
    let words = help.to_lowercase();
    let mut words = words.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'));
    assert!(!words.any(|word| word.trim_start_matches('-').starts_with("fault")), "{help}");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_sms-tracker"))
        .args(["--fault-abort-every", "3", "--help"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "--fault-abort-every must be an unknown option");
}
