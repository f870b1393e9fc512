//! The main job at scale: 100,000 whole messages from the load generator (parts shuffled and
//! ahead of their messages, duplicate and retryable responses, invalid records) yield exactly one
//! SENT per valid message and one dead letter per invalid record, nothing else.

mod support;

use support::{LoadGen, Scenario, Tracker, assert_exactly_once};

#[test]
fn one_hundred_thousand_messages_yield_exactly_one_sent_each() {
    let messages: usize = std::env::var("LOAD_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let s = Scenario::new("load");
    s.create_inputs(8, 8);
    let tracker = Tracker::start(&s, &[]);
    let loadgen = LoadGen::spawn(
        &s,
        messages,
        0,
        &["--duplicate-share", "0.02", "--invalid-share", "0.01", "--retryable-share", "0.01"],
    );
    let prefix = loadgen.id_prefix.clone();
    let summary = loadgen.wait();
    assert_eq!(summary["messages"].as_u64(), Some(messages as u64));
    assert!(summary["duplicate_responses"].as_u64().unwrap() > 0);
    assert!(summary["invalid_records"].as_u64().unwrap() > 0);
    assert_exactly_once(&s, &summary, &prefix);
    let duplicates = tracker.metric(r#"sms_tracker_ignored_records_total{reason="duplicate_response"}"#).unwrap();
    assert_eq!(duplicates as u64, summary["duplicate_responses"].as_u64().unwrap());
}
