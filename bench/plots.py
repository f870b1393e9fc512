#!/usr/bin/env python3
"""The benchmark figures (issue #15), drawn from the raw files of one run under target/bench/<run>/.

    python3 bench/plots.py compare  --run target/bench/bench-compare-…   # throughput.svg
    python3 bench/plots.py receipts --run target/bench/bench-compare-…   # throughput-receipts.svg (RECEIPTS=1)
    python3 bench/plots.py latency  --run target/bench/bench-latency-…   # latency.svg
    python3 bench/plots.py soak     --run target/bench/bench-soak-…      # soak-memory.svg, soak-rss-per-entry.svg
    python3 bench/plots.py restore  --run target/bench/bench-restore-…   # restore.svg
    python3 bench/plots.py lookup   --run target/bench/bench-lookup-…    # lookup.svg
    options: --command "what produced the run" (shown in the footer), --out DIR (default docs/img)

The benchmark scripts call it at their end (bench/report.py for compare.sh and latency.sh), unless
SMOKE=1 or WRITE_DOCS=0, so a rerun replaces its figures: the file names are fixed, and the SVG is
deterministic (fixed hash salt, no date), so an unchanged run gives an unchanged file. Text stays
text in the SVG (svg.fonttype none): it is searchable, and small.

Every figure has a footer naming what it came from: the commit (the run's tracker-version.txt,
written at build time), the machine (the run's machine.txt if any, else this machine: the scripts
plot right after measuring, on the same machine), the command, and the run directory.

Any python3 can start it: without matplotlib it re-executes itself in the project's venv
(target/venv, made by scripts/python-venv.sh with the pinned bench/requirements.txt).
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "target" / "venv"

NAMES = {"raw-pipe": "raw pipe", "kstreams": "Kafka Streams (article)", "kstreams-tuned": "Kafka Streams (tuned)",
         "tracker": "sms-tracker", "tracker-receipts": "sms-tracker + receipts"}
ORDER = ["raw-pipe", "kstreams", "kstreams-tuned", "tracker", "tracker-receipts"]
COLORS = {"raw-pipe": "#7f7f7f", "kstreams": "#e6772e", "kstreams-tuned": "#b5651d", "tracker": "#1f6fb4",
          "tracker-receipts": "#7b4fa6"}
KINDS = [("pending", "pending"), ("awaiting message", "awaiting message"), ("terminal markers", "terminal markers")]
MIB = 1 << 20


def ensure_venv():
    """Re-executes the running script in target/venv unless already there: the benchmark scripts
    and the test suite call `python3`, and matplotlib lives only in the project's venv."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    subprocess.run([str(ROOT / "scripts" / "python-venv.sh")], check=True)
    python = str(VENV / "bin" / "python")
    os.execv(python, [python, *sys.argv])


def pyplot():
    """matplotlib with the settings that keep the SVG deterministic and its text searchable."""
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "svg.hashsalt": "sms-tracker-bench",  # stable clip-path ids
        "svg.fonttype": "none",               # text as <text>, not glyph paths
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    import matplotlib.pyplot as plt
    return plt


# --- what a run came from -------------------------------------------------------------------------

def read_text(path, default=None):
    return Path(path).read_text().strip() if Path(path).exists() else default


def this_machine():
    """One line about the machine plotting: the scripts plot where and right after they measured."""
    model = "?"
    if Path("/proc/cpuinfo").exists():
        model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    mem = "?"
    if Path("/proc/meminfo").exists():
        kb = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:")), None)
        mem = f"{kb // MIB}" if kb else "?"  # whole GiB, as `free -g` (report.py) says
    return f"{os.cpu_count()} CPUs, {model}, {mem} GiB RAM, Linux {platform.release()}"


def footer(runs, command):
    """The caption every figure carries: commit, machine, command and run directories."""
    run = Path(runs[-1])
    commits = sorted({read_text(Path(r) / "tracker-version.txt", "commit unknown (no tracker-version.txt)")
                      for r in runs})
    machine = read_text(run / "machine.txt") or this_machine()
    names = ", ".join(Path(r).name for r in runs)
    text = (f"sms-tracker {'; '.join(commits)} · machine: {machine} · command: {command or '?'} · "
            f"raw files: target/bench/{names} · drawn by bench/plots.py")
    return textwrap.wrap(text, 170)


