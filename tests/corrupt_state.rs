//! Fail closed on corrupt state: an unreadable changelog record is counted, and its partition is
//! neither restored without it (a forgotten terminal marker could let a late record publish a
//! second status) nor allowed to take the process down (the partition would move to another
//! instance and fail there too): it processes nothing, the instance stays not ready, the other
//! partitions go on.

mod support;

use sms_tracker::domain::supplier_id::partition_for;
use support::{DEADLINE, Input, Scenario, Tracker, json, key, read_to_end, wait_for};

/// An id whose records go to `partition` of 2 (Kafka's default partitioner, as the gateway's).
fn id_in(partition: i32, n: usize) -> String {
    (0..).map(|i| format!("m{n}-{i}")).find(|id| partition_for(id.as_bytes(), 2) == partition).unwrap()
}

#[test]
fn an_unreadable_changelog_record_stops_only_its_partition() {
    let s = Scenario::new("corrupt-state");
    s.create_inputs(2, 2);
    let changelog = format!("{}-state-changelog", s.app_id);
    support::create_topic(&changelog, 2);
    let input = Input::new();
    input.send(&changelog, Some(&id_in(0, 0)), Some("{\"v\":1,\"closed\":\"LOST\"}"));

    let tracker = Tracker::spawn(&s, &[]);
    let (broken, healthy) = (id_in(0, 1), id_in(1, 2));
    for id in [&broken, &healthy] {
        input.send(&s.sent, Some(id), Some(&format!(r#"{{"id":"{id}","status":"PENDING"}}"#)));
        let part = format!(
            r#"{{"messageId":"{id}","partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"S"}}"#
        );
        input.send(&s.responses, Some(id), Some(&part));
    }
    let published = wait_for("the healthy partition's status", DEADLINE, || {
        let records = read_to_end(&s.status);
        (!records.is_empty()).then_some(records)
    });
    assert_eq!(published.iter().map(key).collect::<Vec<_>>(), std::slice::from_ref(&healthy));
    assert_eq!(json(&published[0])["status"], "SENT");
    wait_for("the unreadable record to be counted", DEADLINE, || {
        (tracker.metric("sms_tracker_changelog_unreadable_records_total")? >= 1.0).then_some(())
    });
    assert_eq!(tracker.metric("sms_tracker_partitions_failed_closed"), Some(1.0));
    assert_eq!(tracker.http_get("/readyz").map(|(status, _)| status), Some(503), "never ready");
    assert!(tracker.http_get("/healthz").is_some(), "the process goes on");
    let logs = tracker.logs();
    assert!(logs.contains(&format!("changelog {changelog} [0] offset 0 is unreadable")), "{logs}");
    assert_eq!(read_to_end(&s.status).len(), 1, "nothing of the broken partition is published");
}
