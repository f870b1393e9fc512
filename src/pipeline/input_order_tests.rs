use super::*;

const IDLE: Duration = Duration::from_millis(500);

fn record(source: InputTopic, partition: i32, offset: i64, timestamp_ms: i64) -> InputRecord {
    InputRecord { source, partition, offset, key: None, value: None, timestamp_ms: Some(timestamp_ms) }
}

fn sent(offset: i64, timestamp_ms: i64) -> InputRecord {
    record(InputTopic::SentMessages, 0, offset, timestamp_ms)
}

fn response(offset: i64, timestamp_ms: i64) -> InputRecord {
    record(InputTopic::SubmitResponses, 0, offset, timestamp_ms)
}

fn order_of(records: &[InputRecord]) -> Vec<(InputTopic, i64)> {
    records.iter().map(|r| (r.source, r.offset)).collect()
}

/// Answers the buffer's questions the same for every input partition, and records them.
#[derive(Default)]
struct Ends {
    caught_up: bool,
    committed_ahead: bool,
    asked_caught_up: Vec<TopicPartition>,
    asked_committed_ahead: Vec<TopicPartition>,
}

impl Ends {
    fn caught_up() -> Self {
        Self { caught_up: true, ..Self::default() }
    }
}

impl InputEnds for Ends {
    fn caught_up(&mut self, input: InputTopic, partition: i32) -> bool {
        self.asked_caught_up.push((input, partition));
        self.caught_up
    }

    fn committed_ahead(&mut self, input: InputTopic, partition: i32) -> bool {
        self.asked_committed_ahead.push((input, partition));
        self.committed_ahead
    }
}

fn release_all(order: &mut InputOrder, now: Instant, caught_up: bool) -> Vec<InputRecord> {
    let mut out = Vec::new();
    assert!(!order.release(now, &mut Ends { caught_up, ..Ends::default() }, usize::MAX, &mut out));
    out
}

use InputTopic::{SentMessages as S, SubmitResponses as R};

#[test]
fn records_of_both_inputs_go_in_timestamp_order_each_input_in_offset_order() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    // Fetched sent-messages first, as a backlog would be: a tombstone at 30 after a response at 20.
    for (offset, ts) in [(0, 10), (1, 30), (2, 25)] {
        order.push(sent(offset, ts));
    }
    for (offset, ts) in [(0, 20), (1, 40)] {
        order.push(response(offset, ts));
    }
    let out = release_all(&mut order, Instant::now(), true);
    // Offset 2 (ts 25) stays behind offset 1 (ts 30) of the same input.
    assert_eq!(order_of(&out), vec![(S, 0), (R, 0), (S, 1), (S, 2), (R, 1)]);
    assert_eq!(order.held(), 0);
}

#[test]
fn a_tie_goes_to_sent_messages() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    order.push(response(0, 10));
    order.push(sent(0, 10));
    assert_eq!(order_of(&release_all(&mut order, Instant::now(), true)), vec![(S, 0), (R, 0)]);
}

#[test]
fn partitions_are_merged_independently() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    order.push(record(S, 1, 0, 50));
    order.push(record(R, 1, 0, 10));
    order.push(sent(0, 5));
    let now = Instant::now();
    let mut out = Vec::new();
    // Partition 0's responses are not caught up: only partition 1 flows.
    struct AllButResponses0;
    impl InputEnds for AllButResponses0 {
        fn caught_up(&mut self, input: InputTopic, partition: i32) -> bool {
            !(input == R && partition == 0)
        }
        fn committed_ahead(&mut self, _: InputTopic, _: i32) -> bool {
            false
        }
    }
    order.release(now, &mut AllButResponses0, usize::MAX, &mut out);
    let released: Vec<_> = out.iter().map(|r| (r.source, r.partition)).collect();
    assert_eq!(released, vec![(R, 1), (S, 1)]);
    assert_eq!(order.held(), 1);
}

