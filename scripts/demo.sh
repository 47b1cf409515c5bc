#!/usr/bin/env bash
# `make run`: the whole system on loopback, for a first look. Starts a private mosquitto,
# granary-receiver (with a device key and a reader token), the EAGLE simulator with live
# values, and the agent, which seals small segments so uploads show within a minute. Prints
# where to look: the dashboard and its sign-in token, the API with a ready curl line, where the data lands, the MQTT topics.
# Ctrl-C stops the agent first (it seals, uploads what is left and publishes its retained
# `stopped` status), then the receiver, the simulator and the broker, each by PID.
# usage: scripts/demo.sh [BUILD_DIR]; GRANARY_RUN_DIR overrides the work dir (.run/).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
run=${GRANARY_RUN_DIR:-$here/.run}
bin="$here/$build/agent/granary"
receiver="$here/$build/receiver/granary-receiver"
py=/usr/bin/python3
for b in "$bin" "$receiver"; do
  if [ ! -x "$b" ]; then
    echo "demo: $b is missing: run make build first" >&2
    exit 1
  fi
done
mkdir -p "$run"
rm -f "$run/receiver.out" "$run/eagle.out"

# Every peer runs in a session of its own (setsid), so the terminal's Ctrl-C reaches only
# this script, which then stops them in order.
agent_pid="" receiver_pid="" eagle_pid="" broker_pid=""

# True once PID has exited (it is then a zombie until waited for) or is gone.
exited() {
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 0
  [ -z "$state" ] || [ "$state" = Z ]
}

# stop NAME PID SECONDS: SIGTERM, up to SECONDS for it to exit, then SIGKILL.
stop() {
  local name=$1 pid=$2 tries=$(($3 * 10))
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while ((tries-- > 0)) && ! exited "$pid"; do sleep 0.1; done
  if ! exited "$pid"; then
    echo "demo: $name did not stop within $3 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  trap '' INT TERM HUP  # a second Ctrl-C must not leave the peers running
  trap - EXIT
  if [ -n "$agent_pid" ]; then
    echo "demo: stopping the agent (final seal and upload, retained status 'stopped')" >&2
  fi
  stop agent "$agent_pid" 30
  stop granary-receiver "$receiver_pid" 20
  stop "EAGLE simulator" "$eagle_pid" 10
  stop mosquitto "$broker_pid" 10
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
# The first line a peer prints on stdout (its address), once it has printed it.
first_line() {
  for _ in $(seq 1 100); do
    if [ -s "$1" ]; then
      head -n 1 "$1"
      return
    fi
    sleep 0.1
  done
  echo "demo: $1 stayed empty; see the logs in $run" >&2
  exit 1
}
wait_listening() {
  for _ in $(seq 1 100); do
    if (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "demo: nothing listens on 127.0.0.1:$1; see the logs in $run" >&2
  exit 1
}

# MQTT broker: anonymous, loopback only; retained messages persist in the work dir, so the
# agent's last status (`stopped`) is still there after the demo.
mqtt_port=$(free_port)
mkdir -p "$run/mosquitto"
# (`user`: run as root, mosquitto would otherwise switch to its own user, who cannot write here.)
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nuser %s\n' \
  "$mqtt_port" "$run/mosquitto" "$(id -un)" >"$run/mosquitto.conf"
setsid mosquitto -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
broker_pid=$!
wait_listening "$mqtt_port"

# The receiver: one device key for the agent, one reader token for the API; it follows the
# devices' MQTT status, so the API shows whether demo01 is online.
access_key=DEMO01KEY
secret_key=demo01-secret-$(random_hex)
reader_token=demo-reader-$(random_hex)
mkdir -p "$run/receiver"
cat >"$run/receiver.toml" <<CONF
# Demo configuration written by scripts/demo.sh; see docs/receiver.md.
data_dir = "$run/receiver"
listen = "127.0.0.1:0"

[[device]]
name = "demo01"
access_key = "$access_key"
secret_key = "$secret_key"

[[reader]]
name = "demo"
token = "$reader_token"

[mqtt]
host = "127.0.0.1"
port = $mqtt_port
client_id = "granary-receiver-demo"
CONF
setsid "$receiver" run -c "$run/receiver.toml" >"$run/receiver.out" 2>"$run/receiver.log" &
receiver_pid=$!
receiver_url="http://$(first_line "$run/receiver.out" | sed 's/^listening //')"

# The EAGLE simulator with values that move: demand wanders, the summation grows.
setsid "$py" "$here/tests/sim/eagle_sim.py" --live >"$run/eagle.out" 2>"$run/eagle.log" &
eagle_pid=$!
eagle_port=$(first_line "$run/eagle.out")
metrics_port=$(free_port)

cat >"$run/granary.toml" <<CONF
# Demo configuration written by scripts/demo.sh; see docs/configuration.md.
device = "demo01"
state_dir = "$run/state"

[segment]
max_readings = 20           # seal often: the meter's every 40 s, the synthetic's every 20 s

[status]
interval = "5s"

[upload]
endpoint = "$receiver_url"
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
interval = "1s"
rate = 1
CONF

# Keys are {prefix}/{device}/{source}/yyyy/mm/dd/...; the receiver stores each accepted
# object as accepted/{bucket}/{key}.
data="$run/receiver/accepted/granary/granary/demo01"
cat <<MSG | tee "$run/demo.txt"
granary demo: everything on 127.0.0.1, work dir $run
  agent config  $run/granary.toml
  status        $bin status -c $run/granary.toml
  seal now      $bin flush -c $run/granary.toml
  metrics       curl -s http://127.0.0.1:$metrics_port/metrics
  EAGLE         http://127.0.0.1:$eagle_port (simulator, live values)
  receiver      $receiver_url (log: $run/receiver.log)
  dashboard     $receiver_url/  sign in with the reader token $reader_token
  API           curl -s -H 'Authorization: Bearer $reader_token' $receiver_url/api/v1/devices
  coverage      curl -s -H 'Authorization: Bearer $reader_token' '$receiver_url/api/v1/devices/demo01/coverage?source=meter'
  readings      curl -s -H 'Authorization: Bearer $reader_token' '$receiver_url/api/v1/devices/demo01/readings?source=meter&format=csv'
  data lands in $data/{meter,synthetic}/YYYY/MM/DD/*.jsonl.gz
  MQTT          mosquitto_sub -h 127.0.0.1 -p $mqtt_port -t 'granary/#' -v
The first segments arrive within a minute. Ctrl-C stops the demo (the agent first).
MSG
AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key \
  setsid "$bin" run -c "$run/granary.toml" &
agent_pid=$!
wait "$agent_pid"
