//! Security on the wire: a broker whose only client listener is SASL_SSL (SCRAM-SHA-512, a CA and
//! server certificate made with openssl at start-up) and whose StandardAuthorizer allows nothing
//! without an ACL (`scripts/kafka-secure.sh`, ports 29092/29093; left running like the shared
//! broker, `scripts/kafka-secure.sh stop` stops it).
//!
//! The tracker is configured as the Helm chart configures it (SMS_TRACKER_KAFKA_PROPERTIES with
//! `ssl.ca.location`, SMS_TRACKER_SASL_USERNAME / _PASSWORD), and its principal gets exactly the
//! ACLs README "Security" lists, read from the README itself: with all of them it processes a load
//! with receipts exactly once; without any one of them it exits non-zero, and its error names the
//! missing operation and resource.

mod support;

#[path = "security/acls.rs"]
mod acls;
#[path = "security/admin.rs"]
mod admin;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use acls::{Acl, Names, Pattern, ResourceType, Row};
use support::{Broker, LoadGen, Receipts, Scenario, Tracker, assert_delivery_exactly_once, unique};

const PORT: &str = "29092";
const CONTROLLER_PORT: &str = "29093";
const ADMIN_PASSWORD: &str = "admin-secret";
/// The delivery timeout of the load test: longer than the restart and the recovery after it (a
/// receipt delayed by it still decides), short enough to decide the messages without one.
const DELIVERY_TIMEOUT_SECONDS: u64 = 40;

/// The secured broker, started once per test binary; returns the CA certificate's path.
fn secure_broker() -> &'static str {
    static CA: OnceLock<String> = OnceLock::new();
    CA.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka-secure.sh");
        let run = |action: &str| {
            let output = Command::new(script)
                .arg(action)
                .env("KAFKA_SECURE_PORT", PORT)
                .env("KAFKA_SECURE_CONTROLLER_PORT", CONTROLLER_PORT)
                .env("KAFKA_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .output()
                .expect("run scripts/kafka-secure.sh");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "scripts/kafka-secure.sh {action} failed: {stderr}");
            String::from_utf8(output.stdout).unwrap()
        };
        run("start");
        let env = run("env");
        let ca = env.lines().find_map(|line| line.strip_prefix("KAFKA_CA_LOCATION=")).expect("CA location").to_owned();
        let properties = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "admin"),
            ("sasl.password", ADMIN_PASSWORD),
            ("ssl.ca.location", &ca),
        ];
        let properties = properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        support::use_broker(Broker { bootstrap: format!("localhost:{PORT}"), properties });
        ca
    })
}

/// The tracker's pass-through properties but the CA file, exactly as the Helm chart renders
/// them from `kafka.properties` (scripts/helm-check.sh reads this line and compares).
const TRACKER_PROPERTIES: &str = "sasl.mechanism=SCRAM-SHA-512,security.protocol=SASL_SSL";

/// [`TRACKER_PROPERTIES`] and the CA file, which the chart mounts from `kafka.caSecret`.
fn tracker_properties(ca: &str) -> String {
    format!("{TRACKER_PROPERTIES},ssl.ca.location={ca}")
}

/// A test's topics with receipts on: the delivery-reports topic is named outside the
/// application id's prefix, so that the internal topics' prefixed ACLs do not cover it.
struct SecureScenario {
    scenario: Scenario,
    receipts: Receipts,
}

impl SecureScenario {
    /// The test's topics, with the inputs created as the gateway would.
    fn create(test: &str) -> Self {
        let this = Self::named(test);
        this.scenario.create_inputs(4, 4);
        support::create_topic(&this.receipts.topic, 3);
        this
    }

