#!/usr/bin/env bash
# The agent's footprint, next to Fluent Bit 5.1.1's minimal build (4.2 MB stripped): the
# stripped binary, and memory when idle (one source every 10 s) with an MQTT session up
# to a private mosquitto on loopback.
# usage: bench/footprint.sh BUILD_DIR   (a Release build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$1
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== agent footprint: stripped binary; idle, MQTT connected =="
strip -o "$work/granary" "$build/agent/granary"
size=$(stat -c %s "$work/granary")
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %d 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" 2> /dev/null &
pids+=("$!")
cat > "$work/granary.toml" <<CONF
device = "bench"
state_dir = "$work/state"
[mqtt]
host = "127.0.0.1"
port = $port
[[source]]
name = "board"
type = "synthetic"
interval = "10s"
CONF
env $("$here/bench/unit_env.sh") "$work/granary" run -c "$work/granary.toml" 2> "$work/agent.log" &
agent=$!
pids+=("$agent")
connected=false
for _ in $(seq 1 50); do
  if grep -q '"connected":true' "$work/state/status.json" 2> /dev/null; then connected=true; break; fi
  sleep 0.2
done
sleep 10  # idle: a few polls, status published, nothing else happening
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
anon=$(awk '/^RssAnon/ {print $2}' "/proc/$agent/status")
printf '%-40s %s\n' "stripped binary" "$((size / 1024 / 1024)).$(((size % (1024 * 1024)) * 10 / 1024 / 1024)) MiB ($size bytes)"
printf '%-40s %s\n' "idle total RSS (MQTT connected: $connected)" "$((rss / 1024)).$(((rss % 1024) * 10 / 1024)) MiB"
printf '%-40s %s\n' "idle private RSS (RssAnon)" "$((anon / 1024)).$(((anon % 1024) * 10 / 1024)) MiB"
