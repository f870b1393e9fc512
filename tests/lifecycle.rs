//! The whole submit lifecycle on the real broker: rejected parts fail a message, retries
//! succeed, silence expires it, orphans are dead-lettered, markers are purged after retention.

mod support;

use support::{Input, Scenario, Tracker, header, json, key, read_to_end, wait_for};

fn message(id: &str) -> String {
    format!(r#"{{"id":"{id}","status":"PENDING","text":"hello"}}"#)
}

fn part(id: &str, n: u32, total: u32, status: u32, supplier_id: Option<&str>) -> String {
    let supplier_id = supplier_id.map(|s| format!(r#","supplierMessageId":"{s}""#)).unwrap_or_default();
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"commandStatus":{status},"supplier":"supplier-a"{supplier_id}}}"#
    )
}

fn started(test: &str, extra: &[&str]) -> (Scenario, Tracker, Input) {
    let scenario = Scenario::new(test);
    scenario.create_inputs(2, 2);
    let tracker = Tracker::start(&scenario, extra);
    (scenario, tracker, Input::new())
}

#[test]
fn a_permanently_rejected_part_fails_the_message_once() {
    let (s, tracker, input) = started("failed", &[]);
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 3, 0, Some("A"))));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 3, 0x0B, None)));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 3, 3, 0, Some("C"))));
    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 1);
    let value = json(&outputs[0]);
    assert_eq!(value["status"], "FAILED");
    assert_eq!(
        value["statusDescription"],
        "Part 2/3 rejected by supplier-a: command_status 0x0000000B (ESME_RINVDSTADR)"
    );
    assert_eq!(value["parts"][1], serde_json::json!({"partNumber": 2, "commandStatus": 11}));
    assert_eq!(tracker.metric(r#"sms_tracker_statuses_published_total{status="FAILED"}"#), Some(1.0));
}

#[test]
fn a_retryable_error_then_success_is_sent() {
    let (s, _tracker, input) = started("retry", &[]);
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, 0x58, None)));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, 0x14, None)));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, 0, Some("OK"))));
    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 1);
    assert_eq!(json(&outputs[0])["status"], "SENT");
}

#[test]
fn silence_expires_a_message_naming_the_missing_part_and_its_last_error() {
    let (s, tracker, input) = started("expired", &["--submit-timeout-seconds", "2"]);
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, 0, Some("A"))));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, 0x58, None)));
    let outputs = support::wait_for_records(&s.status, 1);
    let value = json(&outputs[0]);
    assert_eq!(value["status"], "EXPIRED");
    assert_eq!(
        value["statusDescription"],
        "No successful submit response for part 2/2 within 2 s (last: ESME_RTHROTTLED 0x00000058)"
    );
    // A late success changes nothing: status only moves forward.
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, 0, Some("LATE"))));
    assert_eq!(s.settled_output(&s.status).len(), 1);
    assert_eq!(tracker.metric(r#"sms_tracker_statuses_published_total{status="EXPIRED"}"#), Some(1.0));
}

#[test]
fn responses_whose_message_never_comes_are_dead_lettered_as_orphans() {
    let (s, tracker, input) = started("orphan", &["--submit-timeout-seconds", "2"]);
    input.send(&s.responses, Some("lonely"), Some(&part("lonely", 1, 2, 0, Some("A"))));
    input.send(&s.responses, Some("lonely"), Some(&part("lonely", 2, 2, 0x58, None)));
    let dead = support::wait_for_records(&s.dead_letters, 2);
    assert_eq!(dead.len(), 2);
    for record in &dead {
        assert_eq!(key(record), "lonely");
        assert!(header(record, "error.reason").unwrap().starts_with("orphan"));
        assert_eq!(header(record, "source.topic").as_deref(), Some(s.responses.as_str()));
    }
    let offsets: Vec<String> = dead.iter().map(|r| header(r, "source.offset").unwrap()).collect();
    assert_ne!(offsets[0], offsets[1], "each dead letter names its own response");
    assert!(read_to_end(&s.status).is_empty());
    wait_for("the orphan metric", support::DEADLINE, || {
        (tracker.metric(r#"sms_tracker_dead_letters_total{reason="orphan"}"#)? == 2.0).then_some(())
    });
}

#[test]
fn markers_are_purged_after_retention_and_late_records_then_behave_like_orphans() {
    let (s, _tracker, input) = started("purge", &["--submit-timeout-seconds", "2", "--retention-seconds", "2"]);
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, 0, Some("A"))));
    assert_eq!(support::wait_for_records(&s.status, 1).len(), 1);
    let changelog = format!("{}-state-changelog", s.app_id);
    wait_for("the marker to be purged (a changelog tombstone)", support::DEADLINE, || {
        let records = read_to_end(&changelog);
        let last = records.iter().rev().find(|r| key(r) == "m1")?;
        rdkafka::Message::payload(last).is_none().then_some(())
    });
    // The tracker forgot m1: a late response is an orphan now, not a duplicate.
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, 0, Some("A"))));
    let dead = support::wait_for_records(&s.dead_letters, 1);
    assert!(header(&dead[0], "error.reason").unwrap().starts_with("orphan"));
    assert_eq!(s.settled_output(&s.status).len(), 1, "still one status");
}
