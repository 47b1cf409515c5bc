#!/usr/bin/env bash
# The fleet simulator (bench/fleet_sim.py: 200 devices, an hour a second, real SigV4) against
# 1 receiver, then 2, behind haproxy over one PostgreSQL; prints the per-segment costs
# (receiver and PostgreSQL CPU, rows, WAL and bytes) and the 2-vs-1 scaling factor.
# usage: bench/fleet.sh BUILD_DIR   (a Release build; docs/scaling.md turns the figures into sizes)
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
GRANARY_RECEIVER_BIN="$build/receiver/granary-receiver" exec /usr/bin/python3 "$here/bench/fleet_bench.py" "$build"
