//! The order in which a partition's two gateway inputs are processed: by record timestamp, not
//! by fetch order, so that a backlog, a replay after a crash and live processing of the same
//! input publish the same statuses.
//!
//! Per partition number, `sent-messages` and `submit-responses` records wait in two FIFO queues
//! (each in offset order); the head with the smaller timestamp goes first, `sent-messages` on a
//! tie. While one queue is empty the other's head waits, unless the empty input is caught up (its
//! consumer position reached the end the fetcher last saw) or it has been empty for the idle
//! limit while the other had records and the broker does not hold committed records of it beyond
//! the position (an open transaction, or a position not known yet); then the other flows until
//! the empty one gets a record, as with Kafka Streams' `max.task.idle.ms`. Records known to be
//! committed are always waited for: a slow fetch does not break the order. Other inputs keep
//! arrival order and never wait here.
//!
//! The buffer is bounded in bytes, over all partitions. Beyond the bound, every queue that holds
//! records asks for its partition to be paused, so that the inputs they wait for catch up; a paused
//! partition resumes once its queue is empty or the buffer is down to half the bound. Pausing is
//! the last resort, not the flow control: librdkafka's pause discards what it had prefetched for
//! the partition, and the resume fetches it again, so a bound that is reached often costs
//! throughput (docs/BENCHMARKS.md, "Timestamp order and pauses").

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::domain::InputTopic;
use crate::kafka::records::InputRecord;

/// The two ordered inputs, in tie-break order.
const ORDERED: [InputTopic; 2] = [InputTopic::SentMessages, InputTopic::SubmitResponses];

/// One input topic-partition.
pub type TopicPartition = (InputTopic, i32);

/// What the buffer asks about the end of an input partition.
pub trait InputEnds {
    /// Nothing left to fetch, as far as the last fetch response knew (cheap, asked often).
    fn caught_up(&mut self, input: InputTopic, partition: i32) -> bool;
    /// Committed records wait on the broker beyond the consumer's position (a request, asked only
    /// when an idle limit ends).
    fn committed_ahead(&mut self, input: InputTopic, partition: i32) -> bool;
}

/// The idle clock of an empty queue whose partner holds records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Idle {
    #[default]
    No,
    Since(Instant),
    /// The limit passed with nothing committed ahead: the partner flows until this queue gets a
    /// record.
    Expired,
}

/// The two queues of one partition number.
#[derive(Default)]
struct Pair {
    queues: [VecDeque<InputRecord>; 2],
    idle: [Idle; 2],
}

/// What a held record costs in memory: its fields and its key and value buffers.
fn held_bytes(record: &InputRecord) -> usize {
    let buffer = |bytes: &Option<Vec<u8>>| bytes.as_ref().map_or(0, Vec::capacity);
    std::mem::size_of::<InputRecord>() + buffer(&record.key) + buffer(&record.value)
}

/// Which consumer partitions to pause and resume after a change of the buffer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FlowChanges {
    pub pause: Vec<TopicPartition>,
    pub resume: Vec<TopicPartition>,
}

pub struct InputOrder {
    pairs: BTreeMap<i32, Pair>,
    max_idle: Duration,
    /// Bytes the held records may take before their partitions are paused.
    max_bytes: usize,
    /// Bytes the held records take now.
    bytes: usize,
    paused: HashSet<TopicPartition>,
}

impl InputOrder {
    pub fn new(max_idle: Duration, max_bytes: usize) -> Self {
        Self { pairs: BTreeMap::new(), max_idle, max_bytes, bytes: 0, paused: HashSet::new() }
    }

    /// Whether records of `input` go through this buffer (the others keep arrival order).
    pub fn orders(input: InputTopic) -> bool {
        ORDERED.contains(&input)
    }

    /// Takes a fetched record of an ordered input, behind the earlier ones of its partition.
    pub fn push(&mut self, record: InputRecord) {
        let Some(side) = side_of(record.source) else { return };
        let pair = self.pairs.entry(record.partition).or_default();
        pair.idle[side] = Idle::No;
        self.bytes += held_bytes(&record);
        pair.queues[side].push_back(record);
    }

