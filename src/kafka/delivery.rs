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

/// Remembers the topic Kafka refused to add to a transaction. The transaction's error says only
/// "Topic authorization failed"; librdkafka names the topic in its log line (facility ADDPARTS)
/// alone, so that line is read here, then logged as usual.
#[derive(Default)]
pub struct RefusedTopics {
    first: std::sync::Mutex<Option<String>>,
}

impl RefusedTopics {
    /// The first topic refused, if any.
    pub fn first(&self) -> Option<String> {
        self.first.lock().expect("refused topic lock").clone()
    }
}

impl rdkafka::ClientContext for RefusedTopics {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        // `TxnCoordinator/1: Failed to add partition "TOPIC" [3] to transaction: Broker: Topic authorization failed`
        if facility == "ADDPARTS"
            && message.contains("authorization failed")
            && let Some(topic) = message.split('"').nth(1)
        {
            self.first.lock().expect("refused topic lock").get_or_insert_with(|| topic.to_owned());
        }
        rdkafka::client::DefaultClientContext.log(level, facility, message);
    }
}

impl ProducerContext for RefusedTopics {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

#[cfg(test)]
mod tests {
    use rdkafka::ClientContext;
    use rdkafka::config::RDKafkaLogLevel;

    use super::*;

    #[test]
    fn the_topic_refused_to_a_transaction_is_read_from_librdkafkas_log_line() {
        let refused = RefusedTopics::default();
        refused.log(
            RDKafkaLogLevel::Error,
            "ADDPARTS",
            "TxnCoordinator/1: Failed to add partition \"a\" [0] to transaction: Broker: Topic authorization failed",
        );
        refused.log(
            RDKafkaLogLevel::Error,
            "ADDPARTS",
            "TxnCoordinator/1: Failed to add partition \"b\" [0] to transaction: Broker: Topic authorization failed",
        );
        refused.log(RDKafkaLogLevel::Warning, "FAIL", "\"c\" authorization failed");
        assert_eq!(refused.first().as_deref(), Some("a"));
    }
}
