//! The one place where configuration becomes librdkafka settings.
//!
//! User properties are applied first; the settings the tracker's guarantees depend on are forced
//! afterwards, each with the reason, so a pass-through property cannot silently break them.

use rdkafka::ClientConfig;

use crate::config::Config;

/// Settings shared by every client: bootstrap servers and the user's pass-through properties
/// (security, timeouts, ...).
fn base(config: &Config) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap_servers);
    client.set("client.id", format!("{}-{}", config.application_id, config.instance_name()));
    for (key, value) in config.kafka_properties.iter().filter(|(key, _)| !key.is_empty()) {
        client.set(key, value);
    }
    if let Some(username) = &config.sasl_username {
        client.set("sasl.username", username);
    }
    if let Some(password) = &config.sasl_password {
        client.set("sasl.password", password);
    }
    client
}

/// The group consumer of both input topics.
pub fn consumer(config: &Config) -> ClientConfig {
    let mut client = base(config);
    set_default(&mut client, "auto.offset.reset", "earliest");
    // Statistics feed the consumer lag metric.
    set_default(&mut client, "statistics.interval.ms", "5000");
    // Let the broker gather up to 64 KiB or 5 ms of input per fetch. With librdkafka's defaults
    // (1 byte, 500 ms) a steady trickle is fetched a few records at a time, and every fetch wakes
    // the whole pipeline: at 17,000 records/s this cut the tracker's CPU by a third for ~4 ms of
    // latency; an idle tracker now uses ~1.5 % of a core instead of ~0.3 % (docs/BENCHMARKS.md).
    set_default(&mut client, "fetch.min.bytes", "65536");
    set_default(&mut client, "fetch.wait.max.ms", "5");
    // Offsets are committed inside the producer's transactions, never by the consumer itself.
    client.set("enable.auto.commit", "false");
    client.set("enable.auto.offset.store", "false");
    // Only committed outputs of transactional producers may be read (changelog, reprocessing).
    client.set("isolation.level", "read_committed");
    client.set("group.id", &config.application_id);
    // Other instances find this one's lookup API through the group coordinator (`owners`).
    if config.advertised_address.is_some() {
        client.set("client.id", group_client_id(config));
    }
    // `range` gives one consumer partition p of both topics together (equal partition counts);
    // the join is only correct then. Sticky/cooperative assignors spread them independently.
    client.set("partition.assignment.strategy", "range");
    client.set("group.protocol", "classic");
    client.set("enable.partition.eof", "false");
    if config.static_membership {
        client.set("group.instance.id", config.instance_name());
    }
    client
}

/// The group consumer's `client.id`, carrying `--advertised-address` to the other members.
pub fn group_client_id(config: &Config) -> String {
    let name = format!("{}-{}", config.application_id, config.instance_name());
    super::owners::client_id(&name, config.advertised_address.as_deref())
}

/// The assign-only consumer that replays a changelog partition; it reads committed data only.
pub fn restore_consumer(config: &Config) -> ClientConfig {
    let mut client = base(config);
    client.set("isolation.level", "read_committed");
    client.set("enable.auto.commit", "false");
    client.set("enable.partition.eof", "false");
    // The replay starts at the low watermark it just read; should the log start have moved past
    // it since, read from the new start, as from the beginning (librdkafka's default, "latest",
    // would skip the whole changelog).
    client.set("auto.offset.reset", "earliest");
    // librdkafka assigns partitions only with a group.id, and then looks up the group's
    // coordinator. The tracker's own group needs no further ACL; assigning (never subscribing)
    // and never committing, this consumer does not join it or touch its offsets.
    client.set("group.id", &config.application_id);
    client
}

/// The transactional producer of outputs, dead letters and (later) changelog records.
pub fn producer(config: &Config) -> ClientConfig {
    let mut client = base(config);
    set_default(&mut client, "linger.ms", "5");
    set_default(&mut client, "compression.type", "lz4");
    // The coordinator answers CONCURRENT_TRANSACTIONS when a transaction starts while the last
    // one's markers are still being written; librdkafka retries after retry.backoff.ms (100 by
    // default), which added 100 ms to some commits. The Java client retries that case after
    // 20 ms. Backoff still grows exponentially to retry.backoff.max.ms during a broker outage.
    // Measured at 100,000 records/s: p99 completion latency 491 -> 342 ms (docs/BENCHMARKS.md).
    set_default(&mut client, "retry.backoff.ms", "10");
    // A short transaction timeout bounds how long a crashed instance's open transaction blocks
    // read_committed readers of its partitions, when another instance takes them over.
    set_default(&mut client, "transaction.timeout.ms", "10000");
    // One producer per process (KIP-447): the id is stable per instance, so a restarted instance
    // aborts its predecessor's open transaction at once.
    client.set("transactional.id", transactional_id(config));
    client.set("enable.idempotence", "true");
    client.set("acks", "all");
    client
}

/// Administrative client for topic checks and creation.
pub fn admin(config: &Config) -> ClientConfig {
    base(config)
}

/// Applies a tracker default only where the user did not set the property.
fn set_default(client: &mut ClientConfig, key: &str, value: &str) {
    if client.get(key).is_none() {
        client.set(key, value);
    }
}

pub fn transactional_id(config: &Config) -> String {
    format!("{}-{}", config.application_id, config.instance_name())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn guarantees_cannot_be_overridden_by_pass_through_properties() {
        let config = Config::try_parse_from([
            "sms-tracker",
            "--instance-id",
            "pod-0",
            "--kafka-property",
            "enable.auto.commit=true,isolation.level=read_uncommitted,partition.assignment.strategy=cooperative-sticky",
            "--kafka-property",
            "security.protocol=SASL_SSL,linger.ms=20",
        ])
        .unwrap();
        let consumer = consumer(&config);
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(consumer.get("isolation.level"), Some("read_committed"));
        assert_eq!(consumer.get("partition.assignment.strategy"), Some("range"));
        assert_eq!(consumer.get("security.protocol"), Some("SASL_SSL"));
        let producer = producer(&config);
        assert_eq!(producer.get("transactional.id"), Some("sms-tracker-pod-0"));
        assert_eq!(producer.get("linger.ms"), Some("20"));
    }

    /// The replay of a changelog starts at an explicit offset; were that offset gone, resetting to
    /// the end would restore an empty state without a word.
    #[test]
    fn a_restore_never_skips_to_the_end_of_a_changelog() {
        let config = Config::try_parse_from(["sms-tracker", "--kafka-property", "auto.offset.reset=latest"]).unwrap();
        let restore = restore_consumer(&config);
        assert_eq!(restore.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(restore.get("isolation.level"), Some("read_committed"));
    }
}
