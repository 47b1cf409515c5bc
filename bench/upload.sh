#!/usr/bin/env bash
# Upload catch-up next to raw curl: a backlog of segments of ~1 MiB uploaded by the agent's
# worker to a local signature-verifying S3 server (Swift + s3api), then the same files PUT
# by `curl --aws-sigv4` over one keep-alive connection, in the same run. Both sides move by
# a tenth or more between runs a minute apart (the server is the limit), so they alternate:
# BENCH_UPLOAD_PAIRS pairs (default 3) of the agent uploading the backlog (again, its
# segments marked sealed once more) and curl PUTting the same files, and the median ratio.
# usage: bench/upload.sh BUILD_DIR   (BENCH_UPLOAD_SEGMENTS, default 1000)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
count=${BENCH_UPLOAD_SEGMENTS:-1000}
pairs=${BENCH_UPLOAD_PAIRS:-3}
work=$(mktemp -d)
cleanup() { "$here/tests/sim/s3_server.sh" stop "$work/s3" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== upload catch-up: $count segments of ~1 MiB to a loopback S3 (Swift + s3api) =="
line=$("$here/tests/sim/s3_server.sh" start "$work/s3" bench)
eval "export $line"
export S3_BUCKET=bench AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY

# Raw curl: the same files, one process, one connection. curl splits -u at the first
# colon and Swift's access keys contain one ("account:user"), so the key goes in a netrc.
host=${S3_ENDPOINT#http://}
printf 'machine %s login %s password %s\n' "${host%%:*}" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" > "$work/netrc"
chmod 600 "$work/netrc"
# One curl config for every segment file of the backlog; sets n and bytes.
make_curl_cfg() {
  : > "$work/curl.cfg"
  bytes=0 n=0
  for f in "$work/state/segments/"*.jsonl.gz; do
    ((n > 0)) && echo "next" >> "$work/curl.cfg"
    cat >> "$work/curl.cfg" <<CFG
url = "$S3_ENDPOINT/bench/curl/$(basename "$f")"
upload-file = "$f"
aws-sigv4 = "aws:amz:$S3_REGION:s3"
netrc-file = "$work/netrc"
header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"
silent
show-error
fail
output = "/dev/null"
CFG
    bytes=$((bytes + $(stat -c %s "$f")))
    n=$((n + 1))
  done
}
# Marks every uploaded segment sealed again, so the next pair's agent uploads the same files.
unupload() {
  /usr/bin/python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute(\"UPDATE segments SET state = 'sealed', uploaded_at = NULL, attempts = 0, next_attempt_at = 0\"
          \" WHERE state = 'uploaded'\")
c.commit()" "$work/state/buffer.db"
}

ratios=()
for ((p = 1; p <= pairs; p++)); do
  if ((p == 1)); then
    agent=$(env $("$here/bench/unit_env.sh") "$build/bench/upload_bench" "$work/state" "$count" 2>> "$work/upload_bench.log")
    make_curl_cfg
  else
    unupload
    agent=$(env $("$here/bench/unit_env.sh") "$build/bench/upload_bench" "$work/state" 0 again 2>> "$work/upload_bench.log")
  fi
  echo "-- pair $p of $pairs"
  echo "$agent" | column -t -s $'\t'
  agent_mb=$(echo "$agent" | awk -F'\t' '$1 == "agent upload" && $3 ~ /^MB/ {print $2}')
  t0=$(date +%s.%N)
  curl -K "$work/curl.cfg"
  t1=$(date +%s.%N)
  raw_mb=$(echo "$bytes $t0 $t1" | awk '{ printf "%.1f", $1 / 1e6 / ($3 - $2) }')
  echo "$n $bytes $t0 $t1" | awk '{ s = $4 - $3; printf "%-40s %.1f MB/s (%d files, %.0f MB in %.1f s)\n%-40s %.1f segments/s\n", "raw curl PUT", $2 / 1e6 / s, $1, $2 / 1e6, s, "raw curl PUT", $1 / s }'
  ratio=$(echo "$agent_mb $raw_mb" | awk '{ printf "%.0f", 100 * $1 / $2 }')
  echo "agent / raw curl                         $ratio%"
  ratios+=("$ratio")
done
sorted=$(printf '%s\n' "${ratios[@]}" | sort -n | tr '\n' ' ')
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
echo "upload catch-up, median of $pairs alternated pairs   $median% of raw curl (pairs: $sorted; target >= 90)"
