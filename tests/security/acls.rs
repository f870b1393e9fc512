//! The tracker's ACL list, read from README "Security" (the table between the `tracker-acls`
//! markers), so that the tests grant exactly what the README tells users to grant.

/// A kind of resource an ACL is about, as `kafka-acls` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceType {
    Topic,
    Group,
    TransactionalId,
    Cluster,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    Literal,
    Prefixed,
}

/// When the tracker needs a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// With `--delivery-reports-topic` (receipt tracking).
    Receipts,
    /// With `--create-topics` (the tracker creates missing input topics).
    CreateTopics,
}

/// One ACL for concrete names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acl {
    pub resource: ResourceType,
    pub name: String,
    pub pattern: Pattern,
    pub operation: String,
}

/// One row of the README's table, its name still a placeholder like `<sent-topic>`.
#[derive(Debug, Clone)]
pub struct Row {
    pub resource: ResourceType,
    pub name: String,
    pub pattern: Pattern,
    pub operation: String,
    pub when: When,
}

/// The names the placeholders stand for.
pub struct Names<'a> {
    pub application_id: &'a str,
    pub sent: &'a str,
    pub responses: &'a str,
    pub delivery_reports: &'a str,
    pub status: &'a str,
    pub dead_letters: &'a str,
}

impl Row {
    /// Whether a tracker with or without receipt tracking and `--create-topics` needs this row.
    pub fn applies(&self, receipts: bool, create_topics: bool) -> bool {
        let needs_receipts = self.when == When::Receipts || self.name.contains("<delivery-reports-topic>");
        (receipts || !needs_receipts) && (create_topics || self.when != When::CreateTopics)
    }

    pub fn resolve(&self, names: &Names<'_>) -> Acl {
        let name = self
            .name
            .replace("<application-id>", names.application_id)
            .replace("<sent-topic>", names.sent)
            .replace("<responses-topic>", names.responses)
            .replace("<delivery-reports-topic>", names.delivery_reports)
            .replace("<status-topic>", names.status)
            .replace("<dead-letter-topic>", names.dead_letters);
        assert!(!name.contains('<'), "unknown placeholder in {:?}", self.name);
        Acl { resource: self.resource, name, pattern: self.pattern, operation: self.operation.clone() }
    }
}

/// Every row of the table in README.md.
pub fn readme_rows() -> Vec<Row> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let start = readme.find("<!-- tracker-acls:start -->").expect("README has the ACL table start marker");
    let end = readme.find("<!-- tracker-acls:end -->").expect("README has the ACL table end marker");
    let rows: Vec<Row> = readme[start..end]
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2) // header and separator
        .map(parse_row)
        .collect();
    assert!(!rows.is_empty(), "the ACL table has rows");
    rows
}

fn parse_row(line: &str) -> Row {
    let cells: Vec<&str> = line.trim_matches('|').split('|').map(|cell| cell.trim().trim_matches('`')).collect();
    assert!(cells.len() >= 5, "ACL row with too few cells: {line}");
    let resource = match cells[0] {
        "Topic" => ResourceType::Topic,
        "Group" => ResourceType::Group,
        "TransactionalId" => ResourceType::TransactionalId,
        "Cluster" => ResourceType::Cluster,
        other => panic!("unknown resource type {other:?} in: {line}"),
    };
    let pattern = match cells[2] {
        "LITERAL" => Pattern::Literal,
        "PREFIXED" => Pattern::Prefixed,
        other => panic!("unknown pattern type {other:?} in: {line}"),
    };
    let when = match cells[4] {
        "always" => When::Always,
        "receipts" => When::Receipts,
        "--create-topics" => When::CreateTopics,
        other => panic!("unknown condition {other:?} in: {line}"),
    };
    Row { resource, name: cells[1].to_owned(), pattern, operation: cells[3].to_owned(), when }
}

/// The ACLs `scripts/tracker-acls.sh` prints (one `kafka-acls.sh --add` command per line).
pub fn script_acls(args: &[&str]) -> Vec<Acl> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tracker-acls.sh");
    let output = std::process::Command::new(script).args(args).output().expect("run scripts/tracker-acls.sh");
    assert!(output.status.success(), "tracker-acls.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(parse_command).collect()
}

fn parse_command(line: &str) -> Acl {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |flag: &str| words.iter().position(|w| *w == flag).map(|i| words[i + 1].to_owned());
    let (resource, name) = [
        ("--topic", ResourceType::Topic),
        ("--group", ResourceType::Group),
        ("--transactional-id", ResourceType::TransactionalId),
    ]
    .into_iter()
    .find_map(|(flag, resource)| after(flag).map(|name| (resource, name)))
    .unwrap_or_else(|| panic!("no resource in: {line}"));
    let pattern = match after("--resource-pattern-type").as_deref() {
        Some("prefixed") => Pattern::Prefixed,
        Some("literal") | None => Pattern::Literal,
        Some(other) => panic!("unknown pattern type {other} in: {line}"),
    };
    assert!(words.contains(&"--add") && words.contains(&"--allow-principal"), "an allow ACL: {line}");
    Acl { resource, name, pattern, operation: after("--operation").expect("--operation") }
}
