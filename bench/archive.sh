#!/usr/bin/env bash
# The MQTT archive's rate: N messages of 200 bytes published at QoS 1 (mosquitto_pub -l) to a
# private mosquitto, archived by the agent's mqtt source until sealed into .bson.gz, next to
# `mosquitto_sub -t '#' -F %x` writing the same stream to a file (the raw limit), in the
# same run; the agent's CPU and peak RSS; [buffer] sync "normal" and "full".
# usage: bench/archive.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$1
messages=${BENCH_ARCHIVE_MESSAGES:-100000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nlog_dest none\n' \
  "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" &
pids+=($!)
sleep 0.5
# 200-byte lines; mosquitto_pub -l publishes each without its newline: 200-byte payloads.
/usr/bin/python3 -c "
import sys
line = 'x' * 200
sys.stdout.write((line + '\n') * int(sys.argv[1]))" "$messages" > "$work/lines"

now() { date +%s.%N; }
# Every wait for the messages is bounded (BENCH_ARCHIVE_TIMEOUT seconds, default 300): a
# broker that lost messages ends the bench with what arrived, never hangs it.
timeout_s=${BENCH_ARCHIVE_TIMEOUT:-300}
# Runs in the $(...) of a measurement, so it ends that measurement's own process (PID)
# itself: the parent's cleanup never saw it.
gave_up() {  # WHAT GOT T0 PID
  if (($(echo "$(now) - $3 > $timeout_s" | bc))); then
    echo "archive bench: $1 had $2 of $messages messages after ${timeout_s}s; giving up" >&2
    kill "$4" 2>/dev/null || true
    exit 1
  fi
}
publish() { mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t bench/data -l < "$work/lines"; }

raw() {
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t '#' -F %x > "$work/raw.txt" &
  local sub=$!
  sleep 0.5
  local t0; t0=$(now)
  publish
  local got
  while got=$(wc -l < "$work/raw.txt"); ((got < messages)); do
    gave_up "mosquitto_sub" "$got" "$t0" "$sub"
    sleep 0.05
  done
  local t1; t1=$(now)
  kill "$sub"; wait "$sub" 2>/dev/null || true
  echo "scale=0; $messages / ($t1 - $t0)" | bc
}

archived() {
  /usr/bin/python3 -c "
import sqlite3, sys
try:
    c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)
    r = c.execute(\"SELECT next_seq - 1 FROM sources WHERE name = 'bus'\").fetchone()
    print(r[0] if r else 0)
except sqlite3.Error:
    print(0)" "$1/buffer.db"
}

agent_run() {
  local sync=$1 dir="$work/agent-$1"
  mkdir -p "$dir"
  cat > "$dir/granary.toml" <<EOF
device = "bench"
state_dir = "$dir/state"
[buffer]
sync = "$sync"
[[source]]
name = "bus"
type = "mqtt"
url = "mqtt://127.0.0.1:$port"
client_id = "bench-$sync"
[[source.topics]]
filter = "bench/#"
qos = 1
EOF
  env $("$here/bench/unit_env.sh") "$build/agent/granary" run -c "$dir/granary.toml" \
    > "$dir/agent.log" 2>&1 &
  local agent=$!
  pids+=("$agent")
  sleep 1.5
  local ticks; ticks=$(getconf CLK_TCK)
  local u0 s0; read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$agent/stat")
  local t0; t0=$(now)
  publish &
  local pub=$!
  local max_rss=0 rss
  local got
  while got=$(archived "$dir/state"); ((got < messages)); do
    gave_up "the agent (sync $sync)" "$got" "$t0" "$agent"
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
    ((rss > max_rss)) && max_rss=$rss
    sleep 0.1
  done
  wait "$pub"
  "$build/agent/granary" flush -c "$dir/granary.toml" 2> /dev/null
  local t1; t1=$(now)
  local u1 s1; read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$agent/stat")
  local rate cpu
  rate=$(echo "scale=0; $messages / ($t1 - $t0)" | bc)
  cpu=$(echo "scale=1; 100 * (($u1 + $s1) - ($u0 + $s0)) / $ticks / ($t1 - $t0)" | bc)
  local bytes; bytes=$(du -cb "$dir"/state/segments/*.bson.gz | tail -1 | cut -f1)
  kill "$agent"; wait "$agent" 2>/dev/null || true
  printf '%s\t%s\t%s\t%s\t%s\n' "$rate" "$cpu" "$((max_rss / 1024))" "$bytes" "$sync"
}

raw_rate=$(raw)
normal=$(agent_run normal)
full=$(agent_run full)
{
  printf 'run\tmessages/s\t%% of raw\tagent CPU %%\tpeak RSS MiB\tsealed bson.gz bytes\n'
  printf 'mosquitto_sub -F %%x > file (raw)\t%s\t100\t-\t-\t-\n' "$raw_rate"
  for row in "$normal" "$full"; do
    IFS=$'\t' read -r rate cpu rss bytes sync <<< "$row"
    printf 'agent, sync = "%s", sealed\t%s\t%s\t%s\t%s\t%s\n' "$sync" "$rate" \
      "$(echo "scale=0; 100 * $rate / $raw_rate" | bc)" "$cpu" "$rss" "$bytes"
  done
} | column -t -s $'\t'
