//! Delivery receipts on the real broker: re-keyed by the supplier's id, joined back to their
//! message across partitions, one delivery outcome per tracked message after its SENT.

mod support;

use std::collections::BTreeMap;

use support::{DEADLINE, Input, Scenario, Tracker, header, json, key, read_to_end, wait_for};

fn message(id: &str) -> String {
    format!(r#"{{"id":"{id}","status":"PENDING","text":"hello"}}"#)
}

fn part(id: &str, n: u32, total: u32, supplier: &str, supplier_id: &str) -> String {
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"commandStatus":0,"supplier":"{supplier}","supplierMessageId":"{supplier_id}"}}"#
    )
}

fn receipt(supplier: &str, supplier_id: &str, stat: &str) -> String {
    format!(r#"{{"supplier":"{supplier}","supplierMessageId":"{supplier_id}","stat":"{stat}","err":"001"}}"#)
}

/// Inputs with 4 partitions, delivery-reports with 3 (they need not match), the tracker on.
fn started(test: &str, extra: &[&str]) -> (Scenario, String, Tracker, Input) {
    let scenario = Scenario::new(test);
    scenario.create_inputs(4, 4);
    let reports = format!("{}-dlr", scenario.app_id);
    support::create_topic(&reports, 3);
    let mut args = vec!["--delivery-reports-topic", reports.as_str()];
    args.extend_from_slice(extra);
    let tracker = Tracker::start(&scenario, &args);
    (scenario, reports, tracker, Input::new())
}

/// Every status published per message id, in order, once `expected` records were committed.
fn statuses(s: &Scenario, expected: usize) -> BTreeMap<String, Vec<String>> {
    let records = wait_for(&format!("{expected} status records"), DEADLINE, || {
        let records = read_to_end(&s.status);
        (records.len() >= expected).then_some(records)
    });
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in &records {
        by_id.entry(key(record)).or_default().push(json(record)["status"].as_str().unwrap().to_owned());
    }
    by_id
}

#[test]
fn receipts_join_back_to_their_messages_in_any_order() {
    let (s, reports, tracker, input) = started("dlr-join", &[]);
    // m1: two parts, both delivered; receipts after the submit responses.
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, "supplier-a", "A1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 2, "supplier-a", "A2")));
    input.send(&reports, Some("A1"), Some(&receipt("supplier-a", "A1", "DELIVRD")));
    input.send(&reports, Some("A2"), Some(&receipt("supplier-a", "a2", "DELIVRD")));
    // m2: a receipt before its submit response (fast supplier, slow gateway) and before the
    // message itself; the same id at another supplier must not match it.
    input.send(&reports, Some("B1"), Some(&receipt("supplier-b", "B1", "DELIVRD")));
    input.send(&reports, Some("B1"), Some(&receipt("supplier-c", "B1", "UNDELIV")));
    input.send(&s.responses, Some("m2"), Some(&part("m2", 1, 1, "supplier-b", "B1")));
    input.send(&s.sent, Some("m2"), Some(&message("m2")));
    // m3: part 2 of 2 finally not delivered, part 1 still under way.
    input.send(&s.sent, Some("m3"), Some(&message("m3")));
    input.send(&s.responses, Some("m3"), Some(&part("m3", 1, 2, "supplier-a", "C1")));
    input.send(&s.responses, Some("m3"), Some(&part("m3", 2, 2, "supplier-a", "C2")));
    input.send(&reports, Some("C1"), Some(&receipt("supplier-a", "C1", "ENROUTE")));
    input.send(&reports, Some("C2"), Some(&receipt("supplier-a", "C2", "UNDELIV")));
    // m4: the raw receipt text, leading zeros in the receipt's id; and a duplicate receipt.
    input.send(&s.sent, Some("m4"), Some(&message("m4")));
    input.send(&s.responses, Some("m4"), Some(&part("m4", 1, 1, "supplier-a", "D1")));
    let text = r#"{"supplier":"supplier-a","shortMessage":"id:000D1 sub:001 dlvrd:001 submit date:2611261000 done date:2611261001 stat:DELIVRD err:000 text:hello"}"#;
    input.send(&reports, Some("000D1"), Some(text));
    input.send(&reports, Some("000D1"), Some(text));
    // m5: no receipts requested.
    input.send(&s.sent, Some("m5"), Some(r#"{"id":"m5","status":"PENDING","registeredDelivery":false}"#));
    input.send(&s.responses, Some("m5"), Some(&part("m5", 1, 1, "supplier-a", "E1")));

    let by_id = statuses(&s, 9);
    let expected: BTreeMap<String, Vec<String>> = [
        ("m1", vec!["SENT", "DELIVERED"]),
        ("m2", vec!["SENT", "DELIVERED"]),
        ("m3", vec!["SENT", "UNDELIVERED"]),
        ("m4", vec!["SENT", "DELIVERED"]),
        ("m5", vec!["SENT"]),
    ]
    .into_iter()
    .map(|(id, statuses)| (id.to_owned(), statuses.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(by_id, expected);

    let records = read_to_end(&s.status);
    let undelivered = records.iter().map(json).find(|v| v["status"] == "UNDELIVERED").unwrap();
    assert_eq!(undelivered["statusDescription"], "Part 2/2 not delivered by supplier-a: UNDELIV err 001");
    assert_eq!(undelivered["parts"][1]["stat"], "UNDELIV");
    // C1's and C2's receipts cross the re-keyed hops on different partitions, so C2's final one
    // may overtake C1's intermediate one: part 1's state is shown only when it came first.
    let part_1 = &undelivered["parts"][0]["stat"];
    assert!(part_1 == "ENROUTE" || part_1.is_null(), "part 1 is under way or not yet reported: {part_1}");
    assert_eq!(undelivered["text"], "hello", "the message's fields are passed through");
    // m4's duplicate arrives after its outcome was published: ignored as late.
    wait_for("the duplicate receipt to be counted", DEADLINE, || {
        (tracker.metric(r#"sms_tracker_ignored_records_total{reason="late_receipt"}"#)? >= 1.0).then_some(())
    });
    assert_eq!(tracker.metric(r#"sms_tracker_statuses_published_total{status="DELIVERED"}"#), Some(3.0));
}

#[test]
fn ids_in_another_base_match_with_the_suppliers_id_format() {
    let (s, reports, _tracker, input) =
        started("dlr-hex", &["--delivery-id-format", "supplier-x=hex-in-response,supplier-y=hex-in-report"]);
    // supplier-x: 0x1F4 in the submit response is 500 in the receipt; supplier-y the other way.
    input.send(&s.sent, Some("x"), Some(&message("x")));
    input.send(&s.responses, Some("x"), Some(&part("x", 1, 1, "supplier-x", "1f4")));
    input.send(&reports, Some("500"), Some(&receipt("supplier-x", "500", "DELIVRD")));
    input.send(&s.sent, Some("y"), Some(&message("y")));
    input.send(&s.responses, Some("y"), Some(&part("y", 1, 1, "supplier-y", "255")));
    input.send(&reports, Some("00FF"), Some(&receipt("supplier-y", "00FF", "DELIVRD")));
    let by_id = statuses(&s, 4);
    assert_eq!(by_id["x"], ["SENT", "DELIVERED"]);
    assert_eq!(by_id["y"], ["SENT", "DELIVERED"]);
}

#[test]
fn a_receipt_without_a_submit_response_is_dead_lettered_as_unmatched() {
    let (s, reports, tracker, input) = started("dlr-unmatched", &["--submit-timeout-seconds", "2"]);
    // The gateway got the id format wrong: 500 never matches "1F4" without hex-in-response.
    input.send(&s.sent, Some("m"), Some(&message("m")));
    input.send(&s.responses, Some("m"), Some(&part("m", 1, 1, "supplier-x", "1F4")));
    input.send(&reports, Some("500"), Some(&receipt("supplier-x", "500", "DELIVRD")));
    input.send(&reports, Some("bad"), Some(r#"{"supplier":"supplier-x","supplierMessageId":"9","stat":"LOST"}"#));
    let letters = wait_for("two dead letters", DEADLINE, || {
        let letters = read_to_end(&s.dead_letters);
        (letters.len() >= 2).then_some(letters)
    });
    let unmatched = letters.iter().find(|l| key(l) == "500").expect("the unmatched receipt");
    let reason = header(unmatched, "error.reason").unwrap();
    assert!(reason.starts_with("unmatched_delivery_report"), "{reason}");
    assert!(reason.contains("supplier-x") && reason.contains("--delivery-id-format"), "{reason}");
    assert_eq!(header(unmatched, "source.topic").as_deref(), Some(reports.as_str()));
    assert_eq!(json(unmatched)["supplierMessageId"], "500", "the original record, verbatim");
    let invalid = letters.iter().find(|l| key(l) == "bad").expect("the invalid receipt");
    assert!(header(invalid, "error.reason").unwrap().contains("LOST"));
    assert_eq!(tracker.metric(r#"sms_tracker_unmatched_delivery_reports_total{supplier="supplier-x"}"#), Some(1.0));
    assert_eq!(statuses(&s, 1)["m"], ["SENT"]);
}

#[test]
fn without_a_final_receipt_the_outcome_is_delivery_unknown_after_the_timeout() {
    let (s, reports, _tracker, input) = started("dlr-unknown", &["--delivery-timeout-seconds", "2"]);
    input.send(&s.sent, Some("m"), Some(&message("m")));
    input.send(&s.responses, Some("m"), Some(&part("m", 1, 2, "supplier-a", "U1")));
    input.send(&s.responses, Some("m"), Some(&part("m", 2, 2, "supplier-a", "U2")));
    input.send(&reports, Some("U1"), Some(&receipt("supplier-a", "U1", "DELIVRD")));
    input.send(&reports, Some("U2"), Some(&receipt("supplier-a", "U2", "ACCEPTD")));
    assert_eq!(statuses(&s, 2)["m"], ["SENT", "DELIVERY_UNKNOWN"]);
    let unknown = read_to_end(&s.status).iter().map(json).find(|v| v["status"] == "DELIVERY_UNKNOWN").unwrap();
    assert_eq!(unknown["statusDescription"], "No final delivery receipt within 2 s for part 2/2 (last: ACCEPTD)");
}

#[test]
fn the_first_final_receipt_wins_and_failed_messages_get_no_outcome() {
    let (s, reports, _tracker, input) = started("dlr-rules", &[]);
    // f: part 1 DELIVRD, then UNDELIV for the same part (a supplier changing its mind), then part 2.
    input.send(&s.sent, Some("f"), Some(&message("f")));
    input.send(&s.responses, Some("f"), Some(&part("f", 1, 2, "supplier-a", "F1")));
    input.send(&s.responses, Some("f"), Some(&part("f", 2, 2, "supplier-a", "F2")));
    input.send(&reports, Some("F1"), Some(&receipt("supplier-a", "F1", "DELIVRD")));
    input.send(&reports, Some("F1"), Some(&receipt("supplier-a", "F1", "UNDELIV")));
    input.send(&reports, Some("F2"), Some(&receipt("supplier-a", "F2", "DELIVRD")));
    // x: part 1 accepted and delivered, part 2 rejected: FAILED, and no delivery outcome ever.
    input.send(&s.sent, Some("x"), Some(&message("x")));
    input.send(&s.responses, Some("x"), Some(&part("x", 1, 2, "supplier-a", "X1")));
    input.send(&reports, Some("X1"), Some(&receipt("supplier-a", "X1", "DELIVRD")));
    let rejected = r#"{"messageId":"x","partNumber":2,"totalParts":2,"commandStatus":11,"supplier":"supplier-a"}"#;
    input.send(&s.responses, Some("x"), Some(rejected));
    let by_id = statuses(&s, 3);
    assert_eq!(by_id["f"], ["SENT", "DELIVERED"]);
    assert_eq!(by_id["x"], ["FAILED"]);
    s.wait_caught_up();
    assert_eq!(statuses(&s, 3).values().map(Vec::len).sum::<usize>(), 3, "nothing more");
}

#[test]
fn with_last_part_receipts_the_outcome_follows_the_last_part() {
    let (s, reports, tracker, input) = started("dlr-last", &["--delivery-receipt-parts", "last"]);
    input.send(&s.sent, Some("l"), Some(&message("l")));
    input.send(&s.responses, Some("l"), Some(&part("l", 1, 3, "supplier-a", "L1")));
    input.send(&s.responses, Some("l"), Some(&part("l", 2, 3, "supplier-a", "L2")));
    input.send(&s.responses, Some("l"), Some(&part("l", 3, 3, "supplier-a", "L3")));
    input.send(&reports, Some("L1"), Some(&receipt("supplier-a", "L1", "UNDELIV")));
    input.send(&reports, Some("L3"), Some(&receipt("supplier-a", "L3", "DELIVRD")));
    assert_eq!(statuses(&s, 2)["l"], ["SENT", "DELIVERED"]);
    wait_for("the receipt of an untracked part to be counted", DEADLINE, || {
        (tracker.metric(r#"sms_tracker_ignored_records_total{reason="untracked_receipt"}"#)? >= 1.0).then_some(())
    });
}
