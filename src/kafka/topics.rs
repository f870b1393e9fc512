//! Start-up checks and creation of topics.
//!
//! The join is only correct when both inputs are co-partitioned, so the tracker refuses to start
//! otherwise. Input topics belong to the gateway and are created only on request; output topics
//! belong to the tracker and get the inputs' partition count, so that a status goes to the same
//! partition number as the records that caused it.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Config;
use crate::domain::InputTopic;
use crate::kafka::records::Destination;

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// The names of every topic the tracker reads or writes, resolved once from the configuration.
#[derive(Debug, Clone)]
pub struct TopicNames {
    pub sent: String,
    pub responses: String,
    pub status: String,
    pub dead_letter: String,
    pub changelog: String,
}

impl TopicNames {
    pub fn from_config(config: &Config) -> Self {
        Self {
            sent: config.sent_topic.clone(),
            responses: config.responses_topic.clone(),
            status: config.status_topic.clone(),
            dead_letter: config.dead_letter_topic.clone(),
            changelog: config.changelog_topic(),
        }
    }

    pub fn input(&self, input: InputTopic) -> &str {
        match input {
            InputTopic::SentMessages => &self.sent,
            InputTopic::SubmitResponses => &self.responses,
        }
    }

    /// The input a consumed record's topic name stands for.
    pub fn input_of(&self, topic: &str) -> InputTopic {
        if topic == self.sent { InputTopic::SentMessages } else { InputTopic::SubmitResponses }
    }

    pub fn output(&self, destination: Destination) -> &str {
        match destination {
            Destination::Status(_) => &self.status,
            Destination::DeadLetter(_) => &self.dead_letter,
            Destination::Changelog => &self.changelog,
        }
    }
}

/// Why the topics are not usable.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error(
        "input topics are not co-partitioned: {sent_topic} has {sent} partitions, {responses_topic} has {responses} partitions; they must be equal"
    )]
    NotCoPartitioned { sent_topic: String, sent: i32, responses_topic: String, responses: i32 },
    #[error("input topic {0} does not exist (create it, or start with --create-topics for demos and tests)")]
    MissingInput(String),
    #[error("output topic {topic} has {actual} partitions, fewer than the inputs' {expected}")]
    OutputTooSmall { topic: String, actual: i32, expected: i32 },
    #[error(
        "state changelog {topic} has {actual} partitions but the inputs have {expected}; a changelog cannot be re-partitioned (use a new application id)"
    )]
    ChangelogMismatch { topic: String, actual: i32, expected: i32 },
    #[error("Kafka metadata request failed: {0}")]
    Kafka(#[from] KafkaError),
    #[error("could not create topic {topic}: {reason}")]
    Create { topic: String, reason: String },
}

/// Checks and creates topics; returns the inputs' common partition count.
pub async fn prepare(config: &Config) -> Result<i32, TopicError> {
    let admin: AdminClient<DefaultClientContext> = super::settings::admin(config).create()?;
    let mut inputs = Vec::new();
    for topic in [&config.sent_topic, &config.responses_topic] {
        let count = match partition_count(&admin, topic)? {
            Some(count) => count,
            None if config.create_topics => {
                create(&admin, topic, config.partitions, config.replication_factor, &[]).await?;
                config.partitions
            }
            None => return Err(TopicError::MissingInput(topic.clone())),
        };
        inputs.push(count);
    }
    let (sent, responses) = (inputs[0], inputs[1]);
    if sent != responses {
        return Err(TopicError::NotCoPartitioned {
            sent_topic: config.sent_topic.clone(),
            sent,
            responses_topic: config.responses_topic.clone(),
            responses,
        });
    }
    for topic in [&config.status_topic, &config.dead_letter_topic] {
        ensure_output(&admin, topic, sent, config.replication_factor, &[]).await?;
    }
    // The changelog must match exactly: its partition p holds the state of input partition p.
    let changelog = config.changelog_topic();
    ensure_output(&admin, &changelog, sent, config.replication_factor, &[("cleanup.policy", "compact")]).await?;
    match partition_count(&admin, &changelog)? {
        Some(actual) if actual != sent => {
            return Err(TopicError::ChangelogMismatch { topic: changelog, actual, expected: sent });
        }
        _ => {}
    }
    Ok(sent)
}

/// Creates an output topic with `partitions` partitions unless it exists with at least as many.
pub async fn ensure_output(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
    topic_config: &[(&str, &str)],
) -> Result<(), TopicError> {
    match partition_count(admin, topic)? {
        Some(actual) if actual >= partitions => Ok(()),
        Some(actual) => Err(TopicError::OutputTooSmall { topic: topic.to_owned(), actual, expected: partitions }),
        None => create(admin, topic, partitions, replication, topic_config).await,
    }
}

/// The partition count of `topic`, or `None` if it does not exist.
pub fn partition_count(admin: &AdminClient<DefaultClientContext>, topic: &str) -> Result<Option<i32>, TopicError> {
    let metadata = admin.inner().fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match found.error() {
        None if !found.partitions().is_empty() => Ok(Some(found.partitions().len() as i32)),
        None => Ok(None),
        Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => Ok(None),
        Some(e) => Err(TopicError::Kafka(KafkaError::MetadataFetch(e.into()))),
    }
}

async fn create(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
    topic_config: &[(&str, &str)],
) -> Result<(), TopicError> {
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in topic_config {
        new_topic = new_topic.set(key, value);
    }
    let results =
        admin.create_topics([&new_topic], &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT))).await?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, partitions, "Created topic"),
            // Another instance created it at the same moment: fine.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(TopicError::Create { topic: topic.to_owned(), reason: code.to_string() }),
        }
    }
    Ok(())
}
