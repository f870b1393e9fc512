//! The results: per class of answer (answered locally, forwarded to the owner, no answer) the
//! count, latency percentiles from the due time, lookups/s and answers by HTTP code, without the
//! warm-up; how late the driver sent; and a per-second series for plots.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Args;
use crate::schedule::{Failure, Outcome, Run};

/// A request sent more than this after its due time waited for the driver or a free connection.
const LATE_US: u64 = 1000;

pub fn summarize(args: &Args, run: &Run, ids_seen: u64) -> Value {
    let warmup = args.warmup_seconds as f64;
    let measured: Vec<&Outcome> = run.outcomes.iter().filter(|o| o.due_s >= warmup).collect();
    let window = (run.scheduled_s - warmup).max(0.0);
    let local: Vec<&Outcome> = measured.iter().copied().filter(|o| matches!(o.result, Ok(r) if !r.forwarded)).collect();
    let forwarded: Vec<&Outcome> =
        measured.iter().copied().filter(|o| matches!(o.result, Ok(r) if r.forwarded)).collect();
    let answered: Vec<&Outcome> = measured.iter().copied().filter(|o| o.result.is_ok()).collect();
    let mut failures: BTreeMap<&str, u64> = BTreeMap::new();
    for o in &measured {
        if let Err(failure) = o.result {
            *failures.entry(failure_name(failure)).or_default() += 1;
        }
    }
    let mut delays: Vec<u64> = measured.iter().map(|o| o.send_delay_us).collect();
    delays.sort_unstable();
    let late = delays.iter().filter(|d| **d > LATE_US).count();
    let delay_p99 = percentile(&delays, 99.0);
    let mut releases: Vec<u64> = measured.iter().map(|o| o.release_delay_us).collect();
    releases.sort_unstable();
    json!({
        "target": args.target,
        "requested_per_s": args.rate,
        "duration_s": args.duration_seconds,
        "warmup_s": args.warmup_seconds,
        "measured_s": round3(window),
        "min_age_ms": args.min_age_ms,
        "connections": args.connections,
        "max_connections": args.max_connections,
        "ids_seen": ids_seen,
        "waited_for_ids_s": round3(run.waited_for_ids_s),
        "stopped_early": run.stopped_early,
        "connects": run.connects,
        "connections_opened": run.connections,
        "sent": measured.len(),
        "sent_per_s": per_s(measured.len(), window),
        "due_without_id": run.without_id,
        "local": class(&local, window),
        "forwarded": class(&forwarded, window),
        "all": class(&answered, window),
        "failed": { "count": measured.len() - answered.len(), "by_kind": failures },
        "driver": {
            "send_delay_p50_ms": ms(percentile(&delays, 50.0)),
            "send_delay_p99_ms": ms(delay_p99),
            "send_delay_max_ms": ms(delays.last().copied()),
            "release_delay_p99_ms": ms(percentile(&releases, 99.0)),
            "release_delay_max_ms": ms(releases.last().copied()),
            "sent_late": late,
            "late_threshold_ms": ms(Some(LATE_US)),
            "fell_behind": delay_p99.is_some_and(|d| d > LATE_US),
            "cpu_s": own_cpu_seconds(),
        },
        "by_second": by_second(&run.outcomes),
    })
}

fn class(outcomes: &[&Outcome], window: f64) -> Value {
    let mut latencies: Vec<u64> = outcomes.iter().map(|o| o.latency_us).collect();
    latencies.sort_unstable();
    let mut service: Vec<u64> = outcomes.iter().map(|o| o.service_us).collect();
    service.sort_unstable();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    for o in outcomes {
        if let Ok(reply) = o.result {
            *codes.entry(reply.status.to_string()).or_default() += 1;
        }
    }
    json!({
        "count": outcomes.len(),
        "per_s": per_s(outcomes.len(), window),
        "p50_ms": ms(percentile(&latencies, 50.0)),
        "p99_ms": ms(percentile(&latencies, 99.0)),
        "max_ms": ms(latencies.last().copied()),
        "service_p50_ms": ms(percentile(&service, 50.0)),
        "service_p99_ms": ms(percentile(&service, 99.0)),
        "codes": codes,
    })
}