#[test]
fn a_head_waits_for_the_empty_input_until_the_idle_limit() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    let start = Instant::now();
    order.push(sent(0, 10));
    assert!(release_all(&mut order, start, false).is_empty());
    assert_eq!(order.next_deadline(), Some(start + IDLE));
    assert!(release_all(&mut order, start + IDLE / 2, false).is_empty());
    order.push(sent(1, 20));
    let out = release_all(&mut order, start + IDLE, false);
    assert_eq!(order_of(&out), vec![(S, 0), (S, 1)]);
    // Still idle: later records of the other input flow at once, as with Kafka Streams.
    order.push(sent(2, 30));
    assert_eq!(order_of(&release_all(&mut order, start + IDLE, false)), vec![(S, 2)]);
    assert_eq!(order.next_deadline(), None);
}

#[test]
fn committed_records_of_the_empty_input_are_waited_for_past_the_idle_limit() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    let start = Instant::now();
    order.push(sent(0, 10));
    let mut slow_fetch = Ends { committed_ahead: true, ..Ends::default() };
    let mut out = Vec::new();
    order.release(start, &mut slow_fetch, usize::MAX, &mut out);
    assert!(slow_fetch.asked_committed_ahead.is_empty(), "the broker is asked only when the limit ends");
    order.release(start + IDLE, &mut slow_fetch, usize::MAX, &mut out);
    assert!(out.is_empty(), "committed records on the broker are waited for");
    assert_eq!(slow_fetch.asked_committed_ahead, vec![(R, 0)]);
    assert_eq!(order.next_deadline(), Some(start + IDLE * 2), "and asked again after another limit");
    // Nothing committed ahead any more (e.g. only an open transaction): the sent record goes.
    let mut open_transaction = Ends::default();
    order.release(start + IDLE * 2, &mut open_transaction, usize::MAX, &mut out);
    assert_eq!(order_of(&out), vec![(S, 0)]);
    order.push(sent(1, 20));
    order.release(start + IDLE * 2, &mut open_transaction, usize::MAX, &mut out);
    assert_eq!(out.len(), 2, "still idle: the broker is not asked per record");
    assert_eq!(open_transaction.asked_committed_ahead.len(), 1);
}

#[test]
fn a_record_of_the_empty_input_restarts_its_idle_clock() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    let start = Instant::now();
    order.push(sent(0, 10));
    assert!(release_all(&mut order, start, false).is_empty());
    order.push(response(0, 5));
    assert_eq!(order_of(&release_all(&mut order, start + IDLE / 2, false)), vec![(R, 0)]);
    // The response queue is empty again: the sent record waits a whole idle limit from now.
    assert_eq!(order.next_deadline(), Some(start + IDLE / 2 + IDLE));
    assert!(release_all(&mut order, start + IDLE, false).is_empty());
}

#[test]
fn a_caught_up_empty_input_does_not_hold_the_other_back() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    order.push(response(0, 10));
    order.push(response(1, 20));
    let mut ends = Ends::caught_up();
    let mut out = Vec::new();
    order.release(Instant::now(), &mut ends, usize::MAX, &mut out);
    assert_eq!(order_of(&out), vec![(R, 0), (R, 1)]);
    assert_eq!(ends.asked_caught_up, vec![(S, 0)], "asked once per release");
    assert_eq!(order.next_deadline(), None);
}

#[test]
fn the_limit_stops_a_release_and_says_more_is_ready() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    for offset in 0..5 {
        order.push(sent(offset, offset));
    }
    let mut out = Vec::new();
    assert!(order.release(Instant::now(), &mut Ends::caught_up(), 3, &mut out));
    assert_eq!(out.len(), 3);
    assert!(!order.release(Instant::now(), &mut Ends::caught_up(), 3, &mut out));
    assert_eq!(out.len(), 5);
}

/// What one test record (no key, no value) counts against the byte bound.
const RECORD: usize = std::mem::size_of::<InputRecord>();

#[test]
fn beyond_the_byte_bound_every_queue_holding_records_is_paused() {
    let mut order = InputOrder::new(IDLE, 3 * RECORD);
    for offset in 0..3 {
        order.push(sent(offset, offset));
    }
    order.push(record(InputTopic::SubmitResponses, 1, 0, 0));
    assert_eq!(order.held_bytes(), 4 * RECORD);
    let changes = order.flow_changes();
    assert_eq!(changes, FlowChanges { pause: vec![(S, 0), (R, 1)], resume: vec![] });
    assert_eq!(order.flow_changes(), FlowChanges::default(), "paused once");
}

