//! The main job with delivery receipts: the load generator's receipts (per-part delays, a tail
//! minutes later in its plan, intermediate states, duplicates, receipts before their submit
//! response, raw texts, hex/decimal ids per supplier, invalid ones) yield for every message
//! exactly one SENT and after it exactly the delivery outcome the generator planned.

mod support;

use support::{LoadGen, Receipts, Scenario, Tracker, assert_delivery_exactly_once};

#[test]
fn every_message_gets_sent_then_its_planned_delivery_outcome() {
    let messages: usize = std::env::var("LOAD_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let s = Scenario::new("load-receipts");
    s.create_inputs(8, 8);
    let receipts = Receipts::create(&s, 5);
    let tracker = Tracker::start(&s, &receipts.tracker_args());
    let extra = receipts.loadgen_args(&["--duplicate-share", "0.02", "--invalid-share", "0.01"]);
    let summary = LoadGen::spawn(&s, messages, 0, &extra).wait();
    assert!(summary["receipts_before_response"].as_u64().unwrap() > 0);
    assert!(summary["text_receipts"].as_u64().unwrap() > 0);
    assert!(summary["invalid_receipts"].as_u64().unwrap() > 0);
    assert_delivery_exactly_once(&s, &summary, tracker);
}
