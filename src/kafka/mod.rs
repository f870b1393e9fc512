//! Everything that talks to Kafka, and nothing of the pipeline's actors: librdkafka settings (one
//! translation point), topic checks and names, the records that cross the boundary, state
//! restore, and the transactional producer protocol.

pub mod backoff;
pub mod delivery;
pub mod group;
pub mod records;
pub mod restore;
pub mod settings;
pub mod topics;
pub mod transaction;
pub mod watermarks;
