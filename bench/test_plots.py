#!/usr/bin/env python3
"""Draws every benchmark figure from the raw-file fixtures in bench/fixtures/plots, so that a
plotting change that breaks on the scripts' raw formats fails the test suite (scripts/test.sh),
without running a benchmark. Checks that each SVG is written, parses, carries its footer (commit,
machine, command, run), has no date, and is byte-for-byte the same when drawn again (a rerun on
the same data must not churn docs/img). Also runs bench/report.py as compare.sh and latency.sh
call it, to check that the tables' hook draws the figures beside the docs page, and only then.

    python3 bench/test_plots.py        # any python3: re-executes itself in target/venv
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plots  # noqa: E402

FIXTURES = plots.ROOT / "bench" / "fixtures" / "plots"
CASES = {  # kind: (fixture run, the files it draws)
    "compare": ("bench-compare-fixture", ["throughput.svg"]),
    "receipts": ("bench-compare-receipts-fixture", ["throughput-receipts.svg"]),
    "latency": ("bench-latency-fixture", ["latency.svg"]),
    "soak": ("bench-soak-fixture", ["soak-memory.svg", "soak-rss-per-entry.svg"]),
    "restore": ("bench-restore-fixture", ["restore.svg"]),
    "lookup": ("bench-lookup-fixture", ["lookup.svg"]),
}


def svg_text(path):
    """All text of the SVG, whitespace-normalised: the footer is wrapped over several <text> lines."""
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    return " ".join(" ".join(root.itertext()).split())


def draw(kind, out, run=None, command=None):
    fixture, _ = CASES[kind]
    with contextlib.redirect_stderr(io.StringIO()):  # its "wrote …" lines
        plots.FIGURES[kind](str(run or FIXTURES / fixture), command or f"test command for {kind}", str(out))


class Figures(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="plots-test-"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_every_figure_is_drawn_with_its_footer(self):
        for kind, (fixture, files) in CASES.items():
            with self.subTest(kind=kind):
                draw(kind, self.tmp / kind)
                for name in files:
                    path = self.tmp / kind / name
                    self.assertTrue(path.exists(), f"{path} not written")
                    text = svg_text(path)
                    version = (FIXTURES / fixture / "tracker-version.txt").read_text().strip()
                    machine = (FIXTURES / fixture / "machine.txt").read_text().strip()
                    for expected in (f"sms-tracker {version}", f"machine: {machine}",
                                     f"command: test command for {kind}", f"target/bench/{fixture}"):
                        self.assertIn(expected, text, f"{name}: footer")
                    raw = path.read_text()
                    self.assertNotIn("<dc:date>", raw, f"{name} has a date: it would change on every run")

    def test_drawing_again_gives_the_same_bytes(self):
        for kind, (_, files) in CASES.items():
            with self.subTest(kind=kind):
                draw(kind, self.tmp / "a")
                draw(kind, self.tmp / "b")
                for name in files:
                    self.assertEqual((self.tmp / "a" / name).read_bytes(), (self.tmp / "b" / name).read_bytes(), name)

    def test_figures_name_the_data_they_show(self):
        """A few values of the fixtures must appear as labels (medians, percentiles, sizes)."""
        draw("compare", self.tmp)
        self.assertIn("203,620", svg_text(self.tmp / "throughput.svg"))  # tracker's median input records/s
        draw("latency", self.tmp)
        latency = svg_text(self.tmp / "latency.svg")
        self.assertIn("sms-tracker: steady p50/p99/max 94/159/245 ms", latency)
        self.assertIn("101,774 input records/s requested", latency)
        self.assertIn("16,861 input records/s requested", latency)

    def test_failed_runs_are_drawn_around(self):
        """The scripts record a system that did not finish as {"failed": true} and nothing else:
        the figures leave it out (and say so) instead of failing the benchmark's end."""
        for kind, failed in (("compare", {"run": 4, "system": "kstreams", "failed": True}),
                             ("latency", {"system": "kstreams", "rate": 50000, "failed": True})):
            with self.subTest(kind=kind):
                run = self.tmp / kind / CASES[kind][0]
                shutil.copytree(FIXTURES / CASES[kind][0], run)
                with open(run / "results.jsonl", "a") as results:
                    results.write(json.dumps(failed) + "\n")
                draw(kind, self.tmp / kind / "out", run=run)
        self.assertIn("1 failed run(s) left out", svg_text(self.tmp / "compare" / "out" / "throughput.svg"))
        self.assertIn("Kafka Streams (article): failed, no data", svg_text(self.tmp / "latency" / "out" / "latency.svg"))

    def test_restore_draws_every_size_of_the_same_commit(self):
        """restore.sh measures one size per run; the figure gathers the sibling runs of the same
        commit (the latest per size) and leaves out other commits'."""
        runs = self.tmp / "bench"
        for name, messages, version in (("bench-restore-20260101-000001", 1000000, None),
                                        ("bench-restore-20260101-000002", 300000, None),
                                        ("bench-restore-20260101-000003", 100000, "commit other")):
            shutil.copytree(FIXTURES / "bench-restore-fixture", runs / name)
            result = json.loads((runs / name / "restore.json").read_text())
            result["messages"] = result["open_entries"] = result["restored_records"] = messages  # test-made sizes
            (runs / name / "restore.json").write_text(json.dumps(result))
            if version:
                (runs / name / "tracker-version.txt").write_text(version)
        draw("restore", self.tmp / "out", run=runs / "bench-restore-20260101-000001")
        text = svg_text(self.tmp / "out" / "restore.svg")
        self.assertIn("2 state size(s)", text)
        self.assertIn("bench-restore-20260101-000002, bench-restore-20260101-000001", text)
        self.assertNotIn("000003", text)