    /// Names only: nothing is created.
    fn named(test: &str) -> Self {
        let scenario = Scenario::new(test);
        let topic = format!("{}-reports", scenario.sent);
        let formats = "supplier-a=hex-in-response,supplier-b=hex-in-report";
        let timeout = DELIVERY_TIMEOUT_SECONDS.to_string();
        let tracker_args = ["--delivery-reports-topic", &topic, "--delivery-id-format", formats];
        let tracker_args = tracker_args.into_iter().chain(["--delivery-timeout-seconds", &timeout]).map(String::from);
        let loadgen_args = ["--delivery-reports-topic", &topic, "--supplier-id-format", formats].map(String::from);
        let receipts =
            Receipts { topic: topic.clone(), tracker_args: tracker_args.collect(), loadgen_args: loadgen_args.into() };
        Self { scenario, receipts }
    }

    fn names(&self) -> Names<'_> {
        let s = &self.scenario;
        Names {
            application_id: &s.app_id,
            sent: &s.sent,
            responses: &s.responses,
            delivery_reports: &self.receipts.topic,
            status: &s.status,
            dead_letters: &s.dead_letters,
        }
    }

    /// Starts the tracker logged in as `user` with `password`.
    fn spawn_tracker(&self, user: &str, password: &str) -> Tracker {
        self.spawn_tracker_with(user, password, &[])
    }

    fn spawn_tracker_with(&self, user: &str, password: &str, extra: &[&str]) -> Tracker {
        let env = [("SMS_TRACKER_SASL_USERNAME", user), ("SMS_TRACKER_SASL_PASSWORD", password)];
        let args: Vec<&str> = self.receipts.tracker_args().into_iter().chain(extra.iter().copied()).collect();
        Tracker::spawn_with_env(&self.scenario, &tracker_properties(secure_broker()), &env, &args)
    }

    /// Creates a SCRAM user with the README rows that apply, for this scenario's names.
    fn user_with_readme_acls(&self, test: &str, create_topics: bool) -> (String, String) {
        let (user, password) = new_user(test);
        let admin = support::admin();
        admin::create_scram_users(&admin, &[(user.clone(), password.clone())]);
        let grants: Vec<(String, Acl)> = acls::readme_rows()
            .iter()
            .filter(|row| row.applies(true, create_topics))
            .map(|row| (format!("User:{user}"), row.resolve(&self.names())))
            .collect();
        admin::create_acls(&admin, &grants);
        (user, password)
    }
}

/// The README rows a tracker with receipts on and without `--create-topics` needs.
fn rows_needed() -> Vec<Row> {
    acls::readme_rows().into_iter().filter(|row| row.applies(true, false)).collect()
}

/// A new SCRAM user (`User:<name>`) and its password.
fn new_user(test: &str) -> (String, String) {
    (unique(test), unique("password"))
}

#[test]
fn with_exactly_the_readme_acls_the_tracker_processes_a_load_with_receipts_exactly_once() {
    secure_broker();
    let s = SecureScenario::create("secure-load");
    let (user, password) = s.user_with_readme_acls("tracker", false);

    let loadgen_args = s.receipts.loadgen_args(&["--invalid-share", "0.01"]);
    // About 20 s of input, so that a start and a restart fit in it on a loaded machine.
    let mut loadgen = LoadGen::spawn(&s.scenario, 3_000, 600, &loadgen_args);
    let tracker = s.spawn_tracker(&user, &password);
    tracker.wait_ready();
    // A restart mid-stream restores the state from the changelog, which needs READ on it and
    // whatever else the restore asks for: the ACLs must be enough for that too.
    support::wait_for("some statuses", support::DEADLINE, || {
        (support::read_to_end(&s.scenario.status).len() >= 100).then_some(())
    });
    assert!(tracker.terminate().success(), "the first tracker stops cleanly");
    assert!(!loadgen.finished(), "the restart happens while input flows");
    let tracker = s.spawn_tracker(&user, &password);
    tracker.wait_ready();
    let summary = loadgen.wait();
    assert_delivery_exactly_once(&s.scenario, &summary, tracker);
    let restored = tracker_log_lines(&s.scenario)
        .filter(|line| line.contains("State restored") && !line.contains("records=0 "))
        .count();
    assert!(restored > 0, "the second tracker restored state from the changelog");
}

