//! What the producer and the restorer need from the group consumer. The consumer itself belongs
//! to the pipeline (its rebalance callbacks drive the pipeline's stages); this trait lets the
//! Kafka layer use it without naming its type, so dependencies point one way.

use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, ConsumerGroupMetadata};
use rdkafka::error::KafkaResult;
use rdkafka::groups::GroupList;

pub trait ConsumerGroup: Send + Sync {
    /// Member id and generation for `send_offsets_to_transaction` (KIP-447 fences a zombie by
    /// them); `None` when this consumer is not a member of the group.
    fn group_metadata(&self) -> Option<ConsumerGroupMetadata>;

    /// The group's committed offsets; under read_committed the broker answers only once no
    /// transaction touching them is pending (stable offsets).
    fn committed_offsets(&self, partitions: TopicPartitionList, timeout: Duration) -> KafkaResult<TopicPartitionList>;

    /// The group's members and their assignments, from its coordinator ([`super::owners`]).
    fn group_list(&self, group: &str, timeout: Duration) -> KafkaResult<GroupList>;
}

impl<C: ConsumerContext> ConsumerGroup for BaseConsumer<C> {
    fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        Consumer::group_metadata(self)
    }

    fn committed_offsets(&self, partitions: TopicPartitionList, timeout: Duration) -> KafkaResult<TopicPartitionList> {
        Consumer::committed_offsets(self, partitions, timeout)
    }

    fn group_list(&self, group: &str, timeout: Duration) -> KafkaResult<GroupList> {
        Consumer::fetch_group_list(self, Some(group), timeout)
    }
}
