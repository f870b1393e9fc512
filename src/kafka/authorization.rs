//! Kafka's authorization errors, turned into what the tracker's principal lacks: which operation on
//! which resource. Kafka's own errors say only the kind of resource ("Topic authorization
//! failed"); the call that failed knows which one and what it needed. README "Security" lists
//! every ACL the tracker needs. None of these can be repaired by retrying: the tracker exits.

use std::fmt;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// An operation an ACL allows, as `kafka-acls --operation` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Create,
    IdempotentWrite,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Create => "CREATE",
            Self::IdempotentWrite => "IDEMPOTENT_WRITE",
        })
    }
}

/// A resource an ACL is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Topic(String),
    /// Kafka refused one of these topics and did not say which (a consumer's fetch).
    OneTopicOf(Vec<String>),
    Group(String),
    TransactionalId(String),
    Cluster,
}

impl Resource {
    /// The error code Kafka answers with when this kind of resource is refused.
    fn denied_code(&self) -> RDKafkaErrorCode {
        match self {
            Self::Topic(_) | Self::OneTopicOf(_) => RDKafkaErrorCode::TopicAuthorizationFailed,
            Self::Group(_) => RDKafkaErrorCode::GroupAuthorizationFailed,
            Self::TransactionalId(_) => RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
            Self::Cluster => RDKafkaErrorCode::ClusterAuthorizationFailed,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Topic(name) => write!(f, "Topic '{name}'"),
            Self::OneTopicOf(names) => write!(f, "one of the Topics '{}'", names.join("', '")),
            Self::Group(name) => write!(f, "Group '{name}'"),
            Self::TransactionalId(id) => write!(f, "TransactionalId '{id}'"),
            Self::Cluster => f.write_str("the Cluster"),
        }
    }
}

/// The permission the tracker's principal lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not authorized: the tracker's principal needs {} on {resource} (README \"Security\" lists every ACL the tracker needs); Kafka said: {cause}",
    operations_text(.operations)
)]
pub struct MissingPermission {
    /// Any of these is missing (one, unless Kafka's answer cannot tell them apart).
    pub operations: Vec<Operation>,
    pub resource: Resource,
    pub cause: String,
}

fn operations_text(operations: &[Operation]) -> String {
    operations.iter().map(Operation::to_string).collect::<Vec<_>>().join(" and ")
}

impl MissingPermission {
    /// `Some` when `error` says that Kafka refused `resource`, which the failed call needed
    /// `operations` on.
    pub fn of(error: &KafkaError, operations: &[Operation], resource: Resource) -> Option<Self> {
        Self::of_code(error.rdkafka_error_code()?, &error.to_string(), operations, resource)
    }

    /// The same for an error code without a [`KafkaError`] around it.
    pub fn of_code(code: RDKafkaErrorCode, cause: &str, operations: &[Operation], resource: Resource) -> Option<Self> {
        (code == resource.denied_code()).then(|| Self {
            operations: operations.to_vec(),
            resource,
            cause: cause.to_owned(),
        })
    }
}

/// Whether `error` is Kafka refusing any resource (rather than the broker being unreachable);
/// such an error does not go away by retrying.
pub fn is_denied(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    )
}

/// Whether `code` says the broker refused the login (wrong user or password, wrong mechanism).
pub fn is_authentication_failure(code: RDKafkaErrorCode) -> bool {
    matches!(code, RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_topic_names_the_operation_and_the_topic() {
        let error = KafkaError::MetadataFetch(RDKafkaErrorCode::TopicAuthorizationFailed);
        let missing = MissingPermission::of(&error, &[Operation::Read], Resource::Topic("sent".into())).unwrap();
        let text = missing.to_string();
        assert!(text.contains("needs READ on Topic 'sent'"), "{text}");
        assert!(MissingPermission::of(&error, &[Operation::Read], Resource::Group("g".into())).is_none());
        assert!(is_denied(&error));
    }

    #[test]
    fn other_errors_are_not_missing_permissions() {
        let error = KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure);
        assert!(MissingPermission::of(&error, &[Operation::Read], Resource::Topic("t".into())).is_none());
        assert!(!is_denied(&error));
        assert!(is_authentication_failure(RDKafkaErrorCode::Authentication));
    }

    #[test]
    fn several_operations_and_topics_are_all_named() {
        let missing = MissingPermission::of_code(
            RDKafkaErrorCode::TopicAuthorizationFailed,
            "Broker: Topic authorization failed",
            &[Operation::Read, Operation::Write],
            Resource::OneTopicOf(vec!["a".into(), "b".into()]),
        )
        .unwrap();
        assert!(missing.to_string().contains("needs READ and WRITE on one of the Topics 'a', 'b'"), "{missing}");
    }
}
