//! # sms-tracker
//!
//! Tracks the status of SMS messages sent by a message gateway, on Kafka.
//!
//! ## Layout
//!
//! - [`domain`] — pure logic: validating input records ([`domain::wire`]), the per-message state
//!   machine and per-partition table ([`domain::state`]), rendering output ([`domain::output`]).
//! - [`config`] — flags and `SMS_TRACKER_*` environment variables.
//! - [`kafka`] — librdkafka settings (one translation point), topic checks, the consumer thread.
//! - [`actors`] — router → partition actors → sink (transactions), the actor pipeline.
//! - [`telemetry`], [`health`], [`http`] — metrics, readiness, the HTTP endpoints.
//! - [`app`] — wiring and lifecycle: [`app::run`].
//!
//! Data flow: consumer thread → `Router` (batches) → `PartitionActor` per partition (validate,
//! apply to [`domain::PartitionState`], render) → `Sink` (produce in a transaction, commit with
//! the consumed offsets every commit interval).

pub mod actors;
pub mod allocator;
pub mod app;
pub mod config;
pub mod domain;
pub mod health;
pub mod http;
pub mod kafka;
pub mod telemetry;
