//! Producing planned records to Kafka and accounting for every delivery.
//!
//! The producer is configured like the gateway's Java producers would be, because the tracker
//! relies on it: `murmur2_random` is the Java client's default partitioner, so a message id maps
//! to the same partition number in both topics (given equal partition counts), and idempotence
//! with `acks=all` keeps each partition's records in the order they were sent, without duplicates
//! from retries — so the only duplicates are the ones the generator planned.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;

use crate::records::{PlannedRecord, Topic};

/// How long librdkafka may keep retrying a record before reporting it failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for the producer id before sending anyway (a broker that is down at the
/// start is waited for by the deliveries themselves, as before).
const PRODUCER_ID_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivery outcomes, counted on librdkafka's polling thread, and whether the producer has its id.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    has_producer_id: AtomicBool,
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // librdkafka tells that its idempotent producer got its id only in its `eos` debug log:
        // `Idempotent producer state change WaitPID -> Assigned` (facility IDEMPSTATE).
        if facility == "IDEMPSTATE" && message.ends_with("-> Assigned") {
            self.has_producer_id.store(true, Ordering::Release);
        }
        DefaultClientContext.log(level, facility, message);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

/// Final delivery counts after [`Sender::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u64,
    pub failed: u64,
    pub first_error: Option<String>,
}

pub struct Sender {
    producer: ThreadedProducer<Deliveries>,
    sent_topic: String,
    responses_topic: String,
    delivery_reports_topic: Option<String>,
    enqueued: u64,
}

/// The producer settings; see the module documentation for why each matters.
pub fn client_config(base: ClientConfig) -> ClientConfig {
    let mut config = base;
    config
        .set("client.id", "sms-loadgen")
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("delivery.timeout.ms", DELIVERY_TIMEOUT.as_millis().to_string());
    // The `eos` debug log says when the producer has its id (`Sender::wait_for_producer_id`); a
    // `debug` the user set is kept.
    let debug = match config.get("debug") {
        Some(contexts) if !contexts.trim().is_empty() => format!("{contexts},eos"),
        _ => "eos".to_owned(),
    };
    config.set("debug", debug);
    // rust-rdkafka sets librdkafka's log level from the `log` crate's (RUST_LOG): at its default
    // librdkafka would not emit that debug line at all. Emitted, it is still filtered by RUST_LOG.
    config.set_log_level(RDKafkaLogLevel::Debug);
    config
}

impl Sender {
    pub fn new(base: ClientConfig, sent_topic: &str, responses_topic: &str) -> Result<Self> {
        let producer =
            client_config(base).create_with_context(Deliveries::default()).context("creating the Kafka producer")?;
        Ok(Self {
            producer,
            sent_topic: sent_topic.into(),
            responses_topic: responses_topic.into(),
            delivery_reports_topic: None,
            enqueued: 0,
        })
    }

