#!/usr/bin/env python3
"""The report of bench/lookup.sh: a markdown section from the run's raw files (lookup.json,
lat-trackers.json, results.jsonl), printed, and with --docs written between <!-- lookup:start -->
and <!-- lookup:end --> of that file. Checks the issue-14 targets."""

import argparse
import json
import os
import statistics
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))
from report import fmt_int, machine, met, replace_section, tracker_version  # noqa: E402

LOCAL_P99_MS = 5
FORWARDED_P99_MS = 15
THROUGHPUT_SHARE = 0.90


def codes(c):
    return ", ".join(f"{k}: {fmt_int(v)}" for k, v in c.get("codes", {}).items()) or "–"


def ms(x):
    return "–" if x is None else f"{x:.2f} ms"


def server_view(path):
    """The tracker's own view of its GETs (route "message"): count, mean, and the share within
    5 ms and within 15 ms, from its /metrics saved at the end of the latency phase."""
    if not os.path.exists(path):
        return None
    buckets, total, count = {}, None, None
    for line in open(path):
        if not line.startswith("sms_tracker_api_request_duration_seconds") or 'route="message"' not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if "_bucket" in name:
            buckets[name.split('le="', 1)[1].split('"', 1)[0]] = float(value)
        elif name.startswith("sms_tracker_api_request_duration_seconds_sum"):
            total = float(value)
        elif name.startswith("sms_tracker_api_request_duration_seconds_count"):
            count = float(value)
    if not count:
        return None
    within = lambda le: f"{buckets[le] / count:.1%}" if le in buckets else "?"  # noqa: E731
    return f"{fmt_int(count)} GETs, mean {total / count * 1000:.2f} ms, {within('0.005')} within 5 ms, {within('0.015')} within 15 ms"