class ReportHook(unittest.TestCase):
    """bench/report.py as compare.sh and latency.sh call it: figures beside the docs page it writes."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="plots-hook-"))
        shutil.copy(plots.ROOT / "docs" / "BENCHMARKS.md", self.tmp / "BENCHMARKS.md")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def report(self, *args):
        return subprocess.run([sys.executable, str(plots.ROOT / "bench" / "report.py"), *args],
                              capture_output=True, text=True, cwd=plots.ROOT)

    def test_compare_and_latency_draw_their_figures_next_to_the_docs(self):
        run = FIXTURES / "bench-compare-fixture"
        done = self.report("compare", "--results", str(run / "results.jsonl"), "--loadgen", str(run / "loadgen.json"),
                           "--messages", "1000000", "--partitions", "8", "--runs", "3",
                           "--docs", str(self.tmp / "BENCHMARKS.md"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("command: MESSAGES=1000000 PARTITIONS=8 RUNS=3 bench/compare.sh",
                      svg_text(self.tmp / "img" / "throughput.svg"))
        run = FIXTURES / "bench-latency-fixture"
        done = self.report("latency", "--results", str(run / "results.jsonl"), "--rate", "101774",
                           "--duration", "60", "--partitions", "8", "--docs", str(self.tmp / "BENCHMARKS.md"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("command: RATE=101774 DURATION=60 RESTART=0 PARTITIONS=8 bench/latency.sh",
                      svg_text(self.tmp / "img" / "latency.svg"))

    def test_keeps_up_tells_a_flat_latency_from_a_growing_one(self):
        """latency.sh's live-rate search: a system keeps up with live input when its per-second
        p50 is no higher late in the run than in its middle; one slower than its input falls
        further behind every second."""
        flat = [[s, 1000, 90 + s % 3, 150, 200] for s in range(20)]
        growing = [[s, 1000, 90 + 80 * s, 150 + 80 * s, 200 + 80 * s] for s in range(20)]
        backlog = [[s, 1000, 7000 - 50 * s, 7500, 8000] for s in range(20)]
        results = self.tmp / "search.jsonl"
        with open(results, "w") as out:
            for rate, by_second in ((2000, flat), (3000, growing), (4000, backlog)):
                out.write(json.dumps({"system": "kstreams-tuned", "rate": rate, "missing": 0,
                                      "by_second": by_second}) + "\n")
        kept = self.report("keeps-up", "--results", str(results), "--system", "kstreams-tuned", "--rate", "2000")
        self.assertEqual(kept.returncode, 0, kept.stderr)
        self.assertIn("keeps up", kept.stderr)
        behind = self.report("keeps-up", "--results", str(results), "--system", "kstreams-tuned", "--rate", "3000")
        self.assertEqual(behind.returncode, 1, behind.stderr)
        self.assertIn("falls behind", behind.stderr)
        never_drained = self.report("keeps-up", "--results", str(results), "--system", "kstreams-tuned",
                                    "--rate", "4000")
        self.assertEqual(never_drained.returncode, 1, never_drained.stderr)

    def test_no_figures_without_docs(self):
        """SMOKE=1 and WRITE_DOCS=0 pass an empty --docs: no table written, no figure drawn."""
        run = FIXTURES / "bench-compare-fixture"
        done = self.report("compare", "--results", str(run / "results.jsonl"), "--loadgen", str(run / "loadgen.json"),
                           "--messages", "1000000", "--partitions", "8", "--runs", "3", "--docs", "")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("wrote", done.stderr)
        self.assertFalse((plots.ROOT / "img").exists())


class LookupBudget(unittest.TestCase):
    """bench/lookup_budget.py: CPU per lookup is what a side spent beyond the same input's baseline
    cell, per lookup sent beyond it; and bench/report.py half-max, the rate the lookup and latency
    benchmarks call half the maximum."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="lookup-budget-"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def cell(self, name, sent, cpu_a, cpu_b, cpu_driver, busy):
        directory = self.tmp / name
        directory.mkdir()
        latency = {"count": 10, "p50_ms": 0.5, "p99_ms": 4.0}
        (directory / "lookup.json").write_text(json.dumps({
            "sent": sent, "sent_per_s": sent / 10, "local": latency, "forwarded": latency,
            "driver": {"cpu_s": cpu_driver, "send_delay_p99_ms": 1.0}}))
        (directory / "lat-trackers.json").write_text(json.dumps({
            "rate": 1000, "input_records_per_s": 1000, "machine_busy_share": busy, "run_queue_wait_s": 1.5,
            "cpu_a_s": 99.0, "cpu_b_s": 99.0, "cpu_a_span_s": cpu_a, "cpu_b_span_s": cpu_b}))
        return directory

    def test_cpu_per_lookup_is_counted_beyond_the_baseline(self):
        base = self.cell("base", 10, 5.0, 4.0, 1.0, 0.5)
        busy = self.cell("busy", 50_010, 7.0, 5.0, 3.5, 0.7)
        cells = self.tmp / "cells.txt"
        cells.write_text(f"10 1 {base}\n10 5000 {busy}\n")
        done = subprocess.run([sys.executable, str(plots.ROOT / "bench" / "lookup_budget.py"), "--cells", str(cells),
                               "--command", "test"], capture_output=True, text=True, cwd=plots.ROOT)
        self.assertEqual(done.returncode, 0, done.stderr)
        # 2 s, 1 s and 2.5 s beyond the baseline over 50,000 more lookups: 40, 20 and 50 µs each.
        self.assertIn("| 40 µs | 20 µs | 50 µs |", done.stdout)
        # Half the machine spare before; at 5,001 lookups/s 0.30 cores in the trackers, 0.25 in the driver.
        cores = os.cpu_count()
        self.assertIn(f"{0.5 * cores:.2f} of its {cores} cores spare", done.stdout)
        self.assertIn("took 0.30 cores in the two trackers and 0.25 in the driver", done.stdout)

    def test_half_max_is_half_the_median_of_a_systems_finished_runs(self):
        results = self.tmp / "results.jsonl"
        rows = [{"system": "tracker", "input_records": 100, "done_s": 1.0},
                {"system": "tracker", "input_records": 300, "done_s": 1.0},
                {"system": "tracker", "input_records": 200, "done_s": 1.0},
                {"system": "tracker", "input_records": 10_000, "done_s": 1.0, "failed": True},
                {"system": "raw-pipe", "input_records": 900, "done_s": 1.0}]
        results.write_text("".join(json.dumps(r) + "\n" for r in rows))
        half = lambda system: subprocess.run(  # noqa: E731
            [sys.executable, str(plots.ROOT / "bench" / "report.py"), "half-max", "--system", system,
             "--results", str(results)], capture_output=True, text=True, cwd=plots.ROOT)
        self.assertEqual(half("tracker").stdout.strip(), "100")
        self.assertEqual(half("kstreams-tuned").stdout.strip(), "")


if __name__ == "__main__":
    plots.ensure_venv()
    unittest.main(verbosity=2)