def finish(fig, lines, path):
    """Adds the footer below the axes and writes a deterministic SVG (no date, fixed ids)."""
    height = fig.get_figheight()
    room = (0.16 * len(lines) + 0.12) / height
    fig.text(0.01, 0.012, "\n".join(lines), fontsize=7, color="#444444", ha="left", va="bottom",
             linespacing=1.4)
    fig.tight_layout(rect=(0, room, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    import matplotlib.pyplot as plt
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)
    return path


def read_jsonl(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def tick_label(system):
    """A system's name on two lines where it has two parts, so that four bars' names fit."""
    return NAMES.get(system, system).replace(" + ", "\n+ ").replace("Kafka Streams (", "Kafka\nStreams\n(")


def systems_in(rows):
    """The systems of a run in a fixed order, so colours and positions match between figures."""
    seen = {r["system"] for r in rows}
    return [s for s in ORDER if s in seen] + sorted(seen - set(ORDER))


def fmt_value(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def plain_numbers(*axes_list, x=False):
    """Axis labels as 1,000,000 rather than 1e6 offsets: the reader compares them with the tables."""
    from matplotlib.ticker import FuncFormatter
    formatter = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:g}")
    for ax in axes_list:
        (ax.xaxis if x else ax.yaxis).set_major_formatter(formatter)


def suptitle(fig, text):
    fig.suptitle("\n".join(textwrap.wrap(text, 140)), fontsize=9.5)


# --- compare.sh: throughput, CPU and memory per system ------------------------------------------------

def throughput_metrics(receipts, messages):
    """What each panel shows. Plain comparison: input records/s up to the committed end of the
    inputs, CPU per input record. With receipts the systems read different inputs, so per message,
    up to "all processed" (drained_s: the internal topics too), as bench/report.py's receipts table."""
    rss = ("peak RSS (MiB)", lambda r: r["rss_kb"] / 1024)
    if receipts:
        return [("messages/s (all processed)", lambda r: messages / r.get("drained_s", r["done_s"])),
                ("CPU per message (µs)", lambda r: r["cpu_s"] / messages * 1e6), rss]
    return [("input records/s", lambda r: r["input_records"] / r["done_s"]),
            ("CPU per input record (µs)", lambda r: r["cpu_s"] / r["input_records"] * 1e6), rss]


def figure_throughput(run, command, out, receipts=False):
    """Bars: the median over the runs; black dots: every run; whisker: min–max. One panel per
    metric, the systems side by side in each."""
    plt = pyplot()
    rows = read_jsonl(Path(run) / "results.jsonl")
    loadgen = json.loads((Path(run) / "loadgen.json").read_text())
    messages = loadgen["messages"]
    done = [r for r in rows if not r.get("failed")]
    systems = systems_in(done)
    runs = len({r["run"] for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.1))
    for ax, (label, value) in zip(axes, throughput_metrics(receipts, messages)):
        top = 0.0
        for i, system in enumerate(systems):
            values = [value(r) for r in done if r["system"] == system]
            median = statistics.median(values)
            top = max(top, *values)
            ax.bar(i, median, width=0.62, color=COLORS.get(system, "#999999"), alpha=0.85)
            ax.vlines(i, min(values), max(values), color="black", linewidth=1)
            # Every run as a dot, spread a little sideways so equal values stay visible.
            offsets = [(k - (len(values) - 1) / 2) * 0.09 for k in range(len(values))]
            ax.scatter([i + o for o in offsets], values, s=10, color="black", zorder=3)
            ax.annotate(fmt_value(median), (i, max(values)), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(systems)), [tick_label(s) for s in systems], fontsize=7)
        ax.set_title(label)
        ax.set_ylim(0, top * 1.18 if top else 1)
        ax.grid(axis="x", visible=False)
        plain_numbers(ax)
    failed = [r for r in rows if r.get("failed")]
    if receipts:
        inputs = (f"{messages:,} messages; sms-tracker + receipts also reads "
                  f"{loadgen.get('delivery_report_records', 0):,} delivery reports")
    else:
        inputs = f"{messages:,} messages ({loadgen['sent_records'] + loadgen['response_records']:,} input records)"
    title = (f"{'Delivery receipts: ' if receipts else ''}{inputs}, preloaded; bar = median of {runs} run(s), "
             f"dots = each run, line = min–max")
    if failed:
        title += f"; {len(failed)} failed run(s) left out"
    suptitle(fig, title)
    name = "throughput-receipts.svg" if receipts else "throughput.svg"
    return [finish(fig, footer([run], command), Path(out) / name)]


# --- latency.sh: per-second percentiles -----------------------------------------------------------

def figure_latency(run, command, out):
    """One panel per requested rate, every system at that rate on it: p50 (dashed), p99 (solid)
    and max (dotted) per second of the run, on a log scale (Kafka Streams' seconds and the
    tracker's milliseconds on one chart). Seconds are those of each message's last input record,
    as bench_probe's by_second; the warm-up left out of the steady percentiles is shaded, the
    start-up second is second 0."""
    plt = pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    rows = read_jsonl(Path(run) / "results.jsonl")
    rates = sorted({r["rate"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(len(rates), 1, figsize=(10, 0.9 + 3.0 * len(rates)), squeeze=False)
    for ax, rate in zip(axes[:, 0], rates):
        at_rate = [r for r in rows if r["rate"] == rate]
        handles = []
        for system in systems_in(at_rate):
            r = next(x for x in at_rate if x["system"] == system)
            color = COLORS.get(system, "#999999")
            if r.get("failed") or not r.get("by_second"):
                handles.append(Line2D([], [], color=color, label=f"{NAMES.get(system, system)}: failed, no data"))
                continue
            seconds = [s[0] for s in r["by_second"]]
            # Zero cannot go on a log scale: such a second is left out rather than moved.
            ms = lambda k: [s[k] if s[k] > 0 else float("nan") for s in r["by_second"]]
            ax.plot(seconds, ms(2), color=color, linewidth=1, linestyle="--")
            ax.plot(seconds, ms(3), color=color, linewidth=1.8)
            ax.plot(seconds, ms(4), color=color, linewidth=0.8, linestyle=":")
            steady = r.get("steady", {})
            handles.append(Line2D([], [], color=color, linewidth=1.8, label=(
                f"{NAMES.get(system, system)}: steady p50/p99/max {steady.get('p50_ms')}/{steady.get('p99_ms')}/"
                f"{steady.get('max_ms')} ms, whole run max {r.get('max_ms')} ms")))
        warmup = next((r.get("warmup_seconds") for r in at_rate if r.get("warmup_seconds")), 0)
        if warmup:
            ax.axvspan(0, warmup, color="#999999", alpha=0.15, linewidth=0)
            handles.append(plt.Rectangle((0, 0), 1, 1, color="#999999", alpha=0.15,
                                         label=f"first {warmup} s: left out of the steady percentiles"))
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        # Room above the lines for the legend: the data in the lower ~65 % of the (log) height.
        values = [v for r in at_rate for s in r.get("by_second") or [] for v in s[2:5] if v > 0]
        if values:
            low, high = min(values) * 0.8, max(values)
            ax.set_ylim(low, low * (high / low) ** (1 / 0.65))
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{rate:,} input records/s requested", fontsize=9.5)
        ax.set_xlim(left=0)
        handles += [Line2D([], [], color="black", linewidth=1, linestyle="--", label="p50"),
                    Line2D([], [], color="black", linewidth=1.8, label="p99"),
                    Line2D([], [], color="black", linewidth=0.8, linestyle=":", label="max")]
        ax.legend(handles=handles, fontsize=7, loc="upper right", ncol=2, framealpha=0.85)
    axes[-1, 0].set_xlabel("second of the run (of each message's last input record)")
    fig.suptitle("Completion latency per second: last input record a message needed → its SENT visible "
                 "(read_committed)", fontsize=9.5)
    return [finish(fig, footer([run], command), Path(out) / "latency.svg")]


# --- soak.sh: memory over time ------------------------------------------------------------------

def read_samples(path):
    """The rows of soak.sh's samples.md (a markdown table; thousands separators allowed), as dicts
    keyed by the header's column names."""
    rows = [l.strip().strip("|").split("|") for l in Path(path).read_text().splitlines() if l.strip().startswith("|")]
    header = [c.strip() for c in rows[0]]
    samples = []
    for cells in rows[1:]:
        cells = [c.strip().replace(",", "") for c in cells]
        if cells and not set(cells[0]) <= set("-: "):
            samples.append({h: float(c) for h, c in zip(header, cells)})
    return samples


def state_entries(sample):
    return sum(sample[k] for k, _ in KINDS)


def figure_soak_memory(run, command, out):
    """Resident memory (top) and state entries by kind (bottom) at each sample: flat lines once the
    retention window is full mean bounded state. Entries on a symmetric log scale, so a few hundred
    pending messages show beside a hundred thousand markers (and zero at t = 0 is allowed)."""
    plt = pyplot()
    samples = read_samples(Path(run) / "samples.md")
    t = [s["t (s)"] for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.6), sharex=True)
    top.plot(t, [s["RSS (MiB)"] for s in samples], marker="o", markersize=3, color=COLORS["tracker"])
    top.set_ylabel("RSS (MiB)")
    top.set_ylim(bottom=0)
    top.set_title("resident memory of the tracker", fontsize=9.5)
    for (key, label), color in zip(KINDS, ["#e6772e", "#2ca02c", "#1f6fb4"]):
        bottom.plot(t, [s[key] for s in samples], marker="o", markersize=3, color=color, label=label)
    bottom.set_yscale("symlog", linthresh=10)
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("state entries")
    bottom.set_xlabel("time since the load generator started (s)")
    bottom.set_title("state entries by kind (all partitions)", fontsize=9.5)
    bottom.legend(fontsize=8, loc="center right")
    consumed = samples[-1]["records consumed"]
    suptitle(fig, f"Soak: memory and state over {t[-1]:.0f} s, {consumed:,.0f} records consumed")
    return finish(fig, footer([run], command), Path(out) / "soak-memory.svg")


def figure_soak_rss_per_entry(run, command, out):
    """Resident memory against the state it holds, at each sample with state: RSS (left), and RSS
    divided by the state entries (right). RSS includes what does not grow with the state (code,
    buffers, client queues), so that quotient is an upper bound that falls as state grows; when the
    first sample has no state yet (soak.sh samples at t = 0), the right panel also shows the growth
    over that sample per entry, closer to what an entry costs."""
    plt = pyplot()
    every = read_samples(Path(run) / "samples.md")
    samples = [s for s in every if state_entries(s) > 0]
    entries = [state_entries(s) for s in samples]
    rss = [s["RSS (MiB)"] for s in samples]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.9))
    left.plot(entries, rss, marker="o", markersize=4, linewidth=0.8, color=COLORS["tracker"])
    left.set_ylabel("RSS (MiB)")
    lines = [(rss, "RSS / state entries", COLORS["tracker"], "o")]
    base = every[0] if every and state_entries(every[0]) == 0 else None
    if base:
        lines.append(([r - base["RSS (MiB)"] for r in rss],
                      f"(RSS − RSS at t = {base['t (s)']:.0f} s, no state) / state entries", "#e6772e", "s"))
    for y, label, color, marker in lines:
        right.plot(entries, [v * MIB / e for v, e in zip(y, entries)], marker=marker, markersize=4, linewidth=0.8,
                   color=color, label=label)
    right.set_ylabel("bytes per state entry")
    right.legend(fontsize=7, loc="lower left")
    span = max(entries) - min(entries) or 1
    for ax in (left, right):
        # Label the time of a sample unless it sits on top of the previous labelled one.
        last = None
        for s, x, line in zip(samples, entries, ax.get_lines()[0].get_ydata()):
            if last is None or abs(x - last) > 0.04 * span:
                ax.annotate(f"{s['t (s)']:.0f} s", (x, line), xytext=(4, 3), textcoords="offset points", fontsize=7)
                last = x
        ax.set_xlabel("state entries (pending + awaiting message + terminal markers)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        plain_numbers(ax)
        plain_numbers(ax, x=True)
    suptitle(fig, "Soak: resident memory as the state grows (labels: time of the sample; samples after the first at "
                  "about the same state are not labelled)")
    return finish(fig, footer([run], command), Path(out) / "soak-rss-per-entry.svg")


# --- restore.sh: restore time against state size -------------------------------------------------

RESTORED = re.compile(r'State restored partition=(\d+) what="?([\w-]+)"? records=(\d+) seconds=([0-9.]+)')


def read_restore(run):
    """restore.sh's restore.json, plus each partition's restore from the restarted tracker's log."""
    result = json.loads((Path(run) / "restore.json").read_text())
    result["partitions_restored"] = []
    log = Path(run) / "restore.log"
    if log.exists():
        for line in log.read_text().splitlines():
            m = RESTORED.search(line)
            if m:
                result["partitions_restored"].append(
                    {"partition": int(m[1]), "what": m[2], "records": int(m[3]), "seconds": float(m[4])})
    return result


def restore_runs(run):
    """The run, and earlier restore runs beside it of the same commit: one run is one state size,
    so restoring several sizes (MESSAGES=… bench/restore.sh, one after another) gives the curve.
    Of runs with the same number of messages, the latest counts."""
    run = Path(run)
    version = read_text(run / "tracker-version.txt")
    candidates = sorted(run.parent.glob("bench-restore-*")) if version else []
    same = [r for r in candidates if (r / "restore.json").exists() and read_text(r / "tracker-version.txt") == version]
    if run not in same:
        same.append(run)
    latest = {}
    for r in same:
        latest[json.loads(Path(r / "restore.json").read_text())["messages"]] = r
    return [latest[m] for m in sorted(latest)]


def figure_restore(run, command, out):
    """Left: seconds against changelog records replayed — the whole restart (process start →
    /readyz) per run, and each partition's own restore from the log. Right: RSS after the fill and
    after the restore against the messages in state."""
    plt = pyplot()
    dirs = restore_runs(run)
    results = [read_restore(d) for d in dirs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.0))
    parts = [p for r in results for p in r["partitions_restored"] if p["records"] > 0]
    if parts:
        left.scatter([p["records"] for p in parts], [p["seconds"] for p in parts], s=12, color="#7f7f7f",
                     label="one partition's restore, its own records (log)", zorder=2)
    x = [r["restored_records"] for r in results]
    left.plot(x, [r["time_to_ready_s"] for r in results], marker="D", color=COLORS["tracker"], linewidth=1,
              label="whole restart: process start → /readyz", zorder=3)
    for r in results:
        left.annotate(f"{r['time_to_ready_s']:.2f} s ({r['partitions']} partitions)", (r["restored_records"],
                      r["time_to_ready_s"]), xytext=(-8, -3), textcoords="offset points", ha="right", va="top",
                      fontsize=7)
    left.set_xlabel("changelog records replayed")
    left.set_ylabel("seconds")
    left.set_xlim(left=0)
    left.set_ylim(0, max([r["time_to_ready_s"] for r in results] + [p["seconds"] for p in parts]) * 1.25)
    left.legend(fontsize=7, loc="upper left")
    plain_numbers(left, x=True)
    left.set_title("restore time", fontsize=9.5)
    messages = [r["open_entries"] for r in results]
    right.plot(messages, [r["rss_filled_bytes"] / MIB for r in results], marker="o", color="#e6772e",
               label="after the fill")
    right.plot(messages, [r["rss_restored_bytes"] / MIB for r in results], marker="s", color=COLORS["tracker"],
               label="after the restore")
    right.set_xlabel("messages in state")
    right.set_ylabel("RSS (MiB)")
    right.set_xlim(left=0)
    right.set_ylim(0, max(max(r["rss_filled_bytes"], r["rss_restored_bytes"]) for r in results) / MIB * 1.15)
    right.legend(fontsize=7, loc="upper left")
    right.set_title("resident memory", fontsize=9.5)
    plain_numbers(right)
    plain_numbers(right, x=True)
    suptitle(fig, f"Restore: {len(results)} state size(s) of open messages (no responses); the tracker stopped "
                  f"with SIGTERM and started again")
    return [finish(fig, footer(dirs, command), Path(out) / "restore.svg")]


# --- lookup.sh: lookup latency per second, throughput with and without lookups -------------------

def figure_lookup(run, command, out):
    """Left: p99 of the lookups answered in each second of the latency phase, local and forwarded,
    with issue 14's targets. Right: input records/s of each throughput run, without and with
    lookups (bar = median, dots = runs)."""
    plt = pyplot()
    run = Path(run)
    lookup = json.loads((run / "lookup.json").read_text())
    seconds = lookup["by_second"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.0), gridspec_kw={"width_ratios": [2.2, 1]})
    t = [s["t"] for s in seconds]
    for key, label, color, target in [("local", "answered locally", COLORS["tracker"], 5),
                                      ("forwarded", "forwarded to the owner", "#e6772e", 15)]:
        left.plot(t, [s[f"{key}_p99_ms"] for s in seconds], color=color, linewidth=1.2,
                  label=f"{label}: p99 {lookup[key]['p99_ms']:.1f} ms over the phase")
        left.axhline(target, color=color, linestyle=":", linewidth=1, label=f"issue 14's target, {key}: {target} ms")
    left.set_yscale("log")
    left.set_xlabel("second of the latency phase (warm-up included)")
    left.set_ylabel("p99 of the second (ms)")
    left.set_title(f"{lookup['requested_per_s']:,.0f} lookups/s, open-loop, while processing input", fontsize=9.5)
    left.legend(fontsize=7.5, loc="upper right")
    rows = [r for r in read_jsonl(run / "results.jsonl") if r.get("mode") in ("none", "lookups")]
    for i, mode in enumerate(["none", "lookups"]):
        rates = [r["input_records_per_s"] for r in rows if r["mode"] == mode and r.get("input_records_per_s")]
        if not rates:
            continue
        median = statistics.median(rates)
        right.bar(i, median, width=0.6, color=COLORS["tracker"] if mode == "none" else "#7fb0dc")
        right.scatter([i] * len(rates), rates, s=12, color="black", zorder=3)
        right.annotate(fmt_value(median), (i, median), textcoords="offset points", xytext=(0, 4), ha="center",
                       fontsize=8)
    right.set_xticks([0, 1], ["no lookups", f"{lookup['requested_per_s']:,.0f} lookups/s"])
    right.set_ylabel("input records/s (backlog)")
    right.set_title("processing throughput", fontsize=9.5)
    plain_numbers(right)
    suptitle(fig, "Lookups: two instances sharing the partitions; the driver asks one of them (bench/lookup.sh)")
    return finish(fig, footer([run], command), Path(out) / "lookup.svg")


FIGURES = {
    "compare": lambda run, command, out: figure_throughput(run, command, out),
    "receipts": lambda run, command, out: figure_throughput(run, command, out, receipts=True),
    "latency": figure_latency,
    "soak": lambda run, command, out: [figure_soak_memory(run, command, out),
                                       figure_soak_rss_per_entry(run, command, out)],
    "restore": figure_restore,
    "lookup": figure_lookup,
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=sorted(FIGURES))
    p.add_argument("--run", required=True, help="the run's raw directory, target/bench/<run>")
    p.add_argument("--command", default="", help="the command that made the run, for the footer")
    p.add_argument("--out", default=str(ROOT / "docs" / "img"), help="where the SVG files go")
    args = p.parse_args()
    ensure_venv()
    FIGURES[args.kind](args.run, args.command, args.out)


if __name__ == "__main__":
    main()
