#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each, starting from its seed corpus, as many at
# a time as there are cores (FUZZ_JOBS). Each target's figures are printed when it ends.
# usage: run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1 seconds=$2
jobs=${FUZZ_JOBS:-$(nproc)}
here=$(cd "$(dirname "$0")/.." && pwd)

# One target: its seeds into a scratch corpus, then libFuzzer for `seconds`. Prints its
# figures, or the end of its log and FAILED.
fuzz_one() {
  local target=$1 name corpus_name seeds work
  name=$(basename "$target"); corpus_name=${name#fuzz_}
  seeds="$here/tests/fuzz/corpus/$corpus_name"
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  # Binary seeds are made by a script (corpus/NAME.py DIR) rather than kept in the tree.
  [ -f "$seeds.py" ] && /usr/bin/python3 "$seeds.py" "$work"
  if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "$work" > "$work.log" 2>&1; then
    tail -50 "$work.log"; echo "fuzz: $name FAILED"; return 1
  fi
  echo "fuzz: $name for ${seconds}s"
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work.log" | sed "s/^/  $name /"
  rm -rf "$work" "$work.log"
}

failed=0 running=0
for target in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
[ "$failed" -eq 0 ] || { echo "fuzz: a target failed (above)"; exit 1; }
