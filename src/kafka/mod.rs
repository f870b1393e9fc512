//! Everything that talks to Kafka: settings, topic checks, the consumer thread and the records
//! that cross between Kafka and the actors.

pub mod backoff;
pub mod consumer;
pub mod delivery;
pub mod records;
pub mod restore;
pub mod settings;
pub mod topics;
