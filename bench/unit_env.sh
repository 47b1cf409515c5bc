#!/usr/bin/env bash
# Prints the environment the agent's systemd unit gives it (its Environment= lines, one
# NAME=VALUE per line), so the benchmarks measure the agent as it runs when installed.
# usage: env $(bench/unit_env.sh) granary run ...
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sed -n 's/^Environment=//p' "$here/packaging/debian/granary.service"
