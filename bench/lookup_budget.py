#!/usr/bin/env python3
"""The report of bench/lookup_budget.sh: for each cell (input share, lookup rate) of bench/lookup.sh
latency phases, the lookups' latency, how busy the machine was, and the CPU each side spent per
lookup — the CPU time beyond the same input share's first (baseline) cell, divided by the lookups
sent beyond it. Printed as markdown and, with --docs, written between <!-- lookup-budget:start -->
and <!-- lookup-budget:end --> of that file."""

import argparse
import json
import os
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))
from report import fmt_int, machine, replace_section, tracker_version  # noqa: E402


def load(directory):
    lookup = json.load(open(os.path.join(directory, "lookup.json")))
    trackers = json.load(open(os.path.join(directory, "lat-trackers.json")))
    return {
        "rate": trackers["rate"],
        "kept_up": trackers["input_records_per_s"],
        "busy": trackers["machine_busy_share"],
        "run_queue_s": trackers.get("run_queue_wait_s"),
        # The trackers' CPU over the measured span (their start-up left out), the driver's over its run.
        "cpu": {"A": trackers["cpu_a_span_s"], "B": trackers["cpu_b_span_s"], "driver": lookup["driver"]["cpu_s"]},
        "sent": lookup["sent"],
        "sent_per_s": lookup["sent_per_s"],
        "local": lookup["local"],
        "forwarded": lookup["forwarded"],
        "send_delay_p99_ms": lookup["driver"]["send_delay_p99_ms"],
        "dir": directory,
    }


def per_lookup_us(cell, base, side):
    lookups = cell["sent"] - base["sent"]
    if lookups <= 0:
        return None
    return (cell["cpu"][side] - base["cpu"][side]) / lookups * 1e6


def us(x):
    return "–" if x is None else f"{x:.0f} µs"


def latency(c):
    if not c.get("count"):
        return "–"
    return f"{c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms"


def budget(cells):
    """Rows of the table, and per input share the baseline cell and its last (largest) cell."""
    rows, shares = [], {}
    for share, lookups, cell in cells:
        base = shares.setdefault(share, {"base": cell})["base"]
        shares[share]["last"] = cell
        sides = {side: per_lookup_us(cell, base, side) for side in ("A", "B", "driver")}
        rows.append((share, lookups, cell, sides))
    return rows, shares


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cells", required=True, help="lines 'share lookups directory', bench/lookup_budget.sh")
    p.add_argument("--command", required=True)
    p.add_argument("--docs", default="")
    args = p.parse_args()
    cells = []
    for line in open(args.cells):
        share, lookups, directory = line.split()
        cells.append((int(share), int(lookups), load(directory)))
    if not cells:
        sys.exit("no cells")
    rows, shares = budget(cells)
    cores = os.cpu_count()

    out = [f"### What lookups cost, and what is left for them — {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
           "",
           f"`{args.command}` — sms-tracker from {tracker_version(os.path.join(cells[0][2]['dir'], 'results.jsonl'))}, "
           f"release build; each cell is one bench/lookup.sh latency phase (two instances, fresh topics). Raw files: "
           f"`{os.path.relpath(args.cells)}` lists each cell's directory.", "", f"Machine: {machine()}", "",
           "CPU per lookup: the side's CPU time (the trackers' over the measured span, the driver's over its run) beyond the same input's first cell, divided by the lookups sent "
           "beyond it (A is asked every lookup and forwards half; B answers the forwarded half; the driver is "
           "the bench's client). Latency p50 / p99 from each lookup's due time. *Busy*: the machine's CPUs over "
           "the measured span (`/proc/stat`); *run queue*: the two trackers' threads' time runnable, waiting for "
           "a CPU.", "",
           "| input | lookups/s | busy | run queue | CPU per lookup A | B | driver | local p50 / p99 | forwarded p50 / p99 "
           "| driver late p99 | trackers' input records/s |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for share, lookups, cell, sides in rows:
        queue = "–" if cell["run_queue_s"] is None else f"{cell['run_queue_s']:.1f} s"
        out.append(f"| {share} % ({fmt_int(cell['rate'])}/s) | {fmt_int(cell['sent_per_s'])} | {cell['busy']:.0%} | {queue} "
                   f"| {us(sides['A'])} | {us(sides['B'])} | {us(sides['driver'])} | {latency(cell['local'])} "
                   f"| {latency(cell['forwarded'])} | {cell['send_delay_p99_ms']:.1f} ms | {fmt_int(cell['kept_up'])} |")
    out.append("")
    for share, ends in shares.items():
        base, last = ends["base"], ends["last"]
        if last is base:
            continue
        spare = (1 - base["busy"]) * cores
        # Cores: CPU seconds per lookup × lookups per second.
        need = {side: (per_lookup_us(last, base, side) or 0) / 1e6 * last["sent_per_s"] for side in ("A", "B", "driver")}
        out.append(f"- Input at {share} %: with {fmt_int(base['sent_per_s'])} lookup/s the machine was "
                   f"{base['busy']:.0%} busy, {spare:.2f} of its {cores} cores spare; {fmt_int(last['sent_per_s'])} "
                   f"lookups/s took {need['A'] + need['B']:.2f} cores in the two trackers and {need['driver']:.2f} in "
                   f"the driver ({need['A'] + need['B'] + need['driver']:.2f} in all), and the machine was "
                   f"{last['busy']:.0%} busy.")
    text = "\n".join(out)
    print(text)
    if args.docs:
        replace_section(args.docs, "lookup-budget", text)


if __name__ == "__main__":
    main()
