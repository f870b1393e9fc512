//! # sms-tracker
//!
//! Tracks the status of SMS messages sent by a message gateway, on Kafka.
//!
//! ## Layout
//!
//! - [`domain`] — pure logic: validating input records ([`domain::wire`]), the per-message state
//!   machine and per-partition table ([`domain::state`]), rendering output ([`domain::output`]).
pub mod domain;
