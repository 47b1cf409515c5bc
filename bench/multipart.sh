#!/usr/bin/env bash
# Multipart upload of one large file: the agent's resumable module (tests/support/
# multipart_put.cpp over agent/upload/multipart.h) next to `aws s3 cp` of the same file with
# the same part size, both to a loopback Swift + s3api in the same run; and the driver's
# RssAnon growth while it uploads (sampled every 100 ms from /proc/PID/status), which must
# not follow the file's size: a file is streamed, never loaded. Then the same file dropped
# into an [[outbox]] of the real agent process, timed from taken to complete, with its
# RssAnon growth, and its throughput as a share of aws s3 cp's.
# usage: bench/multipart.sh BUILD_DIR   (BENCH_MULTIPART_MIB, default 1024;
#                                        BENCH_PART_MIB, default 8)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
mib=${BENCH_MULTIPART_MIB:-1024}
part_mib=${BENCH_PART_MIB:-8}
work=$(mktemp -d)
cleanup() { "$here/tests/sim/s3_server.sh" stop "$work/s3" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== multipart: a ${mib} MiB file in ${part_mib} MiB parts to a loopback S3 (Swift + s3api) =="
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
line=$("$here/tests/sim/s3_server.sh" start "$work/s3" bench)
eval "export $line"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
# Generated, not sparse: zero pages would flatter reading and hashing.
head -c $((mib << 20)) /dev/urandom > "$work/big.bin"
# The outbox records a file's SHA-256 when it takes the file, and the uploader is given it;
# computed here, untimed, for the same reason (and so the page cache holds the file for both).
sha=$(sha256sum "$work/big.bin" | cut -d' ' -f1)

rate() {  # label bytes t0 t1
  awk -v l="$1" -v b="$2" -v t0="$3" -v t1="$4" \
    'BEGIN { s = t1 - t0; printf "%-40s %.1f MB/s (%.0f MB in %.1f s)\n", l, b / 1e6 / s, b / 1e6, s }'
}

t0=$(date +%s.%N)
"$build/bench/multipart_put" --state-dir "$work/state" --endpoint "$S3_ENDPOINT" --bucket bench \
  --region "$S3_REGION" --key module/big.bin --file "$work/big.bin" \
  --sha256 "$sha" --part-size $((part_mib << 20)) > "$work/module.out" 2> "$work/module.err" &
pid=$!
first=0 peak=0
while kill -0 "$pid" 2>/dev/null; do
  anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  if [ -n "$anon" ]; then
    # The baseline is taken once the first part is on its way (libraries loaded, buffers made).
    if [ "$first" = 0 ] && grep -q "sending" "$work/module.out"; then first=$anon; fi
    [ "$anon" -gt "$peak" ] && peak=$anon
  fi
  sleep 0.1
done
wait "$pid"
t1=$(date +%s.%N)
grep -q "^done multipart" "$work/module.out" || { cat "$work/module.out" "$work/module.err"; exit 1; }
rate "granary multipart module" $((mib << 20)) "$t0" "$t1"
printf '%-40s %d KiB (first part %d KiB, peak %d KiB)\n' "RssAnon growth during the upload" \
  $((peak - first)) "$first" "$peak"

# The same file through the real agent process: renamed into an [[outbox]] (the producer
# contract), uploaded in parts of the same size; timed from the file taken to the object
# complete as the agent's catalog records them (outbox.taken_at, uploaded_at, in ms), its
# RssAnon sampled every 100 ms from the moment the file is taken.
state="$work/agent/state"
mkdir -p "$work/agent" "$work/stage"
cat > "$work/agent/granary.toml" <<EOF
device = "bench"
state_dir = "$state"

[upload]
endpoint = "$S3_ENDPOINT"
bucket = "bench"
region = "$S3_REGION"
prefix = "agent"
part_size = "${part_mib}MiB"

[quota]
max_bytes = "$((mib * 2 + 1024))MiB"  # the copy of the file counts; the default 1 GiB would hold it back

[[outbox]]
name = "files"
path = "$work/outbox"
EOF
env $("$here/bench/unit_env.sh") "$build/agent/granary" run -c "$work/agent/granary.toml" 2> "$work/agent.log" &
apid=$!
for _ in $(seq 100); do [ -f "$state/status.json" ] && break; sleep 0.1; done
ln "$work/big.bin" "$work/stage/big.bin"  # the outbox removes its name; big.bin stays for aws
mv "$work/stage/big.bin" "$work/outbox/big.bin"
outbox() { sqlite3 "file:$state/buffer.db?mode=ro" "$1" 2>/dev/null || true; }
first=0 peak=0 done=""
for _ in $(seq 6000); do  # at most 10 minutes
  anon=$(awk '/^RssAnon/ {print $2}' "/proc/$apid/status" 2>/dev/null) || break
  if [ "$first" = 0 ] && [ -n "$(outbox "SELECT id FROM outbox")" ]; then first=$anon; fi
  [ "$first" != 0 ] && [ "$anon" -gt "$peak" ] && peak=$anon
  done=$(outbox "SELECT (uploaded_at - taken_at) / 1000.0 FROM outbox WHERE state = 'uploaded'")
  [ -n "$done" ] && break
  sleep 0.1
done
kill "$apid"; wait "$apid" || true
[ -n "$done" ] || { tail -20 "$work/agent.log"; echo "the agent did not upload the file"; exit 1; }
rate "granary agent, outbox to object" $((mib << 20)) 0 "$done"
printf '%-40s %d KiB (taken %d KiB, peak %d KiB)\n' "agent RssAnon growth during the upload" \
  $((peak - first)) "$first" "$peak"
agent_s=$done

export AWS_CONFIG_FILE="$work/aws.cfg" AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
printf '[default]\nregion = %s\ns3 =\n  multipart_chunksize = %d\n  multipart_threshold = %d\n  addressing_style = path\n' \
  "$S3_REGION" $((part_mib << 20)) $((part_mib << 20)) > "$AWS_CONFIG_FILE"
t0=$(date +%s.%N)
/usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors "$work/big.bin" s3://bench/awscli/big.bin
t1=$(date +%s.%N)
rate "aws s3 cp (same part size)" $((mib << 20)) "$t0" "$t1"
awk -v a="$agent_s" -v t0="$t0" -v t1="$t1" \
  'BEGIN { printf "%-40s %.0f%% of aws s3 cp\n", "agent throughput", 100 * (t1 - t0) / a }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