#[test]
fn a_paused_queue_resumes_once_the_buffer_is_half_drained() {
    let mut order = InputOrder::new(IDLE, 3 * RECORD);
    for offset in 0..4 {
        order.push(sent(offset, offset));
    }
    assert_eq!(order.flow_changes().pause, vec![(S, 0)]);
    order.push(response(0, 1));
    let mut out = Vec::new();
    // Releases sent 0, sent 1, response 0 (timestamps 0, 1, 1): two sent records remain, above
    // half the bound.
    order.release(Instant::now(), &mut Ends::default(), 3, &mut out);
    assert_eq!(order_of(&out), vec![(S, 0), (S, 1), (R, 0)]);
    assert_eq!(order.held_bytes(), 2 * RECORD);
    assert_eq!(order.flow_changes(), FlowChanges::default(), "still above half the bound");
    order.push(response(1, 2));
    out.clear();
    order.release(Instant::now(), &mut Ends::default(), 1, &mut out);
    assert_eq!(order.held_bytes(), RECORD + RECORD);
    out.clear();
    order.release(Instant::now(), &mut Ends::default(), 1, &mut out);
    assert_eq!(order.flow_changes(), FlowChanges { pause: vec![], resume: vec![(S, 0)] });
}

#[test]
fn a_paused_queue_that_emptied_resumes_at_once_so_its_partner_never_waits_for_it() {
    let mut order = InputOrder::new(IDLE, 2 * RECORD);
    for offset in 0..2 {
        order.push(sent(offset, offset));
        order.push(record(InputTopic::SentMessages, 1, offset, offset));
    }
    assert_eq!(order.flow_changes().pause, vec![(S, 0), (S, 1)]);
    // Partition 0's responses arrive, later than its sent records: partition 0's sent queue
    // empties, the response waits for more sent records, and partition 1 still holds two.
    order.push(response(0, 5));
    let mut out = Vec::new();
    order.release(Instant::now(), &mut Ends::default(), 10, &mut out);
    assert_eq!(order_of(&out), vec![(S, 0), (S, 1)]);
    assert_eq!(order.held_bytes(), 3 * RECORD, "over the bound still");
    assert_eq!(order.flow_changes(), FlowChanges { pause: vec![(R, 0)], resume: vec![(S, 0)] });
}

#[test]
fn held_bytes_count_the_key_and_value_buffers() {
    let mut order = InputOrder::new(IDLE, usize::MAX);
    let mut with_payload = sent(0, 0);
    with_payload.key = Some(vec![0; 10]);
    with_payload.value = Some(Vec::with_capacity(100));
    order.push(with_payload);
    assert!(order.held_bytes() >= RECORD + 110);
    let mut out = Vec::new();
    order.release(Instant::now(), &mut Ends::caught_up(), 10, &mut out);
    assert_eq!(order.held_bytes(), 0);
}

#[test]
fn clearing_drops_held_records_and_resumes_paused_partitions() {
    let mut order = InputOrder::new(IDLE, RECORD);
    order.push(sent(0, 1));
    order.push(sent(1, 2));
    assert_eq!(order.flow_changes().pause, vec![(S, 0)]);
    assert_eq!(order.clear(), vec![(S, 0)]);
    assert_eq!(order.held(), 0);
    assert_eq!(order.held_bytes(), 0);
    assert_eq!(order.next_deadline(), None);
    assert_eq!(order.flow_changes(), FlowChanges::default());
}

#[test]
fn only_the_gateway_inputs_are_ordered() {
    assert!(InputOrder::orders(S) && InputOrder::orders(R));
    for other in
        [InputTopic::MatchedReceipts, InputTopic::ReceiptIndex, InputTopic::ReceiptsById, InputTopic::DeliveryReports]
    {
        assert!(!InputOrder::orders(other));
    }
}
