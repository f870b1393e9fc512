//! # sms-tracker
//!
//! Tracks the status of SMS messages sent by a message gateway, on Kafka.
//!
//! ## Layout, in the order data flows
//!
//! Each layer uses only the ones above it (checked by `scripts/check-layers.py` in `make test`):
//!
//! 1. [`domain`] — pure logic, no Kafka, no actors, no clocks: validating input records
//!    ([`domain::wire`]), the per-message state machine and per-partition table
//!    ([`domain::state`]), rendering output ([`domain::output`]), the state's encoding
//!    ([`domain::snapshot`]); receipts: parsing ([`domain::receipt`]), supplier ids
//!    ([`domain::supplier_id`]), the outcome rules ([`domain::delivery`]), the join table
//!    ([`domain::receipt_join`]).
//! 2. [`config`] — flags and `SMS_TRACKER_*` environment variables; [`telemetry`] — every metric,
//!    defined once; [`health`] — what the probes report.
//! 3. [`kafka`] — librdkafka settings (one translation point), topic checks and names, the
//!    records crossing the boundary, state restore from the changelog, whether an input is
//!    caught up ([`kafka::watermarks`]), and the transactional producer protocol
//!    ([`kafka::transaction`]). No actors.
//! 4. [`pipeline`] — the stages, one actor (or thread) each: [`pipeline::source`] (the consumer
//!    thread, which puts each partition's gateway inputs in timestamp order with
//!    [`pipeline::input_order`]) → [`pipeline::router`] → [`pipeline::partition`] (one actor per assigned
//!    partition: validate, apply to the partition's state, render) → [`pipeline::sink`]
//!    (produce in a transaction, commit with the consumed offsets every commit interval). With
//!    receipt tracking, two more stages sit beside the partition actors:
//!    [`pipeline::receipt_intake`] re-keys the gateway's receipts by supplier id, and
//!    [`pipeline::receipt_join`] joins them to the accepted parts and sends them on to their
//!    message's partition (README "Delivery receipts").
//! 5. [`http`] — `/metrics`, `/healthz`, `/readyz`; [`api`] — the lookup API on its own listener
//!    (`GET /v1/messages/{id}`, answered by the owning partition actor through the router, the
//!    view built by [`domain::view`], content masked by [`domain::masking`]; forwarded to the
//!    owning instance, found by [`kafka::owners`], when another one owns the id); [`app`] — wiring and lifecycle:
//!    [`app::run`]; [`cli`] — what the binaries do around it (logging, signals, exit code).
//!
//! [`faults`] is inert unless built with the `fault-injection` feature (tests only).

pub mod allocator;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod faults;
pub mod health;
pub mod http;
pub mod kafka;
pub mod pipeline;
pub mod telemetry;
