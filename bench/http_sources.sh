#!/usr/bin/env bash
# The agent with N http_json sources at 1 Hz against the local sensor, next to the bare
# libcurl floor making the same GETs from the same sensor, in the same run: peak total RSS,
# peak RssAnon, CPU and the agent's CPU as a multiple of the floor's.
# usage: bench/http_sources.sh BUILD_DIR   (a Release build; BENCH_SECONDS, BENCH_SOURCES,
# BENCH_PAIRS: how many alternated agent/floor pairs, default 3)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${BENCH_SECONDS:-60}
sources=${BENCH_SOURCES:-100}
pairs=${BENCH_PAIRS:-3}

echo "agent environment, from its systemd unit: $("$here/bench/unit_env.sh" | tr '\n' ' ')"
work=$(mktemp -d)
pids=()
agent=""
cleanup() {
  for p in "${pids[@]}" $agent; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
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

# agent_run: the agent alone for $seconds after 5 s of settling; sets cpu, max_rss, max_anon.
agent_run() {
  rm -rf "$work/state"
  env $("$here/bench/unit_env.sh") "$build/agent/granary" run -c "$work/granary.toml" 2> "$work/agent.log" &
  agent=$!
  sleep 5  # let it settle: threads started, connections open
  local ticks u0 s0 u1 s1 t0 t1 rss anon end
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
  kill "$agent"; wait "$agent" || true  # the floor gets the sensor and the cores to itself
  agent=""
}

# The CPU of both moves by a quarter between runs a minute apart on this machine, so the
# ratio that carries the target is the median of alternated pairs, not one of each.
ratios=() peak_anon=0 peak_rss=0
for ((i = 1; i <= pairs; i++)); do
  echo "== pair $i of $pairs: agent with $sources http_json sources at 1 Hz for ${seconds}s (load $(cut -d' ' -f1 /proc/loadavg)) =="
  agent_run
  printf '%-40s %s\n' "peak total RSS" "$(awk -v k="$max_rss" 'BEGIN {printf "%.1f", k / 1024}') MiB"
  printf '%-40s %s\n' "peak private RSS (RssAnon)" "$(awk -v k="$max_anon" 'BEGIN {printf "%.2f", k / 1024}') MiB (target <= 2.8)"
  printf '%-40s %s\n' "CPU (% of one core)" "$cpu %"
  printf '%-40s %s\n' "polls, errors (whole run)" "$polls"
  ((max_anon > peak_anon)) && peak_anon=$max_anon
  ((max_rss > peak_rss)) && peak_rss=$max_rss
  echo "-- the floor: bare libcurl, $sources GETs/s from the same sensor, same libraries, ${seconds}s (load $(cut -d' ' -f1 /proc/loadavg))"
  "$build/bench/http_floor_bench" "http://127.0.0.1:$port/json" "$sources" "$seconds" > "$work/floor.txt"
  column -t -s $'\t' < "$work/floor.txt"
  floor=$(awk -F'\t' '$1 ~ /: CPU$/ {print $2}' "$work/floor.txt")
  ratio=$(echo "scale=3; $cpu / $floor" | bc)
  ratios+=("$ratio")
  printf '%-40s %s\n' "agent CPU / floor CPU" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
echo
echo "== $sources http_json sources, $pairs alternated pairs =="
printf '%-40s %s\n' "peak private RSS (RssAnon), all pairs" "$(awk -v k="$peak_anon" 'BEGIN {printf "%.2f", k / 1024}') MiB (target <= 2.8)"
printf '%-40s %s\n' "peak total RSS, all pairs" "$(awk -v k="$peak_rss" 'BEGIN {printf "%.1f", k / 1024}') MiB"
printf '%-40s %s\n' "agent CPU / floor CPU, median" "$median (pairs: ${ratios[*]}; target <= 1.5)"
if [[ -z "${BENCH_SKIP_CURL_ONLY:-}" ]]; then
  echo
  echo "== the same with libcurl alone (and the C++ runtime): the floor of any poller on this libcurl, ${seconds}s =="
  "$build/bench/http_floor_curl_only" "http://127.0.0.1:$port/json" "$sources" "$seconds" "libcurl alone" \
    | column -t -s $'\t'
fi
