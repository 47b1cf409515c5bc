#!/usr/bin/env bash
# Prints the benchmark table: durable ingest next to this machine's raw SQLite and zlib
# rates, the sources' decoding cost, and the agent's footprint with 100 http_json sources at 1 Hz for 60 s.
# usage: bench/run.sh BUILD_DIR   (a Release build with -DGRANARY_BENCH=ON)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${BENCH_SECONDS:-60}
sources=${BENCH_SOURCES:-100}

echo "== ingest: ~150-byte readings in batches of 1,000, a 400,000 burst and a 2,000,000 sustained run =="
"$build/bench/ingest_bench" | column -t -s $'\t'

echo
echo "== source decoding: CPU per EAGLE poll and per 500-sample Prometheus page, no network =="
"$build/bench/sources_bench" | column -t -s $'\t'

echo
echo "== agent with $sources http_json sources at 1 Hz for ${seconds}s =="
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
coproc SENSOR { exec /usr/bin/python3 "$here/tests/sim/http_server.py"; }
pids+=("$SENSOR_PID")
read -r port <&"${SENSOR[0]}"
{
  echo "device = \"bench\""
  echo "state_dir = \"$work/state\""
  for i in $(seq 1 "$sources"); do
    printf '[[source]]\nname = "s%d"\ntype = "http_json"\ninterval = "1s"\nurl = "http://127.0.0.1:%d/json"\n' "$i" "$port"
  done
} > "$work/granary.toml"
"$build/agent/granary" run -c "$work/granary.toml" 2> "$work/agent.log" &
agent=$!
pids+=("$agent")
sleep 5  # let it settle: threads started, connections open
ticks=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$agent/stat")
t0=$(date +%s.%N)
max_rss=0 max_anon=0
end=$((SECONDS + seconds))
while ((SECONDS < end)); do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
  anon=$(awk '/^RssAnon/ {print $2}' "/proc/$agent/status")
  ((rss > max_rss)) && max_rss=$rss
  ((anon > max_anon)) && max_anon=$anon
  sleep 1
done
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$agent/stat")
t1=$(date +%s.%N)
cpu=$(echo "scale=2; 100 * (($u1 + $s1) - ($u0 + $s0)) / $ticks / ($t1 - $t0)" | bc)
"$build/agent/granary" status -c "$work/granary.toml" --json > "$work/status.json"
polls=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(s['polls'] for s in d['sources']), sum(s['errors'] for s in d['sources']))" "$work/status.json")
printf '%-40s %s\n' "peak total RSS" "$((max_rss / 1024)).$(((max_rss % 1024) * 10 / 1024)) MiB"
printf '%-40s %s\n' "peak private RSS (RssAnon)" "$((max_anon / 1024)).$(((max_anon % 1024) * 10 / 1024)) MiB"
printf '%-40s %s\n' "CPU (% of one core)" "$cpu %"
printf '%-40s %s\n' "polls, errors (whole run)" "$polls"
kill "$agent"; wait "$agent" || true  # the floor gets the sensor and the cores to itself
echo
echo "== the floor: bare libcurl, $sources GETs/s from the same sensor, same libraries, ${seconds}s =="
"$build/bench/http_floor_bench" "http://127.0.0.1:$port/json" "$sources" "$seconds" | column -t -s $'\t'
echo
echo "== the same with libcurl alone (and the C++ runtime): the floor of any poller on this libcurl, ${seconds}s =="
"$build/bench/http_floor_curl_only" "http://127.0.0.1:$port/json" "$sources" "$seconds" "libcurl alone" \
  | column -t -s $'\t'
echo; "$here/bench/upload.sh" "$build"
echo; "$here/bench/multipart.sh" "$build"
echo; "$here/bench/footprint.sh" "$build"
echo; "$here/bench/lowrate.sh" "$build"

echo
echo "== receiver ingest: 1,000 segments of 3,600 readings, 2 clients, next to raw gunzip + JSON parse =="
rwork=$(mktemp -d)
"$build/bench/receiver_bench" "$rwork" 1000 2 2> "$rwork.log" | column -t -s $'\t'
rm -rf "$rwork" "$rwork.log"

echo
echo "== receiver fairness: a light device's PUT latency while another sends 8 streams of heavy segments =="
GRANARY_RECEIVER_BIN="$build/receiver/granary-receiver" FAIRNESS_PROBES=40 FAIRNESS_HEAVY_LINES=240 \
  python3 "$here/tests/integration/test_receiver_fairness.py" | grep -v ': ok$'

echo
echo "== mqtt archive: 200-byte QoS 1 messages into sealed bson.gz, next to mosquitto_sub -F %x > file =="
"$here/bench/archive.sh" "$build"

echo
echo "== dashboard: headless Chromium, Performance API marks from navigation start; series API latency =="
/usr/bin/python3 "$here/bench/dashboard_bench.py" "$build" | column -t -s $'\t'

echo
echo "== fleet: ${BENCH_FLEET_DEVICES:-200} simulated devices, an hour a second, 1 then 2 receivers behind haproxy over PostgreSQL =="
"$here/bench/fleet.sh" "$build"
