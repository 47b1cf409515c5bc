#!/usr/bin/env bash
# Prints the benchmark table: durable ingest next to this machine's raw SQLite and zlib
# rates, the sources' decoding cost, the agent with 100 http_json sources at 1 Hz next to the
# bare libcurl floor (bench/http_sources.sh), upload, footprint and the low-rate runs.
# usage: bench/run.sh BUILD_DIR   (a Release build with -DGRANARY_BENCH=ON)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)

echo "== ingest: ~150-byte readings in batches of 1,000, a 400,000 burst and a 2,000,000 sustained run; then the durable run against raw SQLite in alternated pairs =="
# Under the agent unit's malloc settings, the raw figures too.
env $("$here/bench/unit_env.sh") "$build/bench/ingest_bench" | column -t -s $'\t'

echo
echo "== source decoding: CPU per EAGLE poll and per 500-sample Prometheus page, no network =="
"$build/bench/sources_bench" | column -t -s $'\t'

echo
"$here/bench/http_sources.sh" "$build"
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
