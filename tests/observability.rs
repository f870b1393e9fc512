//! The observability artefacts against the real thing: the alert rules pass promtool's checks and
//! unit tests; the dashboard is well formed; a live tracker's /metrics passes `promtool check
//! metrics`; and every query of every dashboard panel, evaluated by a real Prometheus scraping
//! live trackers (through a restart, so restore metrics move) with delivery receipts flowing
//! (some of one supplier never matching), returns data.
//!
//! Needs Debian's Prometheus (`prometheus`, `promtool` on PATH): `scripts/install-prometheus.sh`
//! installs it and `scripts/test.sh` runs that first. The test never installs anything itself.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::prometheus::{
    Prometheus, Target, has_finite_sample, output_text, promtool, repo_path, require_binaries, since, substitute,
    unix_now,
};
use support::{Input, LoadGen, Scenario, Tracker, wait_for};

const DASHBOARD: &str = "dashboards/sms-tracker.json";
const ALERTS: &str = "dashboards/alerts.yaml";
const ALERT_TESTS: &str = "dashboards/alerts.test.yaml";
const ROWS: [&str; 8] =
    ["Overview", "Latency", "Delivery receipts", "Kafka", "Exactly-once", "State", "Resources", "Lookup API"];
const ALERT_COUNT: usize = 10;
/// The dashboard's selector variables; every query filters on all three.
const SELECTORS: [&str; 3] = [r#"job=~"$job""#, r#"namespace=~"$namespace""#, r#"instance=~"$instance""#];
const PARTITIONS: i32 = 4;

fn dashboard() -> Value {
    let text = std::fs::read_to_string(repo_path(DASHBOARD)).expect("read the dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Panels with queries (rows excluded), in order, including panels nested in collapsed rows.
fn data_panels(dashboard: &Value) -> Vec<Value> {
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            panels.extend(panel["panels"].as_array().cloned().unwrap_or_default());
        } else {
            panels.push(panel.clone());
        }
    }
    panels
}

fn targets(panel: &Value) -> Vec<(String, String)> {
    panel["targets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .map(|t| (t["refId"].as_str().unwrap_or("?").to_owned(), t["expr"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no template variable {name}"))
}

