//! Everything that talks to Kafka, and nothing of the pipeline's actors: librdkafka settings (one
//! translation point), the first contact with the brokers, topic checks and names, the records
//! that cross the boundary, state restore, the transactional producer protocol, and what Kafka's
//! authorization errors say is missing.

pub mod authorization;
pub mod backoff;
pub mod connection;
pub mod delivery;
pub mod group;
pub mod owners;
pub mod records;
pub mod restore;
pub mod settings;
pub mod topics;
pub mod transaction;
pub mod watermarks;