    /// Waits until the idempotent producer has its id, so that the first records are produced when
    /// the clock starts rather than held in its queue meanwhile, and timed from their creation as
    /// if the tracker had been slow (docs/BENCHMARKS.md, "The stall after a restart"). librdkafka
    /// asks for the id at once, but if no broker connection is up at that moment — it drops the
    /// bootstrap connection once it knows the brokers, and connects to them only when needed — it
    /// asks again only 500 ms later, or when a metadata answer comes. So this asks for the
    /// topic's metadata meanwhile: that needs a connection, and its answer makes librdkafka ask
    /// for the id over it. A gateway's long-lived producer has its id long before.
    pub fn wait_for_producer_id(&self) {
        let deadline = Instant::now() + PRODUCER_ID_TIMEOUT;
        while !self.producer.context().has_producer_id.load(Ordering::Acquire) {
            if Instant::now() >= deadline {
                eprintln!("sms-loadgen: no producer id from the broker within {PRODUCER_ID_TIMEOUT:?}; sending anyway");
                return;
            }
            // An error is a broker not reachable yet: the deadline decides.
            let _ = self.producer.client().fetch_metadata(Some(&self.sent_topic), Duration::from_millis(500));
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Where receipts go; without it, sending one is an error.
    pub fn with_delivery_reports(mut self, topic: Option<&str>) -> Self {
        self.delivery_reports_topic = topic.map(str::to_owned);
        self
    }

    /// Enqueues one record, waiting for room while librdkafka's queue is full.
    pub fn send(&mut self, record: &PlannedRecord) -> Result<()> {
        let topic = match record.topic {
            Topic::Sent => &self.sent_topic,
            Topic::Responses => &self.responses_topic,
            Topic::DeliveryReports => self
                .delivery_reports_topic
                .as_ref()
                .context("a receipt was planned without --delivery-reports-topic")?,
        };
        let mut base: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).payload(&record.value);
        if let Some(key) = &record.key {
            base = base.key(key.as_str());
        }
        loop {
            match self.producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // Serves delivery reports while waiting, which is what frees queue space.
                    self.producer.poll(Duration::from_millis(10));
                    base = returned;
                }
                Err((error, _)) => return Err(error).context(format!("enqueueing a record for topic {topic}")),
            }
        }
        self.enqueued += 1;
        Ok(())
    }

    pub fn enqueued(&self) -> u64 {
        self.enqueued
    }

    pub fn delivered(&self) -> u64 {
        self.producer.context().delivered.load(Ordering::Relaxed)
    }

    /// Waits for every enqueued record's delivery report and returns the counts.
    pub fn finish(self) -> Result<DeliveryReport> {
        let timeout = Timeout::After(DELIVERY_TIMEOUT + Duration::from_secs(10));
        self.producer.flush(timeout).context("waiting for outstanding deliveries")?;
        let context = self.producer.context();
        let report = DeliveryReport {
            delivered: context.delivered.load(Ordering::Relaxed),
            failed: context.failed.load(Ordering::Relaxed),
            first_error: context.first_error.lock().ok().and_then(|e| e.clone()),
        };
        if report.delivered + report.failed != self.enqueued {
            bail!(
                "{} records enqueued but {} delivery reports received",
                self.enqueued,
                report.delivered + report.failed
            );
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configures_java_compatible_partitioning_and_safe_delivery() {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", "broker:9092");
        let config = client_config(base);
        assert_eq!(config.get("bootstrap.servers"), Some("broker:9092"));
        assert_eq!(config.get("partitioner"), Some("murmur2_random"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("linger.ms"), Some("5"));
        assert_eq!(config.get("compression.type"), Some("lz4"));
        assert_eq!(config.get("debug"), Some("eos"), "the log that tells when the producer has its id");
        assert!(matches!(config.log_level, RDKafkaLogLevel::Debug), "emitted whatever RUST_LOG says");
        base = ClientConfig::new();
        base.set("debug", "broker,msg");
        assert_eq!(client_config(base).get("debug"), Some("broker,msg,eos"), "the user's debug is kept");
    }

    #[test]
    fn the_producer_id_is_known_from_librdkafkas_state_change() {
        let deliveries = Deliveries::default();
        let debug = RDKafkaLogLevel::Debug;
        deliveries.log(debug, "IDEMPSTATE", "Idempotent producer state change RequestPID -> WaitTransport");
        deliveries.log(debug, "GETPID", "localhost:9092/1: Acquiring ProducerId");
        assert!(!deliveries.has_producer_id.load(Ordering::Acquire));
        deliveries.log(debug, "IDEMPSTATE", "Idempotent producer state change WaitPID -> Assigned");
        assert!(deliveries.has_producer_id.load(Ordering::Acquire));
    }

    #[test]
    fn creates_a_producer_without_contacting_the_broker() {
        // librdkafka connects lazily; creation only validates the configuration.
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", "127.0.0.1:1");
        assert!(Sender::new(base, "a", "b").is_ok());
    }
}
