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
//! A queue longer than the cap asks for its partition to be paused, so the buffer stays bounded
//! while the other input catches up; it is resumed once half drained.

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

/// Which consumer partitions to pause and resume after a change of the buffer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FlowChanges {
    pub pause: Vec<TopicPartition>,
    pub resume: Vec<TopicPartition>,
}

pub struct InputOrder {
    pairs: BTreeMap<i32, Pair>,
    max_idle: Duration,
    cap: usize,
    paused: HashSet<TopicPartition>,
}

impl InputOrder {
    pub fn new(max_idle: Duration, cap: usize) -> Self {
        Self { pairs: BTreeMap::new(), max_idle, cap: cap.max(2), paused: HashSet::new() }
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
                out.extend(pair.queues[side].pop_front());
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

    /// Pauses a topic-partition whose queue reached the cap, resumes one drained to half of it.
    pub fn flow_changes(&mut self) -> FlowChanges {
        let mut changes = FlowChanges::default();
        for (&partition, pair) in &self.pairs {
            for (side, queue) in pair.queues.iter().enumerate() {
                let topic_partition = (ORDERED[side], partition);
                let paused = self.paused.contains(&topic_partition);
                if !paused && queue.len() >= self.cap {
                    changes.pause.push(topic_partition);
                } else if paused && queue.len() <= self.cap / 2 {
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
        self.paused.drain().collect()
    }

    /// How many records are held.
    pub fn held(&self) -> usize {
        self.pairs.values().flat_map(|pair| pair.queues.iter()).map(VecDeque::len).sum()
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