/// The query of a Grafana Prometheus query variable: `definition`, or `query` (string or object).
fn variable_query(variable: &Value) -> String {
    variable["definition"]
        .as_str()
        .or_else(|| variable["query"].as_str())
        .or_else(|| variable["query"]["query"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// `label_values(selector, label)` -> (selector, label).
fn parse_label_values(query: &str) -> (String, String) {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a label_values() query: {query}"));
    let (selector, label) = inner.rsplit_once(',').unwrap_or_else(|| panic!("label_values() without a label: {query}"));
    (selector.trim().to_owned(), label.trim().to_owned())
}

/// Every `[...]` range in a PromQL expression.
fn ranges(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else { break };
        found.push(rest[open + 1..open + close].to_owned());
        rest = &rest[open + close + 1..];
    }
    found
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    require_binaries();
    let check = promtool(&["check", "rules", ALERTS], None);
    println!("promtool check rules {ALERTS}:\n{}", output_text(&check));
    assert!(check.status.success(), "promtool check rules {ALERTS} failed:\n{}", output_text(&check));
    let test = promtool(&["test", "rules", ALERT_TESTS], None);
    println!("promtool test rules {ALERT_TESTS}:\n{}", output_text(&test));
    assert!(test.status.success(), "promtool test rules {ALERT_TESTS} failed:\n{}", output_text(&test));

    // Every alert has unit tests, a firing and a not-firing case (an eval with no expected alert
    // or one whose series do not all fire; promtool checks the complete list at each eval_time).
    let rules = std::fs::read_to_string(repo_path(ALERTS)).unwrap();
    let tests = std::fs::read_to_string(repo_path(ALERT_TESTS)).unwrap();
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert:")).map(str::trim).collect();
    assert_eq!(alerts.len(), ALERT_COUNT, "alerts in {ALERTS}: {alerts:?}");
    for alert in alerts {
        let evals: Vec<&str> = tests
            .split("- eval_time:")
            .skip(1)
            .filter(|case| case.contains(&format!("alertname: {alert}\n")))
            .collect();
        assert!(evals.iter().any(|case| case.contains("exp_alerts: []")), "{alert}: no case where it does not fire");
        assert!(evals.iter().any(|case| case.contains("exp_labels:")), "{alert}: no case where it fires");
    }
}

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| (36..=41).contains(&v)), "schemaVersion ~39");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["uid"].as_str().is_some_and(|t| !t.is_empty()));

    let datasource = variable(&dashboard, "datasource");
    assert_eq!((datasource["type"].as_str(), datasource["query"].as_str()), (Some("datasource"), Some("prometheus")));
    for name in ["job", "namespace", "instance"] {
        let v = variable(&dashboard, name);
        assert_eq!(v["type"], "query", "{name} is a query variable");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name} queries the selected data source");
        let (_, label) = parse_label_values(&variable_query(v));
        assert_eq!(label, name, "{name} lists the values of the label {name}");
    }
    // Outside Kubernetes there is no namespace label: "All" must be `.*`, which matches it absent.
    for name in ["namespace", "instance"] {
        let v = variable(&dashboard, name);
        assert_eq!((v["includeAll"].as_bool(), v["allValue"].as_str()), (Some(true), Some(".*")), "{name}: All = .*");
    }

    let rows: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rows, ROWS, "rows, in order");

    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(ids.insert(panel["id"].as_u64().expect("panel id")), "duplicate panel id {}", panel["id"]);
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "panel {} has no gridPos", panel["title"]);
    }
    for panel in data_panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        let mut problem = |what: &str| problems.push(format!("{title:?}: {what}"));
        if title.is_empty() {
            problem("no title");
        }
        if panel["description"].as_str().is_none_or(|d| d.len() < 20) {
            problem("no description");
        }
        if panel["fieldConfig"]["defaults"]["unit"].as_str().is_none_or(str::is_empty) {
            problem("no unit (fieldConfig.defaults.unit)");
        }
        if panel["datasource"]["uid"] != "${datasource}" {
            problem("does not use the $datasource variable");
        }
        let targets = targets(&panel);
        if targets.is_empty() {
            problem("no queries");
        }
        for (ref_id, expr) in targets {
            for selector in SELECTORS {
                if !expr.contains(selector) {
                    problem(&format!("query {ref_id} does not select {selector}"));
                }
            }
            for range in ranges(&expr) {
                if range != "$__rate_interval" && range != "$__range" {
                    problem(&format!(
                        "query {ref_id} uses the range [{range}], not [$__rate_interval] (or [$__range])"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "dashboard problems:\n  {}", problems.join("\n  "));
}

fn message(id: &str) -> String {
    format!(r#"{{"id":"{id}","status":"PENDING","text":"observability"}}"#)
}

fn part(id: &str, n: u32, total: u32, status: u32, supplier_id: Option<&str>) -> String {
    let supplier_id = supplier_id.map(|s| format!(r#","supplierMessageId":"{s}""#)).unwrap_or_default();
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"commandStatus":{status},"supplier":"supplier-a"{supplier_id}}}"#
    )
}

/// `promtool check metrics` on a live /metrics body. Exit 0 is clean; 3 means lint findings
/// (printed, not failing: naming advice the tracker does not control, see the report); anything
/// else (1: unparsable exposition) fails.
fn check_metrics(tracker: &Tracker, name: &str) {
    let (status, body) = tracker.http_get("/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let output = promtool(&["check", "metrics"], Some(&body));
    let code = output.status.code();
    let text = output_text(&output);
    println!(
        "promtool check metrics ({name}, {} lines, {} series): exit {code:?}{}",
        body.lines().count(),
        body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count(),
        if text.is_empty() { String::new() } else { format!("\n{text}") }
    );
    assert!(
        matches!(code, Some(0) | Some(3)),
        "promtool check metrics rejects {name}'s /metrics (exit {code:?}):\n{text}"
    );
}

/// The delivery latency histogram has one observation per delivery outcome published, by status
/// (both are counted at the same commit; polled, since a scrape may fall between the two).
fn assert_latency_per_outcome(tracker: &Tracker, name: &str) {
    wait_for(
        &format!("{name}: one delivery latency observation per delivery outcome"),
        Duration::from_secs(10),
        || {
            let same = ["DELIVERED", "UNDELIVERED", "DELIVERY_UNKNOWN"].iter().all(|st| {
                let series = |name: &str| tracker.metric(&format!(r#"{name}{{status="{st}"}}"#));
                series("sms_tracker_delivery_latency_seconds_count") == series("sms_tracker_statuses_published_total")
            });
            same.then_some(())
        },
    );
}

/// The series of a query result labelled `route`.
fn of_route(series: &[Value], route: &str) -> Vec<Value> {
    series.iter().filter(|s| s["metric"]["route"] == route).cloned().collect()
}

#[test]
fn every_dashboard_panel_shows_data_from_live_trackers() {
    require_binaries();
    let started = Instant::now();
    let dashboard = dashboard();
    let s = Scenario::new("observability");
    s.create_inputs(PARTITIONS, PARTITIONS);
    // The gateway's receipts, with another partition count than the inputs (as allowed).
    let reports = format!("{}-dlr", s.app_id);
    support::create_topic(&reports, 3);
    let prometheus = Prometheus::start(&s.app_id, &[repo_path(ALERTS)]);
    // A short submit timeout so that EXPIRED statuses, orphans and unmatched receipts happen
    // within the test, and a short delivery timeout so that DELIVERY_UNKNOWN does.
    let args =
        ["--submit-timeout-seconds", "2", "--delivery-reports-topic", &reports, "--delivery-timeout-seconds", "3"];

    // Each instance serves the lookup API and advertises it, so that one forwards to the other.
    let with_api = |port: &str| -> Vec<String> {
        let listen = format!("127.0.0.1:{port}");
        let api = ["--api-listen", listen.as_str(), "--advertised-address", listen.as_str()];
        args.iter().chain(api.iter()).map(|arg| (*arg).to_owned()).collect()
    };
    let api_ports = [support::free_port(), support::free_port()];
    let (args0, args1) = (with_api(&api_ports[0].to_string()), with_api(&api_ports[1].to_string()));

    // --- pod-0: traffic of every kind -------------------------------------------------------------
    let first = Tracker::spawn_instance(&s, Some("pod-0"), &args0.iter().map(String::as_str).collect::<Vec<_>>());
    let pod0 = Target { port: first.http_port, instance: "pod-0".into() };
    prometheus.set_targets(std::slice::from_ref(&pod0));
    first.wait_ready();
    wait_for("Prometheus to report pod-0 up", support::DEADLINE, || {
        prometheus.targets().iter().any(|(instance, health, _)| instance == "pod-0" && health == "up").then_some(())
    });
    println!("[{}] Prometheus on port {} scrapes pod-0", since(started), prometheus.port);

    let input = Input::new();
    // FAILED: a part permanently rejected (0x0B is not retryable).
    input.send(&s.sent, Some("obs-failed"), Some(&message("obs-failed")));
    input.send(&s.responses, Some("obs-failed"), Some(&part("obs-failed", 1, 2, 0, Some("A"))));
    input.send(&s.responses, Some("obs-failed"), Some(&part("obs-failed", 2, 2, 0x0B, None)));
    // EXPIRED: part 2 never succeeds (only a retryable error) within the 2 s timeout.
    input.send(&s.sent, Some("obs-expired"), Some(&message("obs-expired")));
    input.send(&s.responses, Some("obs-expired"), Some(&part("obs-expired", 1, 2, 0, Some("B"))));
    input.send(&s.responses, Some("obs-expired"), Some(&part("obs-expired", 2, 2, 0x58, None)));
    // Orphan: a response whose message never comes.
    input.send(&s.responses, Some("obs-orphan"), Some(&part("obs-orphan", 1, 1, 0, Some("C"))));
    // Cancelled: a tombstone before completion, then a late response.
    input.send(&s.sent, Some("obs-cancelled"), Some(&message("obs-cancelled")));
    input.send(&s.sent, Some("obs-cancelled"), None);
    input.send(&s.responses, Some("obs-cancelled"), Some(&part("obs-cancelled", 1, 1, 0, Some("D"))));

    // The generator's traffic: duplicates, invalid records, retryable errors; small shuffle
    // windows so that parts do not run ahead of their messages by more than the timeout. Delivery
    // receipts too, but supplier-a writes its ids in hex in submit responses and in decimal in
    // receipts while the tracker is not told so (no --delivery-id-format): its receipts never
    // match, are dead-lettered after the submit timeout, and their messages end DELIVERY_UNKNOWN.
    let messages = 2000;
    let loadgen = LoadGen::spawn(
        &s,
        messages,
        1200,
        &[
            "--duplicate-share",
            "0.05",
            "--invalid-share",
            "0.02",
            "--retryable-share",
            "0.05",
            "--window",
            "50",
            "--delivery-reports-topic",
            &reports,
            "--supplier-id-format",
            "supplier-a=hex-in-response",
        ],
    );
    let mut summary = loadgen.wait();
    // Without the lists of expected ids per delivery outcome (2000 ids).
    summary.as_object_mut().expect("summary object").retain(|key, _| !key.ends_with("_ids"));
    println!("[{}] load generator done: {summary}", since(started));
    let metric = |tracker: &Tracker, series: &str| tracker.metric(series).unwrap_or(0.0);
    wait_for("every message to get its status (SENT, FAILED, EXPIRED) and the orphan", Duration::from_secs(60), || {
        let statuses: f64 = ["SENT", "FAILED", "EXPIRED"]
            .iter()
            .map(|st| metric(&first, &format!(r#"sms_tracker_statuses_published_total{{status="{st}"}}"#)))
            .sum();
        let done = statuses >= (messages + 2) as f64
            && metric(&first, r#"sms_tracker_statuses_published_total{status="FAILED"}"#) >= 1.0
            && metric(&first, r#"sms_tracker_statuses_published_total{status="EXPIRED"}"#) >= 1.0
            && metric(&first, r#"sms_tracker_dead_letters_total{reason="orphan"}"#) >= 1.0;
        done.then_some(())
    });
    // Every SENT message gets exactly one delivery outcome, at the latest after the 3 s timeout;
    // the delivery latency histogram observes each once, when committed.
    let outcomes = |tracker: &Tracker, series: &str| -> f64 {
        ["DELIVERED", "UNDELIVERED", "DELIVERY_UNKNOWN"]
            .iter()
            .map(|st| metric(tracker, &format!(r#"{series}{{status="{st}"}}"#)))
            .sum()
    };
    wait_for(
        "every SENT message to get its delivery outcome, supplier-a's receipts unmatched",
        support::DEADLINE,
        || {
            let sent = metric(&first, r#"sms_tracker_statuses_published_total{status="SENT"}"#);
            let done = outcomes(&first, "sms_tracker_statuses_published_total") >= sent
                && metric(&first, r#"sms_tracker_statuses_published_total{status="DELIVERED"}"#) >= 1.0
                && metric(&first, r#"sms_tracker_statuses_published_total{status="DELIVERY_UNKNOWN"}"#) >= 1.0
                && metric(&first, r#"sms_tracker_unmatched_delivery_reports_total{supplier="supplier-a"}"#) >= 1.0;
            done.then_some(())
        },
    );
    assert_latency_per_outcome(&first, "pod-0");
    println!(
        "[{}] pod-0: delivery outcomes {}, unmatched receipts of supplier-a {}",
        since(started),
        outcomes(&first, "sms_tracker_statuses_published_total"),
        metric(&first, r#"sms_tracker_unmatched_delivery_reports_total{supplier="supplier-a"}"#)
    );
    wait_for("consumer lag series (librdkafka statistics, every 5 s)", Duration::from_secs(30), || {
        first.http_get("/metrics")?.1.contains("sms_tracker_consumer_lag_records{").then_some(())
    });
    println!("[{}] pod-0 processed everything", since(started));
    check_metrics(&first, "pod-0");

    // --- pod-1 joins, pod-0 leaves: pod-1 restores the moved partitions while being scraped --------
    let second = Tracker::spawn_instance(&s, Some("pod-1"), &args1.iter().map(String::as_str).collect::<Vec<_>>());
    let pod1 = Target { port: second.http_port, instance: "pod-1".into() };
    prometheus.set_targets(&[pod0, pod1.clone()]);
    second.wait_ready();
    // Lookups at pod-1 while both own partitions: some answered there, some forwarded to pod-0;
    // and the same ids in one batchGet.
    let ids = ["obs-failed", "obs-expired", "obs-orphan", "obs-cancelled", "obs-unknown"];
    let batch = serde_json::json!({ "ids": ids }).to_string();
    wait_for("lookups at pod-1 answered locally and forwarded to pod-0", support::DEADLINE, || {
        for id in ids {
            support::http_get(api_ports[1], &format!("/v1/messages/{id}"));
        }
        support::http_post_json(api_ports[1], "/v1/messages:batchGet", &batch);
        let done = metric(&second, r#"sms_tracker_api_forwards_total{result="answered"}"#) >= 1.0
            && metric(&second, r#"sms_tracker_api_requests_total{code="200",route="message"}"#) >= 1.0
            && metric(&second, r#"sms_tracker_api_requests_total{code="200",route="batchGet"}"#) >= 1.0;
        done.then_some(())
    });
    prometheus.wait_scraped("pod-1", 3);
    let restored_before = metric(&second, "sms_tracker_restored_records_total");
    let status = first.terminate();
    assert!(status.success(), "pod-0 did not shut down cleanly: {status:?}");
    prometheus.set_targets(std::slice::from_ref(&pod1));
    wait_for("pod-1 to own and have restored every partition", support::DEADLINE, || {
        let done = metric(&second, "sms_tracker_assigned_partitions") == f64::from(PARTITIONS)
            && metric(&second, "sms_tracker_partitions_restoring") == 0.0
            && metric(&second, "sms_tracker_restored_records_total") > restored_before;
        done.then_some(())
    });
    println!(
        "[{}] pod-1 owns all {PARTITIONS} partitions; restored {} changelog records ({} before pod-0 left)",
        since(started),
        metric(&second, "sms_tracker_restored_records_total"),
        restored_before
    );
    // Some traffic on pod-1 too, each message delivered: its receipt joins through pod-1's
    // restored receipt join.
    for i in 0..20 {
        let id = format!("obs-late-{i}");
        let supplier_id = format!("L{i}");
        input.send(&s.sent, Some(&id), Some(&message(&id)));
        input.send(&s.responses, Some(&id), Some(&part(&id, 1, 1, 0, Some(&supplier_id))));
        let receipt = format!(r#"{{"supplier":"supplier-a","supplierMessageId":"{supplier_id}","stat":"DELIVRD"}}"#);
        input.send(&reports, Some(&supplier_id), Some(&receipt));
    }
    wait_for("pod-1 to publish the late messages SENT, then DELIVERED", Duration::from_secs(60), || {
        let done = metric(&second, r#"sms_tracker_statuses_published_total{status="SENT"}"#) >= 20.0
            && metric(&second, r#"sms_tracker_statuses_published_total{status="DELIVERED"}"#) >= 20.0;
        done.then_some(())
    });
    assert_latency_per_outcome(&second, "pod-1");
    // Lookups and a batchGet between scrapes (each route's series scraped before and after them),
    // so that the API latency quantiles of both routes have a rate to show.
    let wait_route_scraped = |route: &str| {
        let answered =
            metric(&second, &format!(r#"sms_tracker_api_request_duration_seconds_count{{route="{route}"}}"#));
        let scraped = format!(
            r#"sms_tracker_api_request_duration_seconds_count{{job="{}", instance="pod-1", route="{route}"}}"#,
            Prometheus::JOB
        );
        wait_for(&format!("Prometheus to scrape pod-1's latest {route} requests"), support::DEADLINE, || {
            (prometheus.scalar(&scraped)? >= answered).then_some(())
        });
    };
    wait_route_scraped("batchGet");
    for id in ["obs-late-0", "obs-late-1", "obs-unknown"] {
        support::http_get(api_ports[1], &format!("/v1/messages/{id}"));
    }
    let batch = serde_json::json!({ "ids": ["obs-late-0", "obs-late-1", "obs-unknown"] }).to_string();
    assert_eq!(support::http_post_json(api_ports[1], "/v1/messages:batchGet", &batch).map(|(code, _)| code), Some(200));
    wait_route_scraped("message");
    wait_route_scraped("batchGet");
    prometheus.wait_scraped("pod-1", 8);
    check_metrics(&second, "pod-1");

    // --- template variables ------------------------------------------------------------------------
    let fixed = [("job", Prometheus::JOB.to_owned()), ("namespace", ".*".to_owned()), ("instance", ".*".to_owned())];
    for (name, must_contain) in
        [("job", vec![Prometheus::JOB]), ("namespace", vec![]), ("instance", vec!["pod-0", "pod-1"])]
    {
        let (selector, label) = parse_label_values(&variable_query(variable(&dashboard, name)));
        let selector = substitute(&selector, &fixed);
        let values = prometheus.label_values(&selector, &label).unwrap_or_else(|e| panic!("variable {name}: {e}"));
        println!("variable {name}: label_values({selector}, {label}) = {values:?}");
        for wanted in must_contain {
            assert!(values.iter().any(|v| v == wanted), "variable {name} does not offer {wanted}: {values:?}");
        }
    }

    // --- every query of every panel ----------------------------------------------------------------
    let panels = data_panels(&dashboard);
    let query_count: usize = panels.iter().map(|p| targets(p).len()).sum();
    println!("[{}] evaluating {} panels ({query_count} queries)", since(started), panels.len());
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let end = unix_now();
        let range = format!("{}s", (end - prometheus.started_at).ceil() as u64);
        let variables = [
            ("datasource", "prometheus".to_owned()),
            ("job", Prometheus::JOB.to_owned()),
            ("namespace", ".*".to_owned()),
            ("instance", ".*".to_owned()),
            ("delivery_reports_topic", reports.clone()),
            // Grafana's $__rate_interval: max($__interval + scrape interval, 4 × scrape interval).
            ("__rate_interval", "4s".to_owned()),
            ("__interval", "1s".to_owned()),
            ("__interval_ms", "1000".to_owned()),
            ("__range", range.clone()),
            ("__range_s", range.trim_end_matches('s').to_owned()),
        ];
        let mut missing = Vec::new();
        for panel in &panels {
            for (ref_id, expr) in targets(panel) {
                let query = substitute(&expr, &variables);
                assert!(!query.contains('$'), "unsubstituted variable in {:?} {ref_id}: {query}", panel["title"]);
                let outcome = match prometheus.query_range(&query, prometheus.started_at, end, 1.0) {
                    // A query per route that names the batchGet route must show that route too.
                    Ok(series) if query.contains("batchGet") && !has_finite_sample(&of_route(&series, "batchGet")) => {
                        format!("no data for route batchGet ({} series)", series.len())
                    }
                    Ok(series) if has_finite_sample(&series) => continue,
                    Ok(series) => format!("no data ({} series, no finite sample)", series.len()),
                    Err(error) => format!("error: {error}"),
                };
                missing
                    .push(format!("{:?} {ref_id}: {outcome}\n      {query}", panel["title"].as_str().unwrap_or("?")));
            }
        }
        if missing.is_empty() {
            println!(
                "[{}] all {} panels ({query_count} queries) have data (attempt {attempts}, time range {range})",
                since(started),
                panels.len()
            );
            break;
        }
        // A query Prometheus cannot parse never gets data: no point in waiting for it.
        let unparsable = missing.iter().any(|m| m.contains("bad_data"));
        assert!(
            !unparsable && Instant::now() < deadline,
            "{} of {query_count} dashboard queries have no data after {attempts} attempts (Prometheus on port {}, \
             log: {}):\n  {}",
            missing.len(),
            prometheus.port,
            prometheus.dir.join("prometheus.log").display(),
            missing.join("\n  ")
        );
        std::thread::sleep(Duration::from_secs(2));
    }

    // --- the alert rules, evaluated by the same server against the live series -------------------
    let rules = prometheus.rules();
    assert_eq!(rules.len(), ALERT_COUNT, "alert rules loaded: {rules:?}");
    let broken: Vec<_> = rules.iter().filter(|(_, health, _)| health != "ok").collect();
    assert!(broken.is_empty(), "alert rules that do not evaluate: {broken:?}");
    // Every sms_tracker_* name the rules file mentions (expressions and runbooks) exists.
    let text = std::fs::read_to_string(repo_path(ALERTS)).unwrap();
    let names: BTreeSet<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("sms_tracker_"))
        .map(str::to_owned)
        .collect();
    let unknown: Vec<_> = names
        .iter()
        .filter(|name| {
            // Over the whole run, not this instant: a gauge such as the consumer lag is briefly
            // empty while partitions move between the trackers.
            let expr = format!(
                r#"count(last_over_time({{__name__=~"{name}(_bucket|_count|_sum)?", job="{}"}}[10m]))"#,
                Prometheus::JOB
            );
            prometheus.scalar(&format!("{expr} or vector(0)")).unwrap_or(0.0) == 0.0
        })
        .collect();
    assert!(unknown.is_empty(), "{ALERTS} names metrics Prometheus has never scraped: {unknown:?}");
    println!(
        "[{}] {} alert rules healthy; the metric names they use all exist: {names:?}",
        since(started),
        rules.len()
    );
    drop(second);
}
