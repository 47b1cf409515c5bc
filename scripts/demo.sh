#!/usr/bin/env bash
# `make run`: the whole system on loopback, for a first look. Starts a private mosquitto,
# the receiver (or, while the build has none, a local S3 server: tests/sim/s3_server.sh),
# the EAGLE simulator and a synthetic source, and the agent with short rotation so
# segments upload within a minute. Prints where to look; Ctrl-C stops everything this
# script started, by PID.
# usage: scripts/demo.sh [BUILD_DIR]; GRANARY_RUN_DIR overrides the work dir (.run/).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
run=${GRANARY_RUN_DIR:-$here/.run}
bin="$here/$build/agent/granary"
receiver="$here/$build/receiver/granary-receiver"
py=/usr/bin/python3
mkdir -p "$run"
rm -f "$run/receiver.out" "$run/eagle.out"

pids=()
s3_sim=""
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$s3_sim" ]; then "$here/tests/sim/s3_server.sh" stop "$s3_sim" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The first line a peer prints on stdout (its address), once it has printed it.
first_line() {
  for _ in $(seq 1 100); do
    if [ -s "$1" ]; then head -n 1 "$1"; return; fi
    sleep 0.1
  done
  echo "demo: $1 stayed empty; see the logs in $run" >&2
  exit 1
}

# MQTT broker: anonymous, loopback only.
mqtt_port=$(free_port)
printf 'listener %d 127.0.0.1\nallow_anonymous true\n' "$mqtt_port" > "$run/mosquitto.conf"
mosquitto -c "$run/mosquitto.conf" > "$run/mosquitto.log" 2>&1 &
pids+=("$!")

# Object storage: the receiver when built, else Swift + s3api.
access_key=DEMO01KEY
secret_key=demo01-secret-key
if [ -x "$receiver" ]; then
  mkdir -p "$run/receiver"
  cat > "$run/receiver.toml" <<CONF
data_dir = "$run/receiver"
listen = "127.0.0.1:0"
[[device]]
name = "demo01"
access_key = "$access_key"
secret_key = "$secret_key"
CONF
  "$receiver" run -c "$run/receiver.toml" > "$run/receiver.out" 2> "$run/receiver.log" &
  pids+=("$!")
  address=$(first_line "$run/receiver.out" | sed 's/^listening //')
  s3_endpoint="http://$address"
  storage="granary-receiver at $s3_endpoint (log: $run/receiver.log)"
else
  s3_sim="$run/s3"
  line=$("$here/tests/sim/s3_server.sh" start "$s3_sim" granary)
  s3_endpoint=$(sed -n 's/.*S3_ENDPOINT=\([^ ]*\).*/\1/p' <<<"$line")
  access_key=$(sed -n 's/.*S3_ACCESS_KEY=\([^ ]*\).*/\1/p' <<<"$line")
  secret_key=$(sed -n 's/.*S3_SECRET_KEY=\([^ ]*\).*/\1/p' <<<"$line")
  storage="local S3 (Swift + s3api) at $s3_endpoint: no receiver in $build yet"
fi

"$py" "$here/tests/sim/eagle_sim.py" > "$run/eagle.out" 2> "$run/eagle.log" &
pids+=("$!")
eagle_port=$(first_line "$run/eagle.out")
metrics_port=$(free_port)

cat > "$run/granary.toml" <<CONF
# Demo configuration written by scripts/demo.sh; see docs/configuration.md.
device = "demo01"
state_dir = "$run/state"

[segment]
max_readings = 100          # seal often so segments upload within a minute

[status]
interval = "5s"

[upload]
endpoint = "$s3_endpoint"
bucket = "granary"
retry_max = "5s"

[mqtt]
host = "127.0.0.1"
port = $mqtt_port
reconnect_max = "5s"

[metrics]
listen_port = $metrics_port

[[source]]
name = "meter"
type = "eagle"
interval = "2s"
url = "http://127.0.0.1:$eagle_port"
cloud_id = "00a1b2"
install_code = "0123456789abcdef"
request_gap = "100ms"

[[source]]
name = "synthetic"
type = "synthetic"
interval = "500ms"
rate = 20
CONF

cat <<MSG
granary demo (everything on 127.0.0.1; work dir $run)
  storage:  $storage
  EAGLE:    http://127.0.0.1:$eagle_port (simulator)
  MQTT:     mosquitto_sub -h 127.0.0.1 -p $mqtt_port -t 'granary/#' -v
  metrics:  http://127.0.0.1:$metrics_port/metrics
  status:   $bin status -c $run/granary.toml
  seal now: $bin flush -c $run/granary.toml
Ctrl-C stops the demo.
MSG
AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key \
  "$bin" run -c "$run/granary.toml" &
pids+=("$!")
wait "$!"
