//! The wire contract's semantic rules, each proven end to end against the real broker.

mod support;

use support::{Input, Scenario, Tracker, header, json, key, read_to_end};

fn message(id: &str, version: u32) -> String {
    format!(
        r#"{{"id":"{id}","status":"PENDING","sender":"ACME","recipient":"+385911234567","text":"Your code is 1234","createdAt":"2026-11-25T10:00:00.000Z","version":{version},"unheardOf":{{"nested":[1,"two",null]}}}}"#
    )
}

fn part(id: &str, n: u32, total: u32, supplier_id: &str) -> String {
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"supplierMessageId":"{supplier_id}","commandStatus":0,"supplier":"supplier-a","receivedAt":"2026-11-25T10:00:01.250Z"}}"#
    )
}

fn failed_part(id: &str, n: u32, total: u32, status: u32) -> String {
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"commandStatus":{status},"supplier":"supplier-a"}}"#
    )
}

fn started(test: &str) -> (Scenario, Tracker, Input) {
    let scenario = Scenario::new(test);
    scenario.create_inputs(3, 3);
    let tracker = Tracker::start(&scenario, &[]);
    (scenario, tracker, Input::new())
}

/// Rule 1: SENT once the message and every part's success are in, whichever comes last; parts
/// before their message is the normal case. The output keeps every field of the message.
#[test]
fn parts_before_message_complete_when_the_message_arrives() {
    let (s, tracker, input) = started("parts-first");
    input.send(&s.responses, Some("m1"), Some(&part("m1", 3, 3, "C")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 3, "A")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 3, "B")));
    input.send(&s.sent, Some("m1"), Some(&message("m1", 1)));
    // Message first, then its only part.
    input.send(&s.sent, Some("m2"), Some(&message("m2", 1)));
    input.send(&s.responses, Some("m2"), Some(&part("m2", 1, 1, "D")));

    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 2, "one status per message");
    let m1 = outputs.iter().find(|r| key(r) == "m1").expect("m1 published");
    let value = json(m1);
    assert_eq!(value["status"], "SENT");
    assert_eq!(value["statusDescription"], "Sent successfully");
    assert_eq!(value["id"], "m1");
    assert_eq!(value["sender"], "ACME");
    assert_eq!(value["recipient"], "+385911234567");
    assert_eq!(value["text"], "Your code is 1234");
    assert_eq!(value["createdAt"], "2026-11-25T10:00:00.000Z");
    assert_eq!(value["unheardOf"], serde_json::json!({"nested": [1, "two", null]}));
    assert_eq!(
        value["parts"],
        serde_json::json!([
            {"partNumber": 1, "commandStatus": 0, "supplierMessageId": "A"},
            {"partNumber": 2, "commandStatus": 0, "supplierMessageId": "B"},
            {"partNumber": 3, "commandStatus": 0, "supplierMessageId": "C"}
        ])
    );
    let updated_at = value["statusUpdatedAt"].as_str().expect("statusUpdatedAt");
    humantime::parse_rfc3339(updated_at).expect("statusUpdatedAt is RFC 3339");
    assert!(updated_at.ends_with('Z'), "UTC: {updated_at}");
    assert!(outputs.iter().any(|r| key(r) == "m2"));
    // Outputs go to the partition number of their input (key partitioned like the gateway).
    let inputs = read_to_end(&s.sent);
    for output in &outputs {
        let source = inputs.iter().find(|r| key(r) == key(output)).unwrap();
        assert_eq!(rdkafka::Message::partition(output), rdkafka::Message::partition(source));
    }
    assert_eq!(tracker.metric(r#"sms_tracker_statuses_published_total{status="SENT"}"#), Some(2.0));
}

/// Rule 2: exactly one SENT ever: duplicates (same or other supplier id) and later updates
/// change nothing; before SENT the latest message value is what is published.
#[test]
fn duplicates_and_updates_after_sent_do_not_emit_again() {
    let (s, tracker, input) = started("duplicates");
    input.send(&s.sent, Some("m1"), Some(&message("m1", 1)));
    input.send(&s.sent, Some("m1"), Some(&message("m1", 2)));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, "FIRST")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, "SECOND")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, "B")));
    support::wait_for_records(&s.status, 1);
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, "B")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, "OTHER")));
    input.send(&s.sent, Some("m1"), Some(&message("m1", 3)));
    input.send(&s.sent, Some("m1"), None);

    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 1, "exactly one SENT");
    let value = json(&outputs[0]);
    assert_eq!(value["version"], 2, "latest value before SENT");
    assert_eq!(value["parts"][0]["supplierMessageId"], "FIRST", "first success wins");
    assert!(s.settled_output(&s.dead_letters).is_empty());
    assert_eq!(tracker.metric(r#"sms_tracker_ignored_records_total{reason="duplicate_response"}"#), Some(3.0));
    assert_eq!(tracker.metric(r#"sms_tracker_ignored_records_total{reason="update_after_publish"}"#), Some(2.0));
}

/// Rule 3: a tombstone before completion cancels: no output, later parts ignored and counted.
#[test]
fn tombstone_before_completion_cancels_the_message() {
    let (s, tracker, input) = started("tombstone");
    input.send(&s.sent, Some("m1"), Some(&message("m1", 1)));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, "A")));
    input.send(&s.sent, Some("m1"), None);
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, "B")));
    // A control message in the same partition space proves the tracker kept processing.
    input.send(&s.sent, Some("m2"), Some(&message("m2", 1)));
    input.send(&s.responses, Some("m2"), Some(&part("m2", 1, 1, "C")));

    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.iter().map(key).collect::<Vec<_>>(), vec!["m2"]);
    assert!(s.settled_output(&s.dead_letters).is_empty());
    assert_eq!(tracker.metric(r#"sms_tracker_ignored_records_total{reason="cancelled"}"#), Some(1.0));
}

/// Rule 4: the first part seen fixes totalParts; a part that disagrees is dead-lettered.
#[test]
fn a_part_disagreeing_on_total_parts_is_dead_lettered() {
    let (s, _tracker, input) = started("total-parts");
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, "A")));
    let bad = part("m1", 2, 3, "B");
    input.send(&s.responses, Some("m1"), Some(&bad));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, "B")));
    input.send(&s.sent, Some("m1"), Some(&message("m1", 1)));

    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 1);
    let dead = s.settled_output(&s.dead_letters);
    assert_eq!(dead.len(), 1);
    assert_eq!(rdkafka::Message::payload(&dead[0]), Some(bad.as_bytes()));
    let reason = header(&dead[0], "error.reason").unwrap();
    assert!(reason.contains("totalParts 3 differs from 2"), "{reason}");
}

