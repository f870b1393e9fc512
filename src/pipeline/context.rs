//! What every partition's stage (the message partition actor, the receipt join, the receipt
//! intake) shares with the rest of the pipeline.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;

use super::clock::Clock;
use super::failure::Failures;
use super::sink::Sink;
use crate::domain::Policy;
use crate::domain::receipt_join::JoinPolicy;
use crate::domain::supplier_id::IdFormats;
use crate::health::Health;
use crate::kafka::restore::StateRestore;
use crate::kafka::topics::TopicNames;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct StageContext {
    pub sink: Addr<Sink>,
    pub topics: Arc<TopicNames>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub restorer: Arc<dyn StateRestore>,
    pub clock: Arc<dyn Clock>,
    pub failures: Failures,
    pub policy: Policy,
    pub sweep_interval: Duration,
    /// The inputs' partition count: the receipt join's partition of a part is its receipt key's
    /// hash modulo this.
    pub partitions: i32,
    pub id_formats: Arc<IdFormats>,
    pub join_policy: JoinPolicy,
}
