//! Whether the consumer has read all there is of an input partition, from what librdkafka
//! already knows (no request to the broker): the high watermark its last fetch response carried,
//! against the consumer's position.

use std::ffi::CString;
use std::time::Duration;

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// librdkafka's cached `(low, high)` watermarks of a partition, if a fetch response gave them.
fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1, -1);
    // SAFETY: the client pointer is valid while `consumer` is borrowed, `topic` is a NUL-terminated
    // string that outlives the call, and `low`/`high` are writable locals. The function only reads
    // librdkafka's per-partition cache under its lock; it makes no request and keeps no pointer.
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some((low, high))
}

/// The consumer's positions (next offset to hand to the application) of its assigned partitions,
/// read once and looked up many times.
pub struct Positions(Option<rdkafka::TopicPartitionList>);

impl Positions {
    pub fn of<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Self {
        Self(consumer.position().ok())
    }

    fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        match self.0.as_ref()?.find_partition(topic, partition)?.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    }
}

/// Whether `topic`/`partition` has nothing more to fetch as far as the last fetch response knew:
/// the position reached the high watermark, or, before any record was consumed since the
/// assignment or a seek (the position is unknown then), the partition is empty. Not the last
/// stable offset: while a transaction on the input is open the position stays below the high
/// watermark, and this says no.
pub fn caught_up<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    positions: &Positions,
    topic: &str,
    partition: i32,
) -> bool {
    let Some((low, high)) = cached_watermarks(consumer, topic, partition) else { return false };
    match positions.get(topic, partition) {
        Some(position) => position >= high,
        None => low == high,
    }
}

/// How long the source thread may wait for the broker's answer in [`committed_ahead`].
const END_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether the broker holds committed records of `topic`/`partition` beyond the consumer's
/// position: asks for the end offset, which for this read_committed consumer is the last stable
/// offset (records of an open transaction do not count). Before the first record since an
/// assignment or a seek the position is not known: the group's committed offset stands for it
/// (the log start without one, as `auto.offset.reset=earliest`). No when the broker does not
/// answer in time.
pub fn committed_ahead<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    positions: &Positions,
    topic: &str,
    partition: i32,
) -> bool {
    let asked = consumer.fetch_watermarks(topic, partition, END_QUERY_TIMEOUT).and_then(|(start, end)| {
        let position = match positions.get(topic, partition) {
            Some(position) => position,
            None => committed_offset(consumer, topic, partition)?.unwrap_or(start),
        };
        Ok(end > position)
    });
    asked.unwrap_or_else(|error| {
        tracing::debug!(%error, topic, partition, "Could not ask where an input ends; not waiting for it");
        false
    })
}

/// The group's committed offset of a partition, if it has one.
fn committed_offset<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> rdkafka::error::KafkaResult<Option<i64>> {
    let mut wanted = rdkafka::TopicPartitionList::new();
    wanted.add_partition(topic, partition);
    let committed = consumer.committed_offsets(wanted, END_QUERY_TIMEOUT)?;
    Ok(match committed.find_partition(topic, partition).map(|e| e.offset()) {
        Some(Offset::Offset(offset)) => Some(offset),
        _ => None,
    })
}
