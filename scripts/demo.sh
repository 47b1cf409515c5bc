#!/usr/bin/env bash
# `make run`: a local demo of the agent on embedded defaults. Starts the local HTTP
# sensor on a random loopback port, writes a demo config with short rotation into .run/,
# and runs the agent in the foreground. Ctrl-C stops everything this script started.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
run="$here/.run"
mkdir -p "$run"
bin="$here/$build/agent/granary"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

coproc SENSOR { exec /usr/bin/python3 "$here/tests/sim/http_server.py"; }
pids+=("$SENSOR_PID")
read -r port <&"${SENSOR[0]}"

cat > "$run/granary.toml" <<CONF
# Demo configuration written by scripts/demo.sh; see docs/configuration.md.
device = "demo01"
state_dir = "$run/state"

[segment]
max_readings = 600          # seal often so the demo shows segments quickly

[[source]]
name = "meter"
type = "http_json"
interval = "1s"
url = "http://127.0.0.1:$port/json"

[[source]]
name = "synthetic"
type = "synthetic"
interval = "500ms"
rate = 20
CONF

cat <<MSG
granary demo
  config:   $run/granary.toml
  sensor:   http://127.0.0.1:$port/json
  segments: $run/state/segments/
  watch:    $bin status -c $run/granary.toml
  seal now: $bin flush -c $run/granary.toml
Ctrl-C stops the demo.
MSG
"$bin" run -c "$run/granary.toml" &
pids+=("$!")
wait "$!"