    /// Moves up to `limit` records that may be processed now into `out`, in processing order per
    /// partition. Returns whether more could be released at once (the limit stopped it).
    pub fn release(
        &mut self,
        now: Instant,
        ends: &mut impl InputEnds,
        limit: usize,
        out: &mut Vec<InputRecord>,
    ) -> bool {
        let mut released = 0;
        for (&partition, pair) in &mut self.pairs {
            // Asked once per input and release: the answer cannot change meanwhile.
            let mut known_caught_up = [None; 2];
            loop {
                if released >= limit {
                    return true;
                }
                let side = match (pair.queues[0].front(), pair.queues[1].front()) {
                    (None, None) => break,
                    (Some(sent), Some(response)) => usize::from(order_key(response) < order_key(sent)),
                    (Some(_), None) | (None, Some(_)) => {
                        let (waiting, empty) = if pair.queues[0].is_empty() { (1, 0) } else { (0, 1) };
                        let input = ORDERED[empty];
                        if *known_caught_up[empty].get_or_insert_with(|| ends.caught_up(input, partition)) {
                            // Not idle: it has nothing to wait for.
                            pair.idle[empty] = Idle::No;
                        } else {
                            match pair.idle[empty] {
                                Idle::Expired => {}
                                Idle::No => {
                                    pair.idle[empty] = Idle::Since(now);
                                    break;
                                }
                                Idle::Since(since) if now.duration_since(since) < self.max_idle => break,
                                Idle::Since(_) if ends.committed_ahead(input, partition) => {
                                    pair.idle[empty] = Idle::Since(now);
                                    break;
                                }
                                Idle::Since(_) => pair.idle[empty] = Idle::Expired,
                            }
                        }
                        waiting
                    }
                };
                if let Some(record) = pair.queues[side].pop_front() {
                    self.bytes -= held_bytes(&record);
                    out.push(record);
                }
                released += 1;
            }
        }
        false
    }

    /// When the earliest idle limit of a waiting partition ends, if any waits for one.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pairs
            .values()
            .filter(|pair| pair.queues.iter().any(|queue| !queue.is_empty()))
            .flat_map(|pair| pair.idle.iter())
            .filter_map(|idle| match idle {
                Idle::Since(since) => Some(*since + self.max_idle),
                _ => None,
            })
            .min()
    }

    /// Beyond the byte bound, pauses every topic-partition whose queue holds records; resumes a
    /// paused one once its queue is empty (its partner may be waiting for it) or the buffer is
    /// down to half the bound.
    pub fn flow_changes(&mut self) -> FlowChanges {
        let mut changes = FlowChanges::default();
        let over = self.bytes > self.max_bytes;
        let drained = self.bytes <= self.max_bytes / 2;
        for (&partition, pair) in &self.pairs {
            for (side, queue) in pair.queues.iter().enumerate() {
                let topic_partition = (ORDERED[side], partition);
                let paused = self.paused.contains(&topic_partition);
                if !paused && over && !queue.is_empty() {
                    changes.pause.push(topic_partition);
                } else if paused && (drained || queue.is_empty()) {
                    changes.resume.push(topic_partition);
                }
            }
        }
        self.paused.extend(changes.pause.iter().copied());
        for resumed in &changes.resume {
            self.paused.remove(resumed);
        }
        changes
    }

    /// Drops every held record (after a rewind or a rebalance they are fetched again from the
    /// committed offsets, which never cover them) and returns the partitions to resume.
    pub fn clear(&mut self) -> Vec<TopicPartition> {
        self.pairs.clear();
        self.bytes = 0;
        self.paused.drain().collect()
    }

    /// How many records are held.
    pub fn held(&self) -> usize {
        self.pairs.values().flat_map(|pair| pair.queues.iter()).map(VecDeque::len).sum()
    }

    /// How many bytes the held records take (as the bound counts them).
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }
}

fn side_of(input: InputTopic) -> Option<usize> {
    ORDERED.iter().position(|ordered| *ordered == input)
}

/// Timestamp order. The broker stamps every record of a current message format; one without a
/// timestamp sorts first rather than wait.
fn order_key(record: &InputRecord) -> Option<i64> {
    record.timestamp_ms
}

#[cfg(test)]
#[path = "input_order_tests.rs"]
mod tests;
