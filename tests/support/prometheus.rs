//! A real Prometheus server and promtool for the observability test (tests/observability.rs):
//! Debian's `prometheus` package, installed by `scripts/install-prometheus.sh` (which
//! `scripts/test.sh` runs). Nothing here installs anything; a missing binary fails the test with a
//! message saying how to get it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{DEADLINE, free_port, wait_for};

/// Fails the test, saying how to install them, unless `prometheus` and `promtool` run.
pub fn require_binaries() {
    for tool in ["prometheus", "promtool"] {
        let runs = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            runs,
            "`{tool}` is not on PATH (or does not run). This test needs Debian's Prometheus server and promtool: \
             run scripts/install-prometheus.sh (scripts/test.sh, i.e. `make test`, does), or \
             `apt-get install prometheus`."
        );
    }
}

/// The repository root (the crate's manifest directory).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs promtool with `args` (and `stdin`, if given) from the repository root.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).expect("write promtool's stdin");
    }
    child.wait_with_output().expect("run promtool")
}

/// stdout and stderr of a finished command, for messages.
pub fn output_text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)).trim().to_owned()
}

/// `(status, body)` of `GET path` on 127.0.0.1:`port`. HTTP/1.0, so that the body is neither
/// chunked nor kept alive: it ends when the server closes the connection.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A scrape target: the tracker's HTTP port and the `instance` label it gets.
#[derive(Debug, Clone)]
pub struct Target {
    pub port: u16,
    pub instance: String,
}

/// A Prometheus server scraping the targets of a file (file_sd, so targets can change while it
/// runs) every second as job `sms-tracker`, with the alert rules loaded; killed when dropped.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub started_at: f64,
    targets_file: PathBuf,
}

impl Prometheus {
    pub const JOB: &'static str = "sms-tracker";
    pub const SCRAPE_INTERVAL: &'static str = "1s";

    /// Starts the server (no targets yet) and waits until it is ready.
    pub fn start(name: &str, rule_files: &[PathBuf]) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("prometheus").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let targets_file = dir.join("targets.json");
        std::fs::write(&targets_file, "[]\n").unwrap();
        let rules = rule_files.iter().map(|p| format!("  - {}\n", p.display())).collect::<String>();
        let config = format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  evaluation_interval: {interval}\n\
             rule_files:\n{rules}\
             scrape_configs:\n  - job_name: {job}\n    file_sd_configs:\n      - files: [{targets}]\n        refresh_interval: 1s\n",
            interval = Self::SCRAPE_INTERVAL,
            job = Self::JOB,
            targets = targets_file.display(),
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let check = promtool(&["check", "config", config_file.to_str().unwrap()], None);
        assert!(check.status.success(), "promtool check config failed:\n{}", output_text(&check));
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--storage.tsdb.retention.time=1h", "--log.level=warn"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let prometheus = Self { child, port, dir, started_at: unix_now(), targets_file };
        wait_for("Prometheus to be ready", DEADLINE, || {
            (http_get(prometheus.port, "/-/ready").map(|(status, _)| status) == Some(200)).then_some(())
        });
        prometheus
    }

    /// Replaces the scraped targets (atomically: Prometheus watches the file).
    pub fn set_targets(&self, targets: &[Target]) {
        let groups: Vec<Value> = targets
            .iter()
            .map(|t| serde_json::json!({"targets": [format!("127.0.0.1:{}", t.port)], "labels": {"instance": t.instance}}))
            .collect();
        let temporary = self.targets_file.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_string_pretty(&groups).unwrap()).unwrap();
        std::fs::rename(&temporary, &self.targets_file).unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `data` of a successful API call `GET /api/v1/<path>?<params>`, or the error.
    pub fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let query = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let (status, body) = http_get(self.port, &format!("/api/v1/{path}?{query}"))
            .ok_or_else(|| format!("no answer from Prometheus on port {}", self.port))?;
        let value: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
        if value["status"] == "success" {
            Ok(value["data"].clone())
        } else {
            Err(format!("HTTP {status}: {}: {}", value["errorType"], value["error"]))
        }
    }

    /// Every series of a range query over [start, end] (Unix seconds) at `step` seconds.
    pub fn query_range(&self, expr: &str, start: f64, end: f64, step: f64) -> Result<Vec<Value>, String> {
        let params = [
            ("query", expr.to_owned()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{step}")),
        ];
        let data = self.api("query_range", &params)?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// Every sample of an instant query at now.
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("query", &[("query", expr.to_owned())])?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The single value of an instant query, if it has exactly one series.
    pub fn scalar(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).ok()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// Values of `label` on the series `selector` matches (Grafana's `label_values(selector, label)`).
    pub fn label_values(&self, selector: &str, label: &str) -> Result<Vec<String>, String> {
        let params = [
            ("match[]", selector.to_owned()),
            ("start", format!("{:.3}", self.started_at)),
            ("end", format!("{:.3}", unix_now())),
        ];
        let data = self.api(&format!("label/{label}/values"), &params)?;
        Ok(data
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// Waits until the target with `instance` has been scraped successfully at least `scrapes`
    /// times.
    pub fn wait_scraped(&self, instance: &str, scrapes: u32) {
        let expr = format!(r#"sum_over_time(up{{job="{}", instance="{instance}"}}[5m])"#, Self::JOB);
        wait_for(&format!("Prometheus to scrape {instance} {scrapes} times"), DEADLINE, || {
            let up = self.scalar(&format!(r#"up{{job="{}", instance="{instance}"}}"#, Self::JOB))?;
            (up == 1.0 && self.scalar(&expr)? >= scrapes as f64).then_some(())
        });
    }

    /// The health of every target Prometheus knows: `(instance, health, last error)`.
    pub fn targets(&self) -> Vec<(String, String, String)> {
        let data = self.api("targets", &[("state", "active".to_owned())]).unwrap_or_default();
        data["activeTargets"]
            .as_array()
            .map(|targets| {
                targets
                    .iter()
                    .map(|t| {
                        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                        (text(&t["labels"]["instance"]), text(&t["health"]), text(&t["lastError"]))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every loaded rule: `(name, health, last error)`.
    pub fn rules(&self) -> Vec<(String, String, String)> {
        let data = self.api("rules", &[]).unwrap_or_default();
        let mut rules = Vec::new();
        for group in data["groups"].as_array().cloned().unwrap_or_default() {
            for rule in group["rules"].as_array().cloned().unwrap_or_default() {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                rules.push((text(&rule["name"]), text(&rule["health"]), text(&rule["lastError"])));
            }
        }
        rules
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

/// True if any sample of any series of a range-query result is a finite number: a panel shows
/// something. (NaN, e.g. histogram_quantile over no observations, shows nothing.)
pub fn has_finite_sample(series: &[Value]) -> bool {
    series.iter().any(|s| {
        s["values"].as_array().is_some_and(|values| {
            values.iter().any(|v| v[1].as_str().and_then(|x| x.parse::<f64>().ok()).is_some_and(f64::is_finite))
        })
    })
}

/// Replaces Grafana's template variables in `expr` (`$name` and `${name}`); longer names first, so
/// `$__interval_ms` is not taken for `$__interval`.
pub fn substitute(expr: &str, variables: &[(&str, String)]) -> String {
    let mut sorted: Vec<_> = variables.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut text = expr.to_owned();
    for (name, value) in sorted {
        text = text.replace(&format!("${{{name}}}"), value).replace(&format!("${name}"), value);
    }
    text
}

/// Seconds since `start`, for messages.
pub fn since(start: Instant) -> String {
    format!("{:.1} s", start.elapsed().as_secs_f64())
}