def latency_section(out, args, lookup, trackers):
    out += [f"**Latency** — {fmt_int(args.lookups)} lookups/s requested (GET /v1/messages/{{id}} to instance A, "
            f"open-loop over keep-alive connections — {lookup['connections_opened']} opened, of at most "
            f"{lookup['max_connections']} —, latency from each lookup's due time to its answer; *service*: from its "
            f"request written) "
            f"while `sms-loadgen` wrote {fmt_int(float(args.rate))} input records/s ({args.rate_source}); "
            f"{lookup['measured_s']:.0f} s measured after {lookup['warmup_s']} s warm-up; ids seen on "
            f"sent-messages at least {lookup['min_age_ms']} ms before.", "",
            "| answered | lookups | lookups/s | p50 | p99 | max | service p50 | service p99 | answers by HTTP code |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, label in (("local", "locally (A's state)"), ("forwarded", "forwarded (B's state)"), ("all", "all")):
        c = lookup[name]
        out.append(f"| {label} | {fmt_int(c['count'])} | {fmt_int(c['per_s'] or 0)} | {ms(c['p50_ms'])} | "
                   f"{ms(c['p99_ms'])} | {ms(c['max_ms'])} | {ms(c['service_p50_ms'])} | {ms(c['service_p99_ms'])} | "
                   f"{codes(c)} |")
    d = lookup["driver"]
    out += ["", f"Without an answer: {fmt_int(lookup['failed']['count'])} {json.dumps(lookup['failed']['by_kind'])}. "
            f"The driver sent {fmt_int(lookup['sent_per_s'] or 0)} lookups/s; send delay after the due time p50 "
            f"{ms(d['send_delay_p50_ms'])}, p99 {ms(d['send_delay_p99_ms'])}, max {ms(d['send_delay_max_ms'])} — "
            + ("**it fell behind** (latencies include waiting for the driver or a connection)"
               if d["fell_behind"] else "it kept up") + f"; driver CPU {d['cpu_s']} s."]
    if trackers:
        out.append(f"The two trackers consumed {fmt_int(trackers['input_records_per_s'])} input records/s during the "
                   f"phase (load generator: {fmt_int(trackers['rate'])}/s); CPU A {trackers['cpu_a_s']:.1f} s, "
                   f"B {trackers['cpu_b_s']:.1f} s (whole phase); load average before: {trackers.get('load_before', '?')}.")
        if "machine_busy_share" in trackers:
            out.append(f"Over the measured span ({trackers['seconds']:.0f} s) the machine's CPUs were "
                       f"{trackers['machine_busy_share']:.0%} busy (`/proc/stat`, all processes), and the two trackers' "
                       f"threads waited {trackers['run_queue_wait_s']:.1f} s in all, runnable, for a CPU "
                       "(`/proc/<pid>/task/*/schedstat`).")
    views = [(name, server_view(path)) for name, path in (("A", args.metrics_a), ("B", args.metrics_b))]
    if any(v for _, v in views):
        out.append("The trackers' own request durations (`sms_tracker_api_request_duration_seconds`, route `message`, "
                   "handler start → end, whole phase with its warm-up; A's include its forwards to B, B's are the forwarded "
                   "lookups it answered): "
                   + "; ".join(f"{name}: {v}" for name, v in views if v) + ".")
    out.append("")


def throughput_section(out, args, rows):
    out += [f"**Processing throughput** — {fmt_int(int(args.messages))} preloaded messages, both instances "
            "started at once with a fresh group; time = their start → group's committed offsets at the end of "
            "both inputs. Mode *lookups*: the driver sent lookups to A for ids of the backlog during the whole run.",
            "", "| run | mode | input records | time | input records/s | CPU A | CPU B | CPU A+B | lookups/s | "
            "lookup answers by code | load before |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("failed"):
            out.append(f"| {r['run']} | {r['mode']} | failed |" + " |" * 8)
            continue
        lk = r.get("lookups")
        per_s = fmt_int(lk["sent_per_s"] or 0) if lk else "–"
        answers = "–"
        if lk:
            answers = codes(lk["all"])
            if lk["failed"]["count"]:
                answers += f", no answer: {fmt_int(lk['failed']['count'])}"
        out.append(f"| {r['run']} | {r['mode']} | {fmt_int(r['input_records'])} | {r['done_s']:.1f} s | "
                   f"{fmt_int(r['input_records_per_s'])} | {r['cpu_a_s']:.1f} s | {r['cpu_b_s']:.1f} s | "
                   f"{r['cpu_a_s'] + r['cpu_b_s']:.1f} s | {per_s} | {answers} | {r['load_before']} |")
    out.append("")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--rate", required=True)
    p.add_argument("--rate-source", default="")
    p.add_argument("--lookups", type=int, required=True)
    p.add_argument("--partitions", required=True)
    p.add_argument("--messages", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--docs", default="")
    p.add_argument("--metrics-a", default="")
    p.add_argument("--metrics-b", default="")
    args = p.parse_args()
    path = lambda name: os.path.join(args.out, name)  # noqa: E731
    lookup = json.load(open(path("lookup.json"))) if os.path.exists(path("lookup.json")) else None
    trackers = json.load(open(path("lat-trackers.json"))) if os.path.exists(path("lat-trackers.json")) else None
    rows = [json.loads(l) for l in open(path("results.jsonl")) if l.strip()] if os.path.exists(path("results.jsonl")) else []

    out = [f"### Lookups while processing — {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}", "",
           f"`{args.command}` — sms-tracker from {tracker_version(path('results.jsonl'))}, release build, two "
           f"instances (bench-a, bench-b) sharing {args.partitions} partitions, one local broker. Raw files: "
           f"`target/bench/{os.path.basename(os.path.normpath(args.out))}/`.", "", f"Machine: {machine()}", ""]
    if lookup:
        latency_section(out, args, lookup, trackers)
    if rows:
        throughput_section(out, args, rows)

    targets = []
    if lookup:
        at_rate = lookup["sent_per_s"] is not None and lookup["sent_per_s"] >= 0.95 * args.lookups
        caveat = "" if at_rate and not lookup["driver"]["fell_behind"] else " (caution: not at the requested rate, or the driver fell behind)"
        for name, bound in (("local", LOCAL_P99_MS), ("forwarded", FORWARDED_P99_MS)):
            p99 = lookup[name]["p99_ms"]
            targets.append(f"p99 {name} ≤ {bound} ms at {fmt_int(args.lookups)} lookups/s: {ms(p99)} — "
                           f"{met(p99 is not None and p99 <= bound)}{caveat}")
    done = [r for r in rows if not r.get("failed")]
    without = [r["input_records_per_s"] for r in done if r["mode"] == "none"]
    with_lookups = [r["input_records_per_s"] for r in done if r["mode"] == "lookups"]
    if without and with_lookups:
        a, b = statistics.median(without), statistics.median(with_lookups)
        targets.append(f"processing throughput with lookups within 10 % of without: median {fmt_int(b)} vs "
                       f"{fmt_int(a)} input records/s ({b / a:.1%}) — {met(b >= THROUGHPUT_SHARE * a)}")
    if targets:
        out.append("Issue 14 targets:")
        out.append("")
        out += [f"- {t}" for t in targets]
    text = "\n".join(out)
    print(text)
    if args.docs:
        replace_section(args.docs, "lookup", text)
    if any(r.get("failed") for r in rows) or (rows == [] and lookup is None):
        sys.exit(1)


if __name__ == "__main__":
    main()
