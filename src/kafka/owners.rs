//! Which instance owns each input partition in the group's current generation, as the group
//! coordinator says (DescribeGroups): the members and their assignments. An instance that wants
//! to be asked advertises its API address in its group consumer's `client.id`
//! ([`client_id`]), the one free-form string of a member that the coordinator hands to the
//! others; no topic of announcements can then disagree with the real assignment.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::error::KafkaError;

use super::group::ConsumerGroup;

/// Separates the member's name from its advertised address in its `client.id`.
const ADDRESS_MARK: char = '@';

/// The group consumer's `client.id`: `name`, and `@address` when the instance advertises one.
pub fn client_id(name: &str, advertised: Option<&str>) -> String {
    match advertised {
        Some(address) => format!("{name}{ADDRESS_MARK}{address}"),
        None => name.to_owned(),
    }
}

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub client_id: String,
    /// Its lookup API, if it advertises one.
    pub address: Option<String>,
}

/// The group as the coordinator sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    /// A generation is in force: the owner of each assigned partition of the input topic.
    Stable(HashMap<i32, Member>),
    /// Members are joining or leaving: assignments are about to change.
    Rebalancing,
}

/// Asks the coordinator (blocking, up to `timeout`) who owns each partition of `topic`.
pub fn describe(
    group: &dyn ConsumerGroup,
    group_id: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Group, KafkaError> {
    let list = group.group_list(group_id, timeout)?;
    let Some(info) = list.groups().iter().find(|g| g.name() == group_id) else { return Ok(Group::Rebalancing) };
    if info.state() != "Stable" {
        return Ok(Group::Rebalancing);
    }
    let mut owners = HashMap::new();
    for member in info.members() {
        let partitions = member.assignment().and_then(|bytes| assigned_partitions(bytes, topic)).unwrap_or_default();
        let client_id = member.client_id();
        let address = advertised(client_id).map(str::to_owned);
        for partition in partitions {
            owners.insert(partition, Member { client_id: client_id.to_owned(), address: address.clone() });
        }
    }
    Ok(Group::Stable(owners))
}

/// The address in a member's `client.id`, if it carries one: after the last `@`, and `host:port`
/// (a member without one may still have an `@` in its name).
fn advertised(client_id: &str) -> Option<&str> {
    let (_, address) = client_id.rsplit_once(ADDRESS_MARK)?;
    let (host, port) = address.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then_some(address)
}

/// The partitions of `topic` in a member's assignment, in Kafka's consumer protocol encoding
/// (`ConsumerProtocolAssignment` v0–v3: version int16, then [topic string16, [partition int32]],
/// then user data, which is ignored). `None` if the bytes are not such an assignment.
pub fn assigned_partitions(bytes: &[u8], topic: &str) -> Option<Vec<i32>> {
    let mut reader = Reader(bytes);
    let _version = reader.i16()?;
    let topics = reader.count()?;
    let mut found = Vec::new();
    for _ in 0..topics {
        let name = reader.string()?;
        let partitions = reader.count()?;
        for _ in 0..partitions {
            let partition = reader.i32()?;
            if name == topic.as_bytes() {
                found.push(partition);
            }
        }
    }
    Some(found)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// An array length; a null array (-1) holds nothing.
    fn count(&mut self) -> Option<usize> {
        Some(usize::try_from(self.i32()?).unwrap_or(0))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.i16()?).ok()?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])], user_data: &[u8]) -> Vec<u8> {
        let mut bytes = 1_i16.to_be_bytes().to_vec();
        bytes.extend((topics.len() as i32).to_be_bytes());
        for (topic, partitions) in topics {
            bytes.extend((topic.len() as i16).to_be_bytes());
            bytes.extend(topic.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for partition in *partitions {
                bytes.extend(partition.to_be_bytes());
            }
        }
        bytes.extend((user_data.len() as i32).to_be_bytes());
        bytes.extend(user_data);
        bytes
    }

    #[test]
    fn the_partitions_of_one_topic_are_read_from_an_assignment() {
        let bytes = assignment(&[("sent", &[0, 2]), ("responses", &[0, 2]), ("dlr", &[1])], b"x");
        assert_eq!(assigned_partitions(&bytes, "sent"), Some(vec![0, 2]));
        assert_eq!(assigned_partitions(&bytes, "dlr"), Some(vec![1]));
        assert_eq!(assigned_partitions(&bytes, "other"), Some(vec![]));
        assert_eq!(assigned_partitions(&assignment(&[], b""), "sent"), Some(vec![]));
    }

    #[test]
    fn truncated_or_garbage_assignments_are_refused_without_panicking() {
        let bytes = assignment(&[("sent", &[0, 2])], b"");
        for end in 0..bytes.len() - 4 {
            assert_eq!(assigned_partitions(&bytes[..end], "sent"), None, "cut at {end}");
        }
        assert_eq!(assigned_partitions(&[0, 1, 0x7f, 0xff, 0xff, 0xff], "sent"), None);
    }

    #[test]
    fn the_address_rides_in_the_client_id() {
        assert_eq!(client_id("app-pod-0", Some("pod-0.svc:8081")), "app-pod-0@pod-0.svc:8081");
        assert_eq!(client_id("app-pod-0", None), "app-pod-0");
        assert_eq!(advertised("app-pod-0@pod-0.svc:8081"), Some("pod-0.svc:8081"));
        assert_eq!(advertised("app-a@b@10.0.0.5:8081"), Some("10.0.0.5:8081"));
        for none in ["app-pod-0", "app-a@b", "app@:8081", "app@host:port"] {
            assert_eq!(advertised(none), None, "{none:?}");
        }
    }
}
