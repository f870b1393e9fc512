#!/usr/bin/env python3
"""Tables for bench/compare.sh and bench/latency.sh: prints markdown, checks correctness, and
replaces the results section of docs/BENCHMARKS.md (between <!-- results:start/end -->,
<!-- receipts:start/end --> for RECEIPTS=1, or <!-- latency:start/end -->). Exits 1 if a system's
output is not what it must be."""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone

COMMIT_INTERVAL_MS = 100


def machine():
    def run(*cmd):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return done.stdout + done.stderr
        except OSError:
            return ""
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    free = run("free", "-g").strip().splitlines()
    mem = free[1].split()[1] if len(free) > 1 else "?"
    java = (run("java", "-version").splitlines() or ["?"])[0]
    rustc = run("rustc", "-V").strip()
    return (f"{os.cpu_count()} CPUs (`nproc` {run('nproc').strip()}), {model}; {mem} GiB RAM (`free -g`); "
            f"Linux {platform.release()}; {java}; {rustc}. The broker (single node, KRaft, "
            f"scripts/kafka.sh, -Xmx1g), the load generator, the probe and the system under test share "
            f"these CPUs.")


def tracker_version(results):
    """What bench/systems.sh recorded at build time: the commit, and uncommitted changes to src/."""
    path = os.path.join(os.path.dirname(results), "tracker-version.txt")
    return open(path).read().strip() if os.path.exists(path) else "?"


def replace_section(path, name, text):
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    doc = open(path).read()
    if start not in doc or end not in doc:
        sys.exit(f"{path} has no {start} ... {end} markers")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    open(path, "w").write(f"{head}{start}\n{text.rstrip()}\n{end}{tail}")
    print(f"wrote {path} ({name})", file=sys.stderr)


def met(ok):
    return "**met**" if ok else "**not met**"


def fmt_int(n):
    return f"{n:,.0f}"


def opt_int(n):
    return "–" if n is None else fmt_int(n)


def seconds(x):
    return "–" if x is None else f"{x:.1f} s"


def other_share(r):
    """CPU time used by others during the run, as a share of the machine's capacity meanwhile."""
    return None if r.get("other_cpu_s") is None else r["other_cpu_s"] / (r["done_s"] * os.cpu_count())



def append_caution(out, rows, share):
    """Names the runs during which other processes used more than 10 % of the machine."""
    disturbed = [r for r in rows if not r.get("failed") and (share(r) or 0) > 0.10]
    if disturbed:
        out.append("**Caution:** other processes used more than 10 % of the machine during "
                   + ", ".join(f"run {r['run']} {r['name']}" for r in disturbed) + "; those figures are pessimistic.")
        out.append("")

def other_cpu(r):
    share = other_share(r)
    return "–" if share is None else f"{r['other_cpu_s']:.1f} s ({share * 100:.0f} %)"


def ratio(a, b, fmt):
    return "–" if a is None or b is None else fmt(a / b)


NAMES = {"raw-pipe": "raw pipe", "kstreams": "Kafka Streams (article)", "kstreams-tuned": "Kafka Streams (tuned)",
         "tracker": "sms-tracker",
         "tracker-receipts": "sms-tracker + receipts"}
OUTCOMES = ("DELIVERED", "UNDELIVERED", "DELIVERY_UNKNOWN")


def ks_settings(args, system):
    """How a Kafka Streams system ran, for the input line of the results."""
    if system == "kstreams":
        return (f" Kafka Streams (article): {args.kstreams_threads} stream thread(s), JVM options "
                f"`{args.kstreams_java_opts or '(none: JVM defaults)'}`.")
    if system == "kstreams-tuned":
        extra = f", extra flags `{args.kstreams_tuned_args}`" if args.kstreams_tuned_args else ""
        return (f" Kafka Streams (tuned): {args.kstreams_tuned_threads} stream thread(s), JVM options "
                f"`{args.kstreams_tuned_java_opts or '(none: JVM defaults)'}`{extra}.")
    return ""


