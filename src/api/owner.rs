//! Who answers for a partition this instance does not own: the group coordinator's view of the
//! current generation ([`crate::kafka::owners`]), kept until this instance sees its own
//! assignment change (every rebalance changes it: [`PartitionLookups::assignments_seen`]), so that
//! lookups between rebalances — a person's now and then included — cost no DescribeGroups. The
//! routes ask [`Owners::owner_of`] and nothing else.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::kafka::group::ConsumerGroup;
use crate::kafka::owners::{Group, describe};
use crate::pipeline::lookups::PartitionLookups;

/// The longest one answer of the coordinator is reused while this instance's assignment stays
/// the same: a rebalance changes it first, and a forward that finds the owner gone or no longer
/// owning drops the answer at once ([`Owners::forget`]). Bounds what an unforeseen change could
/// cost: lookups forwarded to the wrong instance answer 503, never a wrong status.
const CACHE_FOR: Duration = Duration::from_secs(30);
/// A rebalance ends within moments: its answer is reused only briefly, to spare the coordinator
/// a burst of lookups meanwhile.
const CACHE_REBALANCING_FOR: Duration = Duration::from_millis(250);
/// How long to wait for the coordinator.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The owner of a partition, as far as this instance can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Another instance, reachable at `address`.
    Remote { address: String, member: String },
    /// Another instance that advertises no address (`--advertised-address` not set there).
    NoAddress { member: String },
    /// A rebalance is under way, the partition is unassigned, or the coordinator says this very
    /// instance owns it while its partition actor is not there yet: ask again shortly.
    Changing,
    /// The coordinator did not answer.
    Unknown(String),
}

/// The group's owners of the input partitions, from its coordinator.
pub struct Owners {
    group: Arc<dyn ConsumerGroup>,
    group_id: String,
    /// Owners are read from the assignments of this input (both inputs are assigned together).
    topic: String,
    /// This instance's own member `client.id`.
    me: String,
    /// This instance's partitions: when its assignment changes, the cached owners are stale.
    lookups: Arc<PartitionLookups>,
    cache: Mutex<Option<Cached>>,
    /// Held while the coordinator is asked: lookups that miss the cache together ask once.
    asking: tokio::sync::Mutex<()>,
}

/// One answer of the coordinator: when it was asked for, and this instance's
/// [`PartitionLookups::assignments_seen`] just before.
struct Cached {
    at: Instant,
    assignments_seen: u64,
    group: Arc<Group>,
}

impl Cached {
    /// Still the group's current owners, as far as this instance can tell at `now`.
    fn fresh(&self, now: Instant, assignments_seen: u64) -> bool {
        let fresh_for = if matches!(*self.group, Group::Stable(_)) { CACHE_FOR } else { CACHE_REBALANCING_FOR };
        now.saturating_duration_since(self.at) < fresh_for && self.assignments_seen == assignments_seen
    }
}

impl Owners {
    pub fn new(
        group: Arc<dyn ConsumerGroup>,
        group_id: String,
        topic: String,
        me: String,
        lookups: Arc<PartitionLookups>,
    ) -> Self {
        Self { group, group_id, topic, me, lookups, cache: Mutex::new(None), asking: tokio::sync::Mutex::new(()) }
    }

    /// The instance owning `partition` in the current generation.
    pub async fn owner_of(&self, partition: i32) -> Owner {
        let group = match self.group().await {
            Ok(group) => group,
            Err(error) => return Owner::Unknown(error),
        };
        let Group::Stable(owners) = &*group else { return Owner::Changing };
        match owners.get(&partition) {
            None => Owner::Changing,
            Some(member) if member.client_id == self.me => Owner::Changing,
            Some(member) => match &member.address {
                Some(address) => Owner::Remote { address: address.clone(), member: member.client_id.clone() },
                None => Owner::NoAddress { member: member.client_id.clone() },
            },
        }
    }

    /// Drops the cached owners: a forward found the owner gone or no owner any more.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    async fn group(&self) -> Result<Arc<Group>, String> {
        if let Some(group) = self.cached() {
            return Ok(group);
        }
        let _asking = self.asking.lock().await;
        if let Some(group) = self.cached() {
            return Ok(group);
        }
        // Read before asking: an assignment that changes meanwhile makes this answer stale.
        let (at, assignments_seen) = (Instant::now(), self.lookups.assignments_seen());
        let (group, group_id, topic) = (self.group.clone(), self.group_id.clone(), self.topic.clone());
        let described =
            actix_rt::task::spawn_blocking(move || describe(&*group, &group_id, &topic, DESCRIBE_TIMEOUT)).await;
        let group = match described {
            Ok(Ok(group)) => Arc::new(group),
            Ok(Err(error)) => return Err(format!("the group coordinator did not answer: {error}")),
            Err(_) => return Err("describing the group panicked".to_owned()),
        };
        *self.lock() = Some(Cached { at, assignments_seen, group: group.clone() });
        Ok(group)
    }

    fn cached(&self) -> Option<Arc<Group>> {
        let cache = self.lock();
        let cached = cache.as_ref()?;
        cached.fresh(Instant::now(), self.lookups.assignments_seen()).then(|| cached.group.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn cached(group: Group) -> (Cached, Instant) {
        let at = Instant::now();
        (Cached { at, assignments_seen: 7, group: Arc::new(group) }, at)
    }

    #[test]
    fn owners_are_kept_between_rebalances_and_dropped_by_one() {
        let (stable, at) = cached(Group::Stable(HashMap::new()));
        // A person's lookups minutes apart cost no DescribeGroups in between...
        assert!(stable.fresh(at + Duration::from_secs(20), 7));
        // ...until this instance's assignment changes: a rebalance.
        assert!(!stable.fresh(at + Duration::from_millis(1), 8));
        assert!(!stable.fresh(at + CACHE_FOR, 7));
    }

    #[test]
    fn a_rebalancing_group_is_asked_again_soon() {
        let (rebalancing, at) = cached(Group::Rebalancing);
        assert!(rebalancing.fresh(at + Duration::from_millis(100), 7));
        assert!(!rebalancing.fresh(at + CACHE_REBALANCING_FOR, 7));
    }
}
