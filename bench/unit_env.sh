#!/usr/bin/env bash
# Prints the environment the agent's systemd unit gives it (its Environment= lines, one
# NAME=VALUE per line), so the benchmarks measure the agent as it runs when installed.
# BENCH_AGENT_ENV, when set, is printed instead (A/B runs of other settings).
# usage: env $(bench/unit_env.sh) granary run ...
set -euo pipefail
if [ -n "${BENCH_AGENT_ENV+x}" ]; then
  printf '%s\n' $BENCH_AGENT_ENV
  exit 0
fi
here=$(cd "$(dirname "$0")/.." && pwd)
sed -n 's/^Environment=//p' "$here/packaging/debian/granary.service"
