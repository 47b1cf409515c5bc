#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each, starting from its seed corpus.
# usage: run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1 seconds=$2
here=$(cd "$(dirname "$0")/.." && pwd)
for target in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target"); corpus_name=${name#fuzz_}
  seeds="$here/tests/fuzz/corpus/$corpus_name"
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  # Binary seeds are made by a script (corpus/NAME.py DIR) rather than kept in the tree.
  [ -f "$seeds.py" ] && /usr/bin/python3 "$seeds.py" "$work"
  echo "fuzz: $name for ${seconds}s"
  "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" \
    > "$work.log" 2>&1 || { tail -50 "$work.log"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work.log" | sed "s/^/  $name /"
  rm -rf "$work" "$work.log"
done
