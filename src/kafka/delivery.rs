//! Waiting for a producer's outstanding deliveries, shared by the transactional producer and the
//! raw-pipe benchmark.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

/// Waits until every produced record is acknowledged, serving delivery reports in 1 ms slices.
/// rdkafka's own flush (inside `commit_transaction`) polls in 100 ms slices that always run to
/// their end, so every commit took at least 100 ms; after this it finds nothing left to wait for.
/// Only the thread that calls this may poll the producer.
pub fn await_deliveries<C: ProducerContext>(producer: &BaseProducer<C>, timeout: Duration) -> KafkaResult<()> {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(KafkaError::Flush(RDKafkaErrorCode::MessageTimedOut));
        }
        producer.poll(Duration::from_millis(1));
    }
    Ok(())
}