/// Per second of the schedule (warm-up included, marked): answers and p99 per class, failures.
fn by_second(outcomes: &[Outcome]) -> Vec<Value> {
    let mut seconds: BTreeMap<u64, [Vec<u64>; 3]> = BTreeMap::new();
    for o in outcomes {
        let slot = match o.result {
            Ok(reply) if !reply.forwarded => 0,
            Ok(_) => 1,
            Err(_) => 2,
        };
        seconds.entry(o.due_s as u64).or_default()[slot].push(o.latency_us);
    }
    seconds
        .into_iter()
        .map(|(t, [mut local, mut forwarded, failed])| {
            local.sort_unstable();
            forwarded.sort_unstable();
            json!({
                "t": t,
                "local": local.len(), "local_p99_ms": ms(percentile(&local, 99.0)),
                "forwarded": forwarded.len(), "forwarded_p99_ms": ms(percentile(&forwarded, 99.0)),
                "failed": failed.len(),
            })
        })
        .collect()
}

pub fn table(s: &Value) -> String {
    let mut out = format!(
        "lookups at {} (GET /v1/messages/{{id}}), {}/s requested for {} s, {} s warm-up left out; \
         latency from each lookup's due time, service from its request written\n",
        s["target"].as_str().unwrap_or("?"),
        s["requested_per_s"],
        s["duration_s"],
        s["warmup_s"],
    );
    out += &format!(
        "{:<10} {:>8} {:>9} {:>8} {:>8} {:>8} {:>12} {:>12}  codes\n",
        "answered", "lookups", "per s", "p50 ms", "p99 ms", "max ms", "service p50", "service p99"
    );
    for name in ["local", "forwarded", "all"] {
        let c = &s[name];
        let codes: Vec<String> =
            c["codes"].as_object().into_iter().flatten().map(|(code, n)| format!("{code}: {n}")).collect();
        out += &format!(
            "{:<10} {:>8} {:>9} {:>8} {:>8} {:>8} {:>12} {:>12}  {}\n",
            name,
            c["count"],
            c["per_s"],
            c["p50_ms"],
            c["p99_ms"],
            c["max_ms"],
            c["service_p50_ms"],
            c["service_p99_ms"],
            codes.join(", ")
        );
    }
    let d = &s["driver"];
    out += &format!(
        "no answer: {} {}; due without an eligible id: {}; ids seen: {}; connections: {} opened ({} at the start, \
         at most {}), {} connects\n",
        s["failed"]["count"],
        s["failed"]["by_kind"],
        s["due_without_id"],
        s["ids_seen"],
        s["connections_opened"],
        s["connections"],
        s["max_connections"],
        s["connects"]
    );
    out += &format!(
        "driver: sent {}/s; send delay after the due time p50 {} / p99 {} / max {} ms, {} sent > {} ms late: {}; \
         the scheduler thread alone: p99 {} / max {} ms late; driver CPU {} s\n",
        s["sent_per_s"],
        d["send_delay_p50_ms"],
        d["send_delay_p99_ms"],
        d["send_delay_max_ms"],
        d["sent_late"],
        d["late_threshold_ms"],
        if d["fell_behind"].as_bool() == Some(true) {
            "FELL BEHIND (its p99 is over the threshold; the latencies include that delay)"
        } else {
            "kept up"
        },
        d["release_delay_p99_ms"],
        d["release_delay_max_ms"],
        d["cpu_s"]
    );
    out
}

fn failure_name(failure: Failure) -> &'static str {
    match failure {
        Failure::Timeout => "timeout",
        Failure::Connection => "connection",
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(us: Option<u64>) -> Value {
    us.map_or(Value::Null, |us| json!(round3(us as f64 / 1000.0)))
}

fn per_s(count: usize, window: f64) -> Value {
    if window > 0.0 { json!((count as f64 / window).round()) } else { Value::Null }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// utime + stime of this process from /proc/self/stat (USER_HZ is 100 on Linux).
fn own_cpu_seconds() -> Value {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Value::Null };
    let Some((_, rest)) = stat.rsplit_once(") ") else { return Value::Null };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    match (fields.get(11).and_then(|f| f.parse::<u64>().ok()), fields.get(12).and_then(|f| f.parse::<u64>().ok())) {
        (Some(utime), Some(stime)) => json!(round3((utime + stime) as f64 / 100.0)),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