def compare(args):
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    loadgen = json.load(open(args.loadgen))
    n = loadgen["messages"]
    dups = loadgen["duplicate_responses"]
    inputs = loadgen["sent_records"] + loadgen["response_records"]
    failures = []
    for r in rows:
        r["name"] = NAMES.get(r["system"], r["system"])
        if r.get("failed"):
            failures.append(f"run {r['run']}: {r['name']} did not commit the end of its input")
            r["ok"] = False
            continue
        r["rps"] = r["input_records"] / r["done_s"]
        startup = r.get("first_commit_s") or 0.0
        # Meaningless when everything was processed within the first commits (tiny inputs).
        busy = r["done_s"] - startup
        r["rps_after_startup"] = r["input_records"] / busy if busy >= 1.0 else None
        r["missing"] = n - r["distinct_sent_keys"]
        if r["system"] == "kstreams":
            r["ok"] = r["other_records"] == 0 and n - dups <= r["distinct_sent_keys"] <= n
        else:
            r["ok"] = (r["sent_records"] == n and r["distinct_sent_keys"] == n and r["records"] == n)
        if not r["ok"]:
            failures.append(f"run {r['run']}: {r['name']}: {r['sent_records']} SENT records for "
                            f"{r['distinct_sent_keys']} distinct keys of {n} messages, {r['tombstones']} tombstones, "
                            f"{r['other_records']} other records")

    out = []
    title = "Smoke run" if args.smoke == "1" else "Results"
    out.append(f"### {title}: {fmt_int(n)} messages, {args.partitions} partitions, {args.runs} run(s) — "
               f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    out.append("")
    out.append(f"Input: {fmt_int(inputs)} records ({fmt_int(loadgen['sent_records'])} sent-messages, "
               f"{fmt_int(loadgen['response_records'])} submit-responses of which {fmt_int(dups)} duplicate "
               f"responses; no invalid or retryable records), preloaded before any system starts. "
               f"Build: {args.profile}, sms-tracker from {tracker_version(args.results)}."
               + "".join(ks_settings(args, r["system"]) for r in {r["system"]: r for r in rows}.values()))
    out.append("")
    out.append(f"Machine: {machine()}")
    out.append("")
    out.append("| run | system | wall time | startup | input records/s | records/s after startup | peak RSS | CPU | "
               "broker CPU | other CPU | output records | distinct SENT | duplicate SENT | tombstones | "
               "missing | correct |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("failed"):
            out.append(f"| {r['run']} | {r['name']} | did not finish | | | | | | | | | | | | | no |")
            continue
        out.append(
            f"| {r['run']} | {r['name']} | {r['done_s']:.2f} s | {r.get('first_commit_s') or 0:.2f} s | "
            f"{fmt_int(r['rps'])} | {opt_int(r['rps_after_startup'])} | {r['rss_kb'] / 1024:.0f} MiB | "
            f"{r['cpu_s']:.1f} s | {seconds(r['broker_cpu_s'])} | {other_cpu(r)} | {fmt_int(r['records'])} | "
            f"{fmt_int(r['distinct_sent_keys'])} | {fmt_int(r['duplicate_sent_records'])} | "
            f"{fmt_int(r['tombstones'])} | {fmt_int(r['missing'])} | {'yes' if r['ok'] else '**no**'} |")
    out.append("")
    out.append("*Other CPU*: CPU time used on the machine during the run by anything but the system and the "
               "broker (the probe's 100 ms offset polls, and other users of the machine: a large value means the "
               "run was disturbed). The percentage is of the machine's capacity during the run.")
    out.append("")
    append_caution(out, rows, other_share)

    written = {}
    for r in rows:
        if not r.get("failed") and "value_bytes" in r and r["system"] not in written:
            written[r["system"]] = r
    if written:
        out.append("What each system wrote (first run of each; uncompressed keys + values, per message):")
        out.append("")
        out.append("| system | output bytes | changelog records | changelog bytes | total bytes |")
        out.append("|---|---|---|---|---|")
        for s, r in written.items():
            output = (r["key_bytes"] + r["value_bytes"]) / n
            if "changelog_bytes" in r:
                log_records, log_bytes = r["changelog_records"] / n, r["changelog_bytes"] / n
                out.append(f"| {NAMES.get(s, s)} | {output:.0f} | {log_records:.2f} | {log_bytes:.0f} | "
                           f"{output + log_bytes:.0f} |")
            else:
                out.append(f"| {NAMES.get(s, s)} | {output:.0f} | – | – | {output:.0f} |")
        out.append("")

    by = {}
    for r in rows:
        if not r.get("failed"):
            by.setdefault(r["system"], []).append(r)
    def median(values):
        values = list(values)
        return None if None in values else statistics.median(values)
    med = {s: {k: median(x[k] for x in rs) for k in ("rps", "rss_kb", "cpu_s", "rps_after_startup")}
           for s, rs in by.items()}
    if int(args.runs) > 1:
        out.append("Spread over runs (median, min–max):")
        out.append("")
        out.append("| system | input records/s | spread | peak RSS | CPU |")
        out.append("|---|---|---|---|---|")
        for s, rs in by.items():
            v = [x["rps"] for x in rs]
            spread = (max(v) - min(v)) / statistics.median(v) * 100
            out.append(f"| {NAMES.get(s, s)} | {fmt_int(statistics.median(v))} ({fmt_int(min(v))}–{fmt_int(max(v))}) | "
                       f"±{spread / 2:.0f} % | {med[s]['rss_kb'] / 1024:.0f} MiB | {med[s]['cpu_s']:.1f} s |")
        out.append("")

    if args.smoke == "1":
        out.append("Smoke run: correctness only; its timings mean nothing (tiny input, debug build).")
        out.append("")
    elif "tracker" in med and len(med) > 1:
        t = med["tracker"]
        out.append("Ratios (medians; all systems read the same input, so CPU seconds compare as CPU per input record):")
        out.append("")
        for peer in ("kstreams-tuned", "kstreams", "raw-pipe"):
            if peer not in med:
                continue
            k, name = med[peer], NAMES[peer]
            out.append(f"- against {name}: throughput **{t['rps'] / k['rps']:.2f}×** (after startup: "
                       f"{ratio(t['rps_after_startup'], k['rps_after_startup'], lambda x: f'{x:.2f}×')}), "
                       f"CPU **{t['cpu_s'] / k['cpu_s']:.2f}** ({t['cpu_s'] / inputs * 1e6:.1f} vs "
                       f"{k['cpu_s'] / inputs * 1e6:.1f} µs per input record), peak RSS **{t['rss_kb'] / k['rss_kb']:.2f}** "
                       f"({t['rss_kb'] / 1024:.0f} vs {k['rss_kb'] / 1024:.0f} MiB)")
        out.append("")
        exact = all(r["ok"] for r in by["tracker"])
        seen = sorted({(r["sent_records"], r["distinct_sent_keys"], r["records"]) for r in by["tracker"]})
        exact_row = (f"| exactly one output per message | tracker, {len(by['tracker'])} run(s): "
                     + "; ".join(f"{fmt_int(sent)} SENT for {fmt_int(distinct)} distinct ids, {fmt_int(records)} records"
                                 for sent, distinct, records in seen)
                     + f" — {fmt_int(n)} messages | {met(exact)} |")
        if {"kstreams-tuned", "raw-pipe"} <= med.keys():
            k, p = med["kstreams-tuned"], med["raw-pipe"]
            out.append("Issue #13 targets (against the correct, tuned Kafka Streams and the equal-work raw pipe):")
            out.append("")
            out.append("| target | measured | |")
            out.append("|---|---|---|")
            out.append(f"| throughput ≥ 3× Kafka Streams (tuned) | {t['rps'] / k['rps']:.2f}× | {met(t['rps'] / k['rps'] >= 3)} |")
            out.append(f"| CPU per input record ≤ 1/4 of Kafka Streams (tuned) | {t['cpu_s'] / k['cpu_s']:.2f} | "
                       f"{met(t['cpu_s'] * 4 <= k['cpu_s'])} |")
            out.append(f"| peak RSS ≤ 1/3 of Kafka Streams (tuned) | {t['rss_kb'] / 1024:.0f} MiB vs {k['rss_kb'] / 1024:.0f} MiB "
                       f"(1/{k['rss_kb'] / t['rss_kb']:.1f}) | {met(t['rss_kb'] * 3 <= k['rss_kb'])} |")
            out.append(f"| throughput ≥ 90 % of the raw pipe | {t['rps'] / p['rps'] * 100:.0f} % | "
                       f"{met(t['rps'] / p['rps'] >= 0.9)} |")
            out.append(exact_row)
            out.append("")
        if {"kstreams", "raw-pipe"} <= med.keys():
            k, p = med["kstreams"], med["raw-pipe"]
            out.append("Issue #6 targets (against the article's topology; latency: see the latency section):")
            out.append("")
            out.append("| target | measured | |")
            out.append("|---|---|---|")
            out.append(f"| throughput ≥ 5× Kafka Streams (article) | {t['rps'] / k['rps']:.2f}× | {met(t['rps'] / k['rps'] >= 5)} |")
            out.append(f"| throughput ≥ 80 % of raw pipe | {t['rps'] / p['rps'] * 100:.0f} % | "
                       f"{met(t['rps'] / p['rps'] >= 0.8)} |")
            out.append(f"| peak RSS ≤ 1/5 of Kafka Streams (article) | {t['rss_kb'] / 1024:.0f} MiB vs "
                       f"{k['rss_kb'] / 1024:.0f} MiB (1/{k['rss_kb'] / t['rss_kb']:.1f}) | {met(t['rss_kb'] * 5 <= k['rss_kb'])} |")
            out.append(exact_row)
            out.append("")
    text = "\n".join(out)
    print(text)
    if args.docs:
        replace_section(args.docs, "results", text)
    if failures:
        print("\nINCORRECT OUTPUT:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("\nall systems produced the expected outputs", file=sys.stderr)


def receipts(args):
    """RECEIPTS=1: the tracker without and with receipt tracking on one preload with receipts."""
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    loadgen = json.load(open(args.loadgen))
    n = loadgen["messages"]
    dups = loadgen["duplicate_responses"]
    reports = loadgen["delivery_report_records"]
    accepted_parts = loadgen["response_records"] - dups
    planned = {"DELIVERED": loadgen["expected_delivered"], "UNDELIVERED": loadgen["expected_undelivered"],
               "DELIVERY_UNKNOWN": loadgen["expected_delivery_unknown"]}
    wait_unknown = args.wait_unknown == "1"
    # Without a timeout within the run, the messages planned DELIVERY_UNKNOWN stay at SENT.
    expected = dict(planned) if wait_unknown else {**planned, "DELIVERY_UNKNOWN": 0}
    expected_awaiting = 0 if wait_unknown else planned["DELIVERY_UNKNOWN"]
    failures = []
    for r in rows:
        r["name"] = NAMES.get(r["system"], r["system"])
        if r.get("failed"):
            failures.append(f"run {r['run']}: {r['name']} did not commit the end of its input")
            r["ok"] = False
            continue
        # "All processed": internal topics drained too (the tracker without receipts has none).
        r["all_s"] = r.get("drained_s", r["done_s"])
        r["rps_committed"] = r["input_records"] / r["done_s"]
        r["rps"] = r["input_records"] / r["all_s"]
        r["mps"] = n / r["all_s"]
        r["cpu_us_per_record"] = r["cpu_s"] / r["input_records"] * 1e6
        r["cpu_us_per_message"] = r["cpu_s"] / n * 1e6
        keys = r.get("first_outcome_keys", {})
        r["awaiting"] = n - r.get("distinct_outcome_keys", 0)
        problems = []
        if r["sent_records"] != n or r["distinct_sent_keys"] != n:
            problems.append(f"{r['sent_records']} SENT records for {r['distinct_sent_keys']} distinct ids of {n}")
        if r.get("dead_letters", 0):
            problems.append(f"{r['dead_letters']} dead letters")
        if r["system"] == "tracker-receipts":
            if wait_unknown and not r.get("outcomes_complete"):
                problems.append(f"only {r.get('outcomes_seen')} of {n} messages got a delivery outcome within "
                                f"the wait")
            for status in OUTCOMES:
                if keys.get(status, 0) != expected[status]:
                    problems.append(f"{keys.get(status, 0)} {status}, {expected[status]} expected")
            for field, what in (("duplicate_outcome_records", "duplicate outcome records"),
                                ("outcome_before_sent", "outcomes before their SENT"),
                                ("outcome_without_sent", "outcomes without SENT")):
                if r.get(field, 0):
                    problems.append(f"{r[field]} {what}")
            if r["records"] != n + r.get("outcome_records", 0):
                problems.append(f"{r['records']} records: other statuses than SENT and one outcome")
        elif r["records"] != n:
            problems.append(f"{r['records']} records for {n} messages")
        r["ok"] = not problems
        if problems:
            failures.append(f"run {r['run']}: {r['name']}: " + "; ".join(problems))

    out = []
    title = "Smoke run with receipts" if args.smoke == "1" else "Results with receipts"
    out.append(f"### {title}: {fmt_int(n)} messages, {args.partitions} partitions, {args.runs} run(s) — "
               f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    out.append("")
    finals = loadgen["final_receipts"]
    out.append(
        f"Input, preloaded before any system starts: {fmt_int(loadgen['sent_records'])} sent-messages, "
        f"{fmt_int(loadgen['response_records'])} submit-responses (of which {fmt_int(dups)} duplicate responses; "
        f"no invalid or retryable records) and {fmt_int(reports)} delivery reports: {fmt_int(finals)} final "
        f"receipts for {fmt_int(accepted_parts)} accepted parts ({finals / accepted_parts * 100:.0f} %: the parts "
        f"the plan never finishes get none), {fmt_int(loadgen['intermediate_receipts'])} intermediate "
        f"(ENROUTE/ACCEPTD), {fmt_int(loadgen['duplicate_receipts'])} duplicate finals; "
        f"{fmt_int(loadgen['receipts_before_response'])} written before their part's submit response, "
        f"{fmt_int(loadgen['text_receipts'])} as raw `shortMessage` texts. Planned outcomes: "
        f"{fmt_int(planned['DELIVERED'])} DELIVERED, {fmt_int(planned['UNDELIVERED'])} UNDELIVERED, "
        f"{fmt_int(planned['DELIVERY_UNKNOWN'])} DELIVERY_UNKNOWN. Load generator: `--duplicate-share 0.03 "
        f"--invalid-share 0 --retryable-share 0 --seed {loadgen['seed']} --delivery-reports-topic "
        f"<run>.delivery-reports --supplier-id-format {args.supplier_id_format}"
        f"{(' ' + args.receipts_loadgen_args) if args.receipts_loadgen_args else ''}` "
        f"({'its default receipt shares' if not args.receipts_loadgen_args else 'defaults otherwise'}). "
        f"*sms-tracker* reads only sent-messages and submit-responses (receipts off); *sms-tracker + receipts* "
        f"adds `--delivery-reports-topic <run>.delivery-reports --delivery-id-format {args.supplier_id_format} "
        f"--delivery-timeout-seconds {args.delivery_timeout}`. Build: {args.profile}, sms-tracker from "
        f"{tracker_version(args.results)}.")
    out.append("")
    out.append(f"Machine: {machine()}")
    out.append("")
    out.append("| run | system | input records | startup | inputs committed | input records/s | all processed | "
               "input records/s | messages/s | peak RSS | CPU | CPU per input record | CPU per message | "
               "broker CPU | other CPU |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("failed"):
            out.append(f"| {r['run']} | {r['name']} | | | did not finish |" + " |" * 10)
            continue
        out.append(
            f"| {r['run']} | {r['name']} | {fmt_int(r['input_records'])} | {r.get('first_commit_s') or 0:.2f} s | "
            f"{r['done_s']:.2f} s | {fmt_int(r['rps_committed'])} | {r['all_s']:.2f} s | {fmt_int(r['rps'])} | "
            f"{fmt_int(r['mps'])} | {r['rss_kb'] / 1024:.0f} MiB | {r['cpu_s']:.1f} s | "
            f"{r['cpu_us_per_record']:.1f} µs | {r['cpu_us_per_message']:.1f} µs | {seconds(r['broker_cpu_s'])} | "
            f"{other_cpu({**r, 'done_s': r['all_s']})} |")
    out.append("")
    out.append("*Input records*: what the system consumes — sent-messages and submit-responses, plus the delivery "
               "reports for *sms-tracker + receipts*. *Inputs committed*: process start → the group's committed "
               "offsets reach the end of those inputs (the first *input records/s* divides by it). *All processed*: "
               "→ its committed offsets also reach the end of the tracker's internal topics (receipts re-keyed by "
               "supplier id, the join's index, matched receipts), so every receipt's outcome is visible; the second "
               "*input records/s* and *messages/s* divide by it. Without receipts both moments are the same. CPU "
               "(the system's utime + stime) and peak RSS are read at *all processed*. *Other CPU*: CPU time used "
               "on the machine meanwhile by anything but the system and the broker (the probe, other users of the "
               "machine), as a share of its capacity.")
    out.append("")
    out.append("| run | system | output records | SENT (distinct ids) | duplicate SENT | DELIVERED | UNDELIVERED | "
               "DELIVERY_UNKNOWN | still awaiting receipts | duplicate outcomes | outcome before SENT | dead letters | "
               "correct |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("failed"):
            out.append(f"| {r['run']} | {r['name']} |" + " |" * 10 + " no |")
            continue
        keys = r.get("first_outcome_keys", {})
        on = r["system"] == "tracker-receipts"
        value = lambda x: fmt_int(x) if on else "–"
        out.append(
            f"| {r['run']} | {r['name']} | {fmt_int(r['records'])} | {fmt_int(r['sent_records'])} "
            f"({fmt_int(r['distinct_sent_keys'])}) | {fmt_int(r['duplicate_sent_records'])} | "
            + " | ".join(value(keys.get(s, 0)) for s in OUTCOMES) + " | "
            f"{value(r['awaiting'])} | {value(r.get('duplicate_outcome_records', 0))} | "
            f"{value(r.get('outcome_before_sent', 0))} | {fmt_int(r.get('dead_letters', 0))} | "
            f"{'yes' if r['ok'] else '**no**'} |")
    out.append("")
    if wait_unknown:
        when = (f"the probe waited until every message had its outcome, the {args.delivery_timeout} s delivery "
                f"timeout passing in the partitions' clocks once their inputs are idle")
    else:
        when = (f"the {args.delivery_timeout} s delivery timeout does not pass within the run, so the "
                f"{fmt_int(planned['DELIVERY_UNKNOWN'])} messages planned DELIVERY_UNKNOWN end the run at SENT, "
                f"still awaiting receipts")
    out.append(f"Expected: {fmt_int(n)} SENT, one per message; {fmt_int(expected['DELIVERED'])} DELIVERED, "
               f"{fmt_int(expected['UNDELIVERED'])} UNDELIVERED, {fmt_int(expected['DELIVERY_UNKNOWN'])} "
               f"DELIVERY_UNKNOWN and {fmt_int(expected_awaiting)} still awaiting receipts — {when}; no duplicate "
               f"outcome, none before its message's SENT, no dead letters. Outcome columns count distinct ids by "
               f"their first outcome; *duplicate outcomes* = outcome records − ids with an outcome; the output is "
               f"read `read_committed` after the system stopped.")
    out.append("")
    append_caution(out, rows, lambda r: other_share({**r, "done_s": r["all_s"]}))

    by = {}
    for r in rows:
        if not r.get("failed"):
            by.setdefault(r["system"], []).append(r)
    fields = ("rps_committed", "rps", "mps", "rss_kb", "cpu_s", "cpu_us_per_record", "cpu_us_per_message")
    med = {s: {k: statistics.median(x[k] for x in rs) for k in fields} for s, rs in by.items()}
    if int(args.runs) > 1:
        out.append("Spread over runs (median, min–max):")
        out.append("")
        out.append("| system | input records/s (inputs committed) | input records/s (all processed) | messages/s | "
                   "spread | peak RSS | CPU | CPU per input record | CPU per message |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for s, rs in by.items():
            rng = lambda k: f"{fmt_int(med[s][k])} ({fmt_int(min(x[k] for x in rs))}–{fmt_int(max(x[k] for x in rs))})"
            v = [x["mps"] for x in rs]
            spread = (max(v) - min(v)) / statistics.median(v) * 100
            out.append(f"| {NAMES.get(s, s)} | {rng('rps_committed')} | {rng('rps')} | {rng('mps')} | "
                       f"±{spread / 2:.0f} % | {med[s]['rss_kb'] / 1024:.0f} MiB | {med[s]['cpu_s']:.1f} s | "
                       f"{med[s]['cpu_us_per_record']:.1f} µs | {med[s]['cpu_us_per_message']:.1f} µs |")
        out.append("")
    if args.smoke == "1":
        out.append("Smoke run: correctness only; its timings mean nothing (tiny input, debug build).")
        out.append("")
    elif {"tracker", "tracker-receipts"} <= med.keys():
        t, w = med["tracker"], med["tracker-receipts"]
        out.append("The cost of receipts (medians; sms-tracker + receipts against sms-tracker on the same preload):")
        out.append("")
        out.append(f"- messages/s, all processed: **{w['mps'] / t['mps'] * 100:.0f} %** ({fmt_int(w['mps'])} vs "
                   f"{fmt_int(t['mps'])}); input records/s {fmt_int(w['rps'])} vs {fmt_int(t['rps'])}; up to the "
                   f"inputs committed {fmt_int(w['rps_committed'])} vs {fmt_int(t['rps_committed'])} input records/s")
        out.append(f"- CPU per message: **{w['cpu_us_per_message'] / t['cpu_us_per_message']:.2f}×** "
                   f"({w['cpu_us_per_message']:.1f} vs {t['cpu_us_per_message']:.1f} µs); per input record "
                   f"{w['cpu_us_per_record']:.1f} vs {t['cpu_us_per_record']:.1f} µs")
        out.append(f"- peak RSS: {w['rss_kb'] / 1024:.0f} MiB vs {t['rss_kb'] / 1024:.0f} MiB")
        out.append("")
    text = "\n".join(out)
    print(text)
    if args.docs:
        replace_section(args.docs, "receipts", text)
    if failures:
        print("\nINCORRECT OUTPUT:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("\nall systems produced the expected outputs", file=sys.stderr)


# The highest per-second p50 late in a run that still counts as live (ten commit intervals).
LIVE_P50_MS = 1000


def keeps_up_verdict(r):
    """Whether a latency run kept up with its live input, and why: it did if every message got its
    SENT, the per-second p50 of the run's last third is at most 1.2 × that of its middle third
    + 100 ms (a system slower than its input falls further behind every second: its latency grows
    with the run; one that keeps up has the same latency late as in the middle), and that p50 is
    at most 1 s (ten commit intervals: a system that never drains what piled up while it started
    runs on a backlog, not live)."""
    if r.get("failed") or r.get("missing"):
        return False, "not every message got its SENT"
    seconds = [s for s in r.get("by_second") or [] if s[1] > 0]
    if len(seconds) < 6:
        return False, "too few seconds of output to tell"
    end = max(s[0] for s in seconds) + 1
    middle = statistics.median(s[2] for s in seconds if end / 3 <= s[0] < 2 * end / 3)
    late = statistics.median(s[2] for s in seconds if s[0] >= 2 * end / 3)
    ok = late <= 1.2 * middle + 100 and late <= LIVE_P50_MS
    return ok, f"per-second p50 {middle:.0f} ms in the middle third of the run, {late:.0f} ms in the last third"


def keeps_up(args):
    """Exit status 0 if the run of --system at --rate in --results kept up with its live input."""
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    r = next(r for r in rows if r["system"] == args.system and r["rate"] == int(args.rate))
    ok, why = keeps_up_verdict(r)
    print(f"[latency] {NAMES.get(args.system, args.system)} at {fmt_int(int(args.rate))} records/s: "
          f"{'keeps up' if ok else 'falls behind'} ({why})", file=sys.stderr)
    sys.exit(0 if ok else 1)


def live_search_lines(path):
    """The tries of latency.sh's live-rate search, as a table, and what they found."""
    if not path or not os.path.exists(path):
        return []
    rows = [json.loads(l) for l in open(path) if l.strip()]
    if not rows:
        return []
    out = [f"Kafka Streams' live rate: each rate tried for ~{rows[0].get('duration_s', '?')} s on fresh topics, from its median rate in the "
           "last bench/compare.sh run down; the first that it keeps up with is the live rate (it keeps up "
           "when every message gets its SENT and the per-second p50 of the last third of the run is at most "
           "1.2 × that of the middle third + 100 ms, and at most 1 s: a system slower than its input falls "
           "further behind every second, and one whose latency stays in seconds runs on a backlog it never "
           "drains).", "",
           "| system | requested rate | achieved rate | steady p50 | p99 | max | keeps up |",
           "|---|---|---|---|---|---|---|"]
    found = None
    for r in rows:
        ok, why = keeps_up_verdict(r)
        name = NAMES.get(r["system"], r["system"])
        if r.get("failed"):
            out.append(f"| {name} | {fmt_int(r['rate'])}/s | failed | | | | no |")
            continue
        steady = r.get("steady", r)
        out.append(f"| {name} | {fmt_int(r['rate'])}/s | {fmt_int(r['achieved_rate'])}/s | {steady.get('p50_ms')} ms | "
                   f"{steady.get('p99_ms')} ms | {steady.get('max_ms')} ms | {'yes' if ok else 'no'}: {why} |")
        if ok and found is None:
            found = r
    out.append("")
    if found:
        out.append(f"Live rate of {NAMES.get(found['system'], found['system'])}: **{fmt_int(found['rate'])} "
                   f"input records/s**.")
    else:
        out.append("Kafka Streams kept up with none of the tried rates.")
    out.append("")
    return out


def latency(args):
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    warmup = next((r.get("warmup_seconds", 0) for r in rows if not r.get("failed")), 0)
    restart = int(args.restart or 0)
    if restart:
        window = (f"Each system first ran {restart} s of the same load (other ids) on the same topics, was stopped "
                  f"(SIGTERM) and started again (the tracker restores its state from its changelog, Kafka Streams "
                  f"keeps its state directory): the measured window is the first ~{args.duration} s after a "
                  f"restart. *Steady* percentiles leave out the messages completed in its first {warmup} s; "
                  f"*whole run* includes them, the restart's first seconds too.")
    else:
        window = (f"*Steady* percentiles leave out the messages completed in the first {warmup} s of the run (the "
                  f"first writes to fresh topics are slow for every system); *whole run* includes them.")
    out = [f"### Latency at a fixed rate — {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}", "",
           f"Rate R = {fmt_int(float(args.rate))} input records/s ({args.rate_source}) for ~{args.duration} s, "
           f"{args.partitions} partitions, duplicate share 0.03, no invalid records; build: {args.profile}, "
           f"sms-tracker from {tracker_version(args.results)}. "
           f"Latency = first SENT visible to a read_committed consumer − CreateTime of the last input record "
           f"the message needed. {window}", "", f"Machine: {machine()}", ""]
    out += live_search_lines(args.live_search)
    out += ["| system | requested rate | achieved rate | messages | with SENT | missing | premature SENT | "
            "steady p50 | p90 | p99 | p99.9 | max | whole run p99 | max | peak RSS | CPU | SENT records |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    failures = []
    for r in rows:
        name = NAMES.get(r["system"], r["system"])
        if r.get("failed"):
            out.append(f"| {name} | {fmt_int(r.get('rate', 0))}/s | failed |" + " |" * 14)
            failures.append(name)
            continue
        steady = r.get("steady", r)
        ms = lambda src, k: "–" if src.get(k) is None else f"{src[k]} ms"
        out.append(f"| {name} | {fmt_int(r['rate'])}/s | {fmt_int(r['achieved_rate'])}/s | {fmt_int(r['expected'])} | "
                   f"{fmt_int(r['messages_with_sent'])} | {fmt_int(r['missing'])} | {fmt_int(r['premature_sent'])} | "
                   f"{ms(steady, 'p50_ms')} | {ms(steady, 'p90_ms')} | {ms(steady, 'p99_ms')} | "
                   f"{ms(steady, 'p999_ms')} | {ms(steady, 'max_ms')} | {ms(r, 'p99_ms')} | {ms(r, 'max_ms')} | "
                   f"{r['rss_kb'] / 1024:.0f} MiB | {r['cpu_s']:.1f} s | {fmt_int(r['sent_records'])} |")
    out.append("")
    out.append("Percentiles are over the messages whose first SENT arrived after the last input record they "
               "needed; *premature SENT* counts those whose SENT was visible before that record was even "
               "produced, i.e. emitted without it (the article's aggregate counts a duplicate response as a part). "
               "Per-second percentiles of every run are in the `by_second` field of "
               "`target/bench/<run>/<system>-<rate>.latency.json`.")
    out.append("")
    for r in rows:
        if not r.get("failed") and r["achieved_rate"] < 0.95 * r["rate"]:
            out.append(f"Note: the load generator reached only {fmt_int(r['achieved_rate'])} of "
                       f"{fmt_int(r['rate'])} records/s for {NAMES.get(r['system'], r['system'])}.")
            out.append("")
    trackers = [r for r in rows if r["system"] == "tracker" and not r.get("failed")]
    # The issue-6 target is about half load: the row at RATE, which is half the measured maximum.
    tracker = next((r for r in trackers if args.rate and r["rate"] == int(args.rate)), trackers[0] if trackers else None)
    pipes = {r["rate"]: r for r in rows if r["system"] == "raw-pipe" and not r.get("failed")}
    for r in trackers:
        pipe = pipes.get(r["rate"])
        if pipe is None or r.get("p99_ms") is None or pipe.get("p99_ms") is None:
            continue
        bound = pipe["p99_ms"] + 50
        out.append(f"Issue #13 target at {fmt_int(r['rate'])} records/s: whole-run p99 ≤ the raw pipe's + 50 ms "
                   f"({bound} ms): tracker {r['p99_ms']} ms — {met(r['p99_ms'] <= bound)}.")
        out.append("")
    if tracker and tracker.get("p99_ms") is not None:
        bound = 2 * COMMIT_INTERVAL_MS
        steady_p99 = tracker.get("steady", tracker)["p99_ms"]
        out.append(f"Issue #6 target: p99 at half load ≤ 2 × commit interval ({bound} ms): tracker steady p99 "
                   f"{steady_p99} ms — {met(steady_p99 is not None and steady_p99 <= bound)}; whole run p99 "
                   f"{tracker['p99_ms']} ms — {met(tracker['p99_ms'] <= bound)}"
                   + ("" if args.rate_source.startswith("half") else
                      " (caution: the rate was not derived from the measured maximum)") + ".")
        out.append("")
    text = "\n".join(out)
    print(text)
    if args.docs:
        replace_section(args.docs, "latency", text)
    if failures:
        sys.exit(1)


def half_max(args):
    """Half of `--system`'s median input records/s in a bench/compare.sh results file (the rate
    bench/latency.sh and bench/lookup.sh call half the maximum); nothing if it has no such run."""
    if not os.path.exists(args.results):
        return
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    rates = [r["input_records"] / r["done_s"] for r in rows if r["system"] == args.system and not r.get("failed")]
    if rates:
        print(int(statistics.median(rates) / 2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["compare", "latency", "receipts", "keeps-up", "half-max"])
    p.add_argument("--system")
    p.add_argument("--live-search", default="")
    p.add_argument("--restart", default="0")
    p.add_argument("--results", required=True)
    p.add_argument("--loadgen")
    p.add_argument("--messages")
    p.add_argument("--partitions")
    p.add_argument("--runs", default="1")
    p.add_argument("--smoke", default="0")
    p.add_argument("--kstreams-threads", default="1")
    p.add_argument("--kstreams-java-opts", default="")
    p.add_argument("--kstreams-tuned-threads", default="")
    p.add_argument("--kstreams-tuned-java-opts", default="")
    p.add_argument("--kstreams-tuned-args", default="")
    p.add_argument("--profile", default="release")
    p.add_argument("--rate")
    p.add_argument("--rate-source", default="")
    p.add_argument("--duration")
    p.add_argument("--docs", default="")
    p.add_argument("--supplier-id-format", default="")
    p.add_argument("--delivery-timeout", default="")
    p.add_argument("--receipts-loadgen-args", default="")
    p.add_argument("--wait-unknown", default="0")
    args = p.parse_args()
    try:
        {"compare": compare, "latency": latency, "receipts": receipts, "keeps-up": keeps_up,
         "half-max": half_max}[args.mode](args)
    finally:
        if args.docs:  # the figures go with the tables: not in SMOKE mode, nor with WRITE_DOCS=0
            plot(args)


def plot(args):
    """The run's figures next to the docs page (bench/plots.py; matplotlib in target/venv). A
    failure is reported, not fatal: the table is written and the raw files are kept."""
    systems = os.environ.get("SYSTEMS", "")
    prefix = f'SYSTEMS="{systems}" ' if systems else ""
    if args.mode == "latency":
        command = (f"{prefix}RATE={args.rate} DURATION={args.duration} RESTART={args.restart} "
                   f"PARTITIONS={args.partitions} bench/latency.sh")
    else:
        command = (f"{prefix}MESSAGES={args.messages} PARTITIONS={args.partitions} RUNS={args.runs}"
                   f"{' RECEIPTS=1' if args.mode == 'receipts' else ''} bench/compare.sh")
    done = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "plots.py"), args.mode,
                           "--run", os.path.dirname(args.results), "--command", command,
                           "--out", os.path.join(os.path.dirname(args.docs), "img")])
    if done.returncode:
        print(f"the figures were not drawn (bench/plots.py exited {done.returncode})", file=sys.stderr)


if __name__ == "__main__":
    main()
