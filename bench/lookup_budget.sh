#!/usr/bin/env bash
# What lookups cost in CPU, and what the machine has left for them (issue 14): bench/lookup.sh's
# latency phase (PHASES=latency, fresh topics each time) at every input share of INPUT_SHARES and
# every lookup rate of LOOKUP_RATES. Each cell is set beside the same input rate at the first
# lookup rate (1/s by default: the driver and the API all but idle), and the difference in CPU
# time — instance A (asked every lookup, forwards half), instance B (answers the forwarded half),
# the driver — divided by the lookups sent is that side's CPU per lookup. The machine's busy share
# over each measured span (/proc/stat) says how much was left.
#
#   bench/lookup_budget.sh                        # input at 50 % and 10 % of the maximum × 1, 1000, 2500, 5000 lookups/s, 30 s each
#   INPUT_SHARES="50" LOOKUP_RATES="1 5000" DURATION=20 WRITE_DOCS=0 bench/lookup_budget.sh
#
# Input rate of a share: that share of twice RATE, which defaults as in bench/lookup.sh to half the
# tracker's median input records/s in the last bench/compare.sh run. The report
# (bench/lookup_budget.py) replaces the part of docs/BENCHMARKS.md between
# <!-- lookup-budget:start --> and <!-- lookup-budget:end --> unless WRITE_DOCS=0. Raw files: one
# target/bench/bench-lookup-*/ per cell, listed in target/bench/<this run>/cells.txt.
#
# Environment: INPUT_SHARES ("50 10", percent of the maximum), LOOKUP_RATES ("1 1000 2500 5000"),
# DURATION (30), WARMUP (5), WRITE_DOCS (1); the rest as bench/lookup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

INPUT_SHARES="${INPUT_SHARES:-50 10}"
LOOKUP_RATES="${LOOKUP_RATES:-1 1000 2500 5000}"
DURATION="${DURATION:-30}"
WARMUP="${WARMUP:-5}"
WRITE_DOCS="${WRITE_DOCS:-1}"
RUN="bench-lookup-budget-$(date +%Y%m%d-%H%M%S)"
OUT="target/bench/$RUN"
mkdir -p "$OUT"
COMMAND="INPUT_SHARES=\"$INPUT_SHARES\" LOOKUP_RATES=\"$LOOKUP_RATES\" DURATION=$DURATION WARMUP=$WARMUP bench/lookup_budget.sh"

log() { printf '[lookup-budget] %s\n' "$*" >&2; }

# Half the maximum, as bench/lookup.sh picks it; the shares are of twice that.
half_rate="${RATE:-$(python3 bench/report.py half-max --system tracker --results target/bench/last-compare.jsonl)}"
[ -n "$half_rate" ] || { log "no bench/compare.sh result in target/bench/last-compare.jsonl: set RATE (half the maximum)"; exit 1; }
for share in $INPUT_SHARES; do
  rate=$(python3 -c "print(round($half_rate * $share / 50))")
  for lookups in $LOOKUP_RATES; do
    log "input at $share % of the maximum ($rate records/s), $lookups lookups/s"
    if ! RATE="$rate" LOOKUPS_PER_S="$lookups" DURATION="$DURATION" WARMUP="$WARMUP" PHASES=latency WRITE_DOCS=0 \
      bench/lookup.sh >"$OUT/cell.txt" 2>"$OUT/cell.log"; then
      cat "$OUT/cell.log" >&2; log "bench/lookup.sh failed"; exit 1
    fi
    tail -n 2 "$OUT/cell.txt" >&2
    cell=$(sed -n 's/^\[lookup\] raw files in //p' "$OUT/cell.log" | tail -n 1)
    [ -n "$cell" ] || { cat "$OUT/cell.log" >&2; log "the cell gave no raw files"; exit 1; }
    printf '%s %s %s\n' "$share" "$lookups" "$cell" >>"$OUT/cells.txt"
  done
done

docs=()
[ "$WRITE_DOCS" = 0 ] || docs=(--docs docs/BENCHMARKS.md)
python3 bench/lookup_budget.py --cells "$OUT/cells.txt" --command "$COMMAND" "${docs[@]}"
log "raw files: $OUT/cells.txt"