/// Rule 5: a (retryable) non-zero commandStatus is recorded but does not complete the part.
#[test]
fn an_error_response_does_not_complete_a_part() {
    let (s, _tracker, input) = started("error-status");
    input.send(&s.sent, Some("m1"), Some(&message("m1", 1)));
    input.send(&s.responses, Some("m1"), Some(&failed_part("m1", 1, 1, 0x58)));
    assert!(s.settled_output(&s.status).is_empty(), "a throttled part is not SENT");
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, "RETRIED")));
    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 1);
    assert_eq!(json(&outputs[0])["parts"][0]["supplierMessageId"], "RETRIED");
}

/// Rule 6: every kind of invalid record goes to the dead-letter topic with its original key and
/// value and the reason and source in headers; processing goes on.
#[test]
fn invalid_records_are_dead_lettered_with_reason_and_source() {
    let (s, tracker, input) = started("invalid");
    // (topic, key, value, what the reason must mention)
    type Case<'a> = (&'a str, Option<&'a [u8]>, Option<&'a [u8]>, &'a str);
    let cases: Vec<Case> = vec![
        (&s.sent, Some(b"k1"), Some(b"not json"), "JSON"),
        (&s.sent, Some(b"k2"), Some(br#"{"id":"k2"}"#), "status"),
        (&s.sent, Some(b"k3"), Some(br#"{"id":3,"status":"PENDING"}"#), "invalid type"),
        (&s.sent, Some(b"k4"), Some(br#"{"id":"other","status":"PENDING"}"#), "differs from the record key"),
        (&s.sent, None, Some(br#"{"id":"k5","status":"PENDING"}"#), "key is null"),
        (&s.responses, Some(b"k6"), Some(b"\x00\x01binary"), "JSON"),
        (
            &s.responses,
            Some(b"k7"),
            Some(br#"{"messageId":"k7","totalParts":1,"commandStatus":0,"supplierMessageId":"x"}"#),
            "partNumber",
        ),
        (
            &s.responses,
            Some(b"k8"),
            Some(br#"{"messageId":"k8","partNumber":"1","totalParts":1,"commandStatus":0,"supplierMessageId":"x"}"#),
            "invalid type",
        ),
        (
            &s.responses,
            Some(b"k9"),
            Some(br#"{"messageId":"x","partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"x"}"#),
            "differs from the record key",
        ),
        (
            &s.responses,
            None,
            Some(br#"{"messageId":"k10","partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"x"}"#),
            "key is null",
        ),
        (
            &s.responses,
            Some(b"k11"),
            Some(br#"{"messageId":"k11","partNumber":3,"totalParts":2,"commandStatus":0,"supplierMessageId":"x"}"#),
            "partNumber 3 is outside",
        ),
        (
            &s.responses,
            Some(b"k12"),
            Some(br#"{"messageId":"k12","partNumber":0,"totalParts":2,"commandStatus":0,"supplierMessageId":"x"}"#),
            "partNumber 0 is outside",
        ),
        (
            &s.responses,
            Some(b"k13"),
            Some(br#"{"messageId":"k13","partNumber":1,"totalParts":300,"commandStatus":0,"supplierMessageId":"x"}"#),
            "totalParts 300",
        ),
        (
            &s.responses,
            Some(b"k14"),
            Some(br#"{"messageId":"k14","partNumber":1,"totalParts":1,"commandStatus":0}"#),
            "supplierMessageId",
        ),
        (
            &s.responses,
            Some(b"k15"),
            Some(br#"{"messageId":"k15","partNumber":1,"totalParts":1,"commandStatus":-5,"supplierMessageId":"x"}"#),
            "invalid value",
        ),
        (&s.responses, Some(b"k16"), None, "null"),
        (&s.responses, Some(&[0xff, 0xfe]), Some(b"{}"), "not UTF-8"),
    ];
    for (topic, key, value, _) in &cases {
        input.send_bytes(topic, *key, *value);
    }
    // Valid traffic after the bad records is still processed.
    input.send(&s.sent, Some("ok"), Some(&message("ok", 1)));
    input.send(&s.responses, Some("ok"), Some(&part("ok", 1, 1, "A")));

    let dead = s.settled_output(&s.dead_letters);
    assert_eq!(dead.len(), cases.len(), "one dead letter per invalid record");
    for (topic, key, value, expected_reason) in &cases {
        let found = dead
            .iter()
            .find(|r| rdkafka::Message::key(*r) == *key && rdkafka::Message::payload(*r) == *value)
            .unwrap_or_else(|| panic!("no dead letter for key {key:?} value {value:?}"));
        let reason = header(found, "error.reason").unwrap();
        assert!(reason.contains(expected_reason), "reason {reason:?} should mention {expected_reason:?}");
        assert_eq!(header(found, "source.topic").as_deref(), Some(*topic));
        let partition: i32 = header(found, "source.partition").unwrap().parse().unwrap();
        assert_eq!(partition, rdkafka::Message::partition(found), "dead letter goes to the source partition");
        let offset: i64 = header(found, "source.offset").unwrap().parse().unwrap();
        assert!(offset >= 0);
    }
    assert_eq!(s.settled_output(&s.status).len(), 1);
    let counted: f64 = ["null_key", "key_not_utf8", "not_json", "invalid_field", "id_mismatch", "part_out_of_range"]
        .iter()
        .filter_map(|reason| tracker.metric(&format!(r#"sms_tracker_dead_letters_total{{reason="{reason}"}}"#)))
        .sum();
    assert_eq!(counted, cases.len() as f64);
}