/// Every line of the logs of `scenario`'s trackers.
fn tracker_log_lines(scenario: &Scenario) -> impl Iterator<Item = String> {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tracker-logs");
    let prefix = scenario.app_id.clone();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(move |entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .flat_map(|entry| {
            std::fs::read_to_string(entry.path()).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>()
        })
}

/// One principal missing one ACL, with topics of its own.
struct MissingAclCase {
    missing: Acl,
    scenario: SecureScenario,
    user: (String, String),
}

#[test]
fn without_any_one_readme_acl_the_tracker_names_the_missing_permission_and_exits() {
    secure_broker();
    let rows = rows_needed();
    let cases: Vec<MissingAclCase> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let scenario = SecureScenario::create(&format!("secure-missing-{i}"));
            let missing = row.resolve(&scenario.names());
            MissingAclCase { missing, scenario, user: new_user(&format!("tracker-missing-{i}")) }
        })
        .collect();
    let admin = support::admin();
    admin::create_scram_users(&admin, &cases.iter().map(|case| case.user.clone()).collect::<Vec<_>>());
    let grants: Vec<(String, Acl)> = cases
        .iter()
        .flat_map(|case| {
            let principal = format!("User:{}", case.user.0);
            rows.iter()
                .map(|row| row.resolve(&case.scenario.names()))
                .filter(|acl| *acl != case.missing)
                .map(move |acl| (principal.clone(), acl))
        })
        .collect();
    admin::create_acls(&admin, &grants);

    // A few records in every input, so that a permission needed only once records flow (e.g.
    // writing the changelog) is needed at once; an invalid one for the dead-letter topic.
    for case in &cases {
        let extra = case.scenario.receipts.loadgen_args(&["--invalid-share", "0.3"]);
        LoadGen::spawn(&case.scenario.scenario, 10, 0, &extra).wait();
    }
    // A few trackers at a time: each one's start-up costs CPU the others need.
    let mut failures = Vec::new();
    for batch in cases.chunks(4) {
        let outcomes: Vec<Result<Duration, String>> = std::thread::scope(|scope| {
            let running: Vec<_> = batch.iter().map(|case| scope.spawn(move || run_missing_acl_case(case))).collect();
            running.into_iter().map(|thread| thread.join().expect("case thread")).collect()
        });
        for (case, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Ok(took) => eprintln!("without {:?}: exited after {took:?} naming it", case.missing),
                Err(failure) => failures.push(format!("without {:?}: {failure}", case.missing)),
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Runs the tracker of `case` until it exits; `Ok(how long it ran)` if it exited non-zero and
/// logged an error naming the missing operation and resource.
fn run_missing_acl_case(case: &MissingAclCase) -> Result<Duration, String> {
    let started = Instant::now();
    let tracker = case.scenario.spawn_tracker(&case.user.0, &case.user.1);
    let log = tracker.log.clone();
    let status = tracker.wait_exit();
    let took = started.elapsed();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    if status.success() {
        return Err(format!("exited successfully; log {}", log.display()));
    }
    let named = logs.lines().filter(|line| line.contains("not authorized")).any(|line| names_acl(line, &case.missing));
    if !named {
        let errors: Vec<&str> = logs.lines().filter(|line| line.contains("ERROR")).take(3).collect();
        return Err(format!("no error names the missing ACL; errors: {errors:#?}; log {}", log.display()));
    }
    Ok(took)
}

/// Whether an error line says the principal needs `acl`'s operation on `acl`'s resource.
fn names_acl(line: &str, acl: &Acl) -> bool {
    let Some((_, needs)) = line.split_once("needs ") else { return false };
    let (operations, resource) = needs.split_once(" on ").unwrap_or_default();
    let kind = match acl.resource {
        ResourceType::Topic => "Topic",
        ResourceType::Group => "Group",
        ResourceType::TransactionalId => "TransactionalId",
        ResourceType::Cluster => "Cluster",
    };
    let name = match acl.pattern {
        Pattern::Literal => format!("'{}'", acl.name),
        Pattern::Prefixed => format!("'{}", acl.name),
    };
    operations.split(" and ").any(|op| op == acl.operation) && resource.contains(kind) && resource.contains(&name)
}

#[test]
fn with_create_topics_and_its_readme_acls_the_tracker_creates_its_inputs() {
    secure_broker();
    let s = SecureScenario::named("secure-create-topics");
    let (user, password) = s.user_with_readme_acls("tracker-create-topics", true);
    let tracker = s.spawn_tracker_with(&user, &password, &["--create-topics", "--partitions", "2"]);
    tracker.wait_ready();
    for topic in [&s.scenario.sent, &s.scenario.responses, &s.receipts.topic] {
        assert_eq!(support::end_offsets(topic).len(), 2, "{topic} was created");
    }
}

#[test]
fn a_wrong_password_is_a_clear_error_and_the_tracker_exits() {
    secure_broker();
    let s = SecureScenario::create("secure-wrong-password");
    let (user, password) = new_user("tracker-wrong-password");
    admin::create_scram_users(&support::admin(), &[(user.clone(), password)]);
    let started = Instant::now();
    let tracker = s.spawn_tracker(&user, "not-the-password");
    let log = tracker.log.clone();
    let status = tracker.wait_exit();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "exits non-zero");
    assert!(logs.contains("Kafka refused the login"), "says the login was refused; log {}", log.display());
    eprintln!("wrong password: exited after {:?}", started.elapsed());
}

#[test]
fn the_acl_script_grants_exactly_the_readme_list() {
    let names = Names {
        application_id: "app",
        sent: "in-sent",
        responses: "in-responses",
        delivery_reports: "in-reports",
        status: "out-status",
        dead_letters: "out-dead",
    };
    let topics = ["--application-id", "app", "--sent-topic", "in-sent", "--responses-topic", "in-responses"];
    let outputs = ["--status-topic", "out-status", "--dead-letter-topic", "out-dead", "--principal", "User:t"];
    for (receipts, create_topics) in [(false, false), (true, false), (true, true), (false, true)] {
        let mut args: Vec<&str> = topics.iter().chain(&outputs).copied().collect();
        if receipts {
            args.extend(["--delivery-reports-topic", "in-reports"]);
        }
        if create_topics {
            args.push("--create-topics");
        }
        let mut from_script = acls::script_acls(&args);
        let mut from_readme: Vec<Acl> = acls::readme_rows()
            .iter()
            .filter(|row| row.applies(receipts, create_topics))
            .map(|row| row.resolve(&names))
            .collect();
        from_script.sort();
        from_readme.sort();
        assert_eq!(from_script, from_readme, "receipts {receipts}, --create-topics {create_topics}");
    }
}

#[test]
fn a_ca_that_did_not_sign_the_brokers_certificate_is_a_clear_error_and_the_tracker_exits() {
    secure_broker();
    let s = SecureScenario::create("secure-wrong-ca");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("other-ca"));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("ca.key"), dir.join("ca.crt"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=another CA"])
        .args(["-keyout".as_ref(), key.as_os_str(), "-out".as_ref(), cert.as_os_str()])
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    let (user, password) = new_user("tracker-wrong-ca");
    admin::create_scram_users(&support::admin(), &[(user.clone(), password.clone())]);
    let properties = format!("{TRACKER_PROPERTIES},ssl.ca.location={}", cert.display());
    let env = [("SMS_TRACKER_SASL_USERNAME", user.as_str()), ("SMS_TRACKER_SASL_PASSWORD", password.as_str())];
    let tracker = Tracker::spawn_with_env(&s.scenario, &properties, &env, &s.receipts.tracker_args());
    let log = tracker.log.clone();
    let status = tracker.wait_exit();
    assert!(!status.success(), "exits non-zero");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("the TLS handshake with Kafka failed: check ssl.ca.location"), "log {}", log.display());
}
