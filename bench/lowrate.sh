#!/usr/bin/env bash
# The agent where devices spend their lives: idle (one source every 10 s, no upload), then
# 100 readings/s (one poll per second of ~150-byte readings, sync = "full") uploading to a
# loopback S3 (Swift + s3api). For each: CPU, RssAnon, total RSS, PSS, private dirty and
# wakeups per second per thread (bench/proc_sample.py).
# usage: bench/lowrate.sh BUILD_DIR   (a Release build; BENCH_LOWRATE_SECONDS, default 120)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${BENCH_LOWRATE_SECONDS:-120}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$here/tests/sim/s3_server.sh" stop "$work/s3" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# run NAME SETTLE_SECONDS: starts the agent on $work/NAME.toml, lets it settle, samples it.
run() {
  env $("$here/bench/unit_env.sh") "$build/agent/granary" run -c "$work/$1.toml" 2> "$work/$1.log" &
  local agent=$!
  pids+=("$agent")
  sleep "$2"
  /usr/bin/python3 "$here/bench/proc_sample.py" "$agent" "$seconds" "$1" ${BENCH_SMAPS:+smaps} | column -t -s $'\t'
  "$build/agent/granary" status -c "$work/$1.toml" --json > "$work/$1.status.json"
  kill "$agent"; wait "$agent" || true
  /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); b=d['buffer']; u=d.get('uploads',{}); \
print(f\"{sys.argv[2]}: captured {b['captured']}, segments uploaded {u.get('uploaded',0)}, upload failures {u.get('failed',0)}\")" \
    "$work/$1.status.json" "$1"
}

echo "agent environment, from its systemd unit: $("$here/bench/unit_env.sh" | tr '\n' ' ')"
echo "== idle agent: one source every 10 s, no upload, ${seconds}s (load $(cut -d' ' -f1 /proc/loadavg)) =="
cat > "$work/idle.toml" <<CONF
device = "bench"
state_dir = "$work/idle"
[[source]]
name = "board"
type = "synthetic"
interval = "10s"
CONF
run idle 5

echo
echo "== 100 readings/s (one poll a second, ~150-byte readings, sync full) to Swift + s3api, ${seconds}s (load $(cut -d' ' -f1 /proc/loadavg)) =="
line=$("$here/tests/sim/s3_server.sh" start "$work/s3" bench)
eval "export $line"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
# 6,000 readings a segment: one seal and one upload a minute.
cat > "$work/rate100.toml" <<CONF
device = "bench"
state_dir = "$work/rate100"
[buffer]
sync = "full"
[segment]
max_readings = 6000
[upload]
endpoint = "$S3_ENDPOINT"
bucket = "bench"
region = "$S3_REGION"
[[source]]
name = "meter"
type = "synthetic"
interval = "1s"
rate = 100
payload_bytes = 80
CONF
run rate100 5
