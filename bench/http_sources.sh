#!/usr/bin/env bash
# The agent with N http_json sources at 1 Hz against the local sensor, next to the bare
# libcurl floor making the same GETs from the same sensor, in the same run: peak total RSS,
# peak RssAnon, CPU and the agent's CPU as a multiple of the floor's.
# usage: bench/http_sources.sh BUILD_DIR   (a Release build; BENCH_SECONDS, BENCH_SOURCES)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${BENCH_SECONDS:-60}
sources=${BENCH_SOURCES:-100}

echo "agent environment, from its systemd unit: $("$here/bench/unit_env.sh" | tr '\n' ' ')"
echo "== agent with $sources http_json sources at 1 Hz for ${seconds}s (load $(cut -d' ' -f1 /proc/loadavg)) =="
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
env $("$here/bench/unit_env.sh") "$build/agent/granary" run -c "$work/granary.toml" 2> "$work/agent.log" &
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
cpu=$(echo "scale=3; 100 * (($u1 + $s1) - ($u0 + $s0)) / $ticks / ($t1 - $t0)" | bc)
"$build/agent/granary" status -c "$work/granary.toml" --json > "$work/status.json"
polls=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(s['polls'] for s in d['sources']), sum(s['errors'] for s in d['sources']))" "$work/status.json")
printf '%-40s %s\n' "peak total RSS" "$(awk -v k="$max_rss" 'BEGIN {printf "%.1f", k / 1024}') MiB"
printf '%-40s %s\n' "peak private RSS (RssAnon)" "$(awk -v k="$max_anon" 'BEGIN {printf "%.2f", k / 1024}') MiB (target <= 2.8)"
printf '%-40s %s\n' "CPU (% of one core)" "$cpu %"
printf '%-40s %s\n' "polls, errors (whole run)" "$polls"
kill "$agent"; wait "$agent" || true  # the floor gets the sensor and the cores to itself
echo
echo "== the floor: bare libcurl, $sources GETs/s from the same sensor, same libraries, ${seconds}s (load $(cut -d' ' -f1 /proc/loadavg)) =="
"$build/bench/http_floor_bench" "http://127.0.0.1:$port/json" "$sources" "$seconds" > "$work/floor.txt"
column -t -s $'\t' < "$work/floor.txt"
floor=$(awk -F'\t' '$1 ~ /: CPU$/ {print $2}' "$work/floor.txt")
printf '%-40s %s\n' "agent CPU / floor CPU" "$(echo "scale=2; $cpu / $floor" | bc) (target <= 1.5)"
if [[ -z "${BENCH_SKIP_CURL_ONLY:-}" ]]; then
  echo
  echo "== the same with libcurl alone (and the C++ runtime): the floor of any poller on this libcurl, ${seconds}s =="
  "$build/bench/http_floor_curl_only" "http://127.0.0.1:$port/json" "$sources" "$seconds" "libcurl alone" \
    | column -t -s $'\t'
fi
