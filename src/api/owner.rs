//! Who answers for a partition this instance does not own. The one place that knows: forwarding
//! (issue 14's next step) replaces [`owner_of`] with the group's current owner's address, learnt
//! from the instances' announcements, and the route forwards instead of refusing.

/// The owner of a partition, as far as this instance knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Not known: owner discovery does not exist yet, so the client must ask another instance.
    Unknown,
}

/// The instance owning `partition` in the current group generation.
pub fn owner_of(_partition: i32) -> Owner {
    Owner::Unknown
}
