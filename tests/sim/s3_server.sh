#!/usr/bin/env bash
# A real, strict S3 server for tests: OpenStack Swift + s3api (Debian packages) on 127.0.0.1.
#
#   tests/sim/s3_server.sh start WORKDIR [BUCKET...]
#       Installs the Debian packages if missing (root only), starts memcached and the
#       object/container/account/proxy servers on random free loopback ports, with
#       everything (rings, configs, devices, logs, pid files) inside WORKDIR, waits until
#       the S3 endpoint answers, creates the buckets, then prints exactly one line:
#         S3_ENDPOINT=http://127.0.0.1:PORT S3_ACCESS_KEY=test:tester S3_SECRET_KEY=testing S3_REGION=us-east-1
#       and exits 0, leaving the servers running (their PIDs in WORKDIR/*.pid).
#   tests/sim/s3_server.sh stop WORKDIR
#       TERM, then (after a bounded wait) KILL, exactly the PIDs in WORKDIR/*.pid.
#
# Path-style addressing only. s3api verifies SigV4 (header and presigned), the payload hash
# (x-amz-content-sha256 vs body: BadDigest), Content-MD5 (BadDigest), clock skew (15 min),
# multipart ETags and EntityTooSmall. Everything except the progress/errors on stderr and
# the one line on stdout goes to WORKDIR/log/.
#
# Environment knobs:
#   S3_SIM_START_TIMEOUT  seconds to wait for the endpoint (default 60)
#   S3_SIM_LOG_LEVEL      Swift log level (default WARNING; INFO logs every request)
#
# Swift reads the fixed /etc/swift/swift.conf (shipped by the swift package; hash prefix and
# suffix "changeme"); it must exist and is never modified here.
set -euo pipefail

PY=/usr/bin/python3   # Debian's python (pyenv shims shadow python3 on PATH)
PACKAGES=(swift swift-proxy swift-account swift-container swift-object memcached python3-boto3)
SERVERS=(object container account proxy)
ACCESS_KEY='test:tester'
SECRET_KEY='testing'
REGION='us-east-1'
START_TIMEOUT="${S3_SIM_START_TIMEOUT:-60}"
LOG_LEVEL="${S3_SIM_LOG_LEVEL:-WARNING}"
STOP_WAIT_S=10

log() { echo "s3_server.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 start WORKDIR [BUCKET...] | stop WORKDIR" >&2
  exit 2
}

# ---------------------------------------------------------------- stop

# Is PID one of ours? It must be alive (not a zombie) and its command line must match what
# we started in this WORKDIR, so a recycled PID is never killed.
pid_is_ours() {
  local pid=$1 name=$2 wd=$3 cmdline state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ "$state" == "Z" || -z "$state" ]] && return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" || true)
  case "$name" in
    memcached)
      local port
      port=$(cat "$wd/run/memcached.port" 2>/dev/null || echo none)
      [[ "$cmdline" == *memcached* && "$cmdline" == *"-p $port "* ]] ;;
    *)
      [[ "$cmdline" == *"swift-$name-server"* && "$cmdline" == *"$wd/etc/"* ]] ;;
  esac
}

stop_all() {
  local wd=$1 f p pid name deadline
  local -a remaining
  local -a pids=()
  shopt -s nullglob
  for f in "$wd"/*.pid; do
    pid=$(tr -dc '0-9' < "$f")
    name=$(basename "$f" .pid)
    if pid_is_ours "$pid" "$name" "$wd"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid:$name")
    fi
  done
  deadline=$(( SECONDS + STOP_WAIT_S ))
  while :; do
    remaining=()
    for p in ${pids[@]+"${pids[@]}"}; do
      pid_is_ours "${p%%:*}" "${p#*:}" "$wd" && remaining+=("$p")
    done
    [[ ${#remaining[@]} -eq 0 ]] && break
    if (( SECONDS >= deadline )); then
      for p in "${remaining[@]}"; do
        log "pid ${p%%:*} (${p#*:}) ignored TERM for ${STOP_WAIT_S}s; sending KILL"
        kill -KILL "${p%%:*}" 2>/dev/null || true
      done
      sleep 0.5
      break
    fi
    sleep 0.1
  done
  for f in "$wd"/*.pid; do rm -f "$f"; done
  shopt -u nullglob
}

# ---------------------------------------------------------------- start

ensure_packages() {
  local -a missing=()
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}); install them as root"
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2 \
    || die "apt-get install failed"
}

# Print 6 distinct free loopback ports: 5 TCP (memcached, object, container, account, proxy)
# and 1 UDP (a sink for Swift's syslog handler, which has no "off" switch). All sockets stay
# bound until every port is picked, then are released (tiny race, handled by the retry loop).
pick_ports() {
  "$PY" - <<'EOF'
import socket
held, ports = [], []
for kind in [socket.SOCK_STREAM] * 5 + [socket.SOCK_DGRAM]:
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        held.append(s)
        p = s.getsockname()[1]
        if p not in ports:
            ports.append(p)
            break
print(" ".join(map(str, ports)))
for s in held:
    s.close()
EOF
}

write_configs() {
  local wd=$1 user=$2 syslog_port=$3 n p
  local etc="$wd/etc"
  rm -f "$etc"/*.builder "$etc"/*.ring.gz
  rm -rf "$etc/backups"
  # One python process instead of 9 swift-ring-builder runs (saves ~5 s of startup).
  # Same as: swift-ring-builder X.builder create 0 1 1; ... add r1z1-127.0.0.1:PORT/sdb1 1; ... rebalance
  "$PY" - "$etc" "${PORT[account]}" "${PORT[container]}" "${PORT[object]}" \
      > "$wd/log/ring-builder.log" 2>&1 <<'EOF' || { cat "$wd/log/ring-builder.log" >&2; die "ring build failed"; }
import os, sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), map(int, sys.argv[2:5])):
    b = RingBuilder(0, 1, 1)  # part_power 0, 1 replica, min_part_hours 1
    b.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
               "replication_ip": "127.0.0.1", "replication_port": port,
               "device": "sdb1", "weight": 1})
    b.rebalance()
    b.save(os.path.join(etc, name + ".builder"))
    b.get_ring().save(os.path.join(etc, name + ".ring.gz"))
    print(name, "ring: 127.0.0.1:%d/sdb1" % port)
EOF

  local common="[DEFAULT]
bind_ip = 127.0.0.1
swift_dir = $etc
user = $user
workers = 0
# a taken port fails in 3 s (default 30) so the caller retries with new ports
bind_timeout = 3
log_level = $LOG_LEVEL
log_udp_host = 127.0.0.1
log_udp_port = $syslog_port"

  for n in object container account; do
    cat > "$etc/$n-server.conf" <<EOF
$common
bind_port = ${PORT[$n]}
devices = $wd/srv
mount_check = false
log_name = $n-server

[pipeline:main]
pipeline = $n-server

[app:$n-server]
use = egg:swift#$n
EOF
  done

  cat > "$etc/proxy-server.conf" <<EOF
$common
bind_port = ${PORT[proxy]}
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors proxy-logging cache s3api tempauth copy slo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $REGION

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET_KEY .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${PORT[memcached]}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
EOF
}

launch() {
  local wd=$1 n
  local -a mc=(memcached -l 127.0.0.1 -p "${PORT[memcached]}" -U 0 -m 64 -t 1)
  [[ $(id -u) -eq 0 ]] && mc+=(-u nobody)   # memcached refuses root without -u
  # Children get stdin from /dev/null and stdout/stderr to log files, so a caller that reads
  # our stdout through a pipe ($(...)) is not held open by them.
  "${mc[@]}" < /dev/null > "$wd/log/memcached.log" 2>&1 &
  echo $! > "$wd/memcached.pid"
  echo "${PORT[memcached]}" > "$wd/run/memcached.port"
  for n in "${SERVERS[@]}"; do
    # -v: also log to stderr (the log file); Swift otherwise logs only to syslog.
    "swift-$n-server" "$wd/etc/$n-server.conf" -v < /dev/null >> "$wd/log/$n.log" 2>&1 &
    echo $! > "$wd/$n.pid"
  done
}

# Wait (bounded) until every port accepts TCP and the S3 API answers a signed
# ListBuckets, then create the buckets. Exit 3 if one of our processes died (retryable,
# e.g. a port was taken), 1 on other failures.
wait_and_create_buckets() {
  local wd=$1; shift
  local pids=() n
  for n in memcached "${SERVERS[@]}"; do pids+=("$(cat "$wd/$n.pid")"); done
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
  S3_SIM_PIDS="${pids[*]}" \
  S3_SIM_PORTS="${PORT[memcached]} ${PORT[object]} ${PORT[container]} ${PORT[account]} ${PORT[proxy]}" \
  S3_SIM_TIMEOUT="$START_TIMEOUT" S3_SIM_ACCESS="$ACCESS_KEY" S3_SIM_SECRET="$SECRET_KEY" \
  S3_SIM_REGION="$REGION" \
  "$PY" - "$@" <<'EOF'
import os, socket, sys, time
pids = [int(p) for p in os.environ["S3_SIM_PIDS"].split()]
ports = [int(p) for p in os.environ["S3_SIM_PORTS"].split()]
deadline = time.monotonic() + float(os.environ["S3_SIM_TIMEOUT"])
buckets = sys.argv[1:]

def all_alive():
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return pid
        except OSError:
            return pid
    return None

def check():
    dead = all_alive()
    if dead:
        print(f"s3_server.sh: process {dead} exited during startup", file=sys.stderr)
        sys.exit(3)
    if time.monotonic() > deadline:
        print("s3_server.sh: timed out waiting for the S3 endpoint", file=sys.stderr)
        sys.exit(1)

for port in ports:
    while True:
        check()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)

import boto3, botocore
from botocore.config import Config
s3 = boto3.client(
    "s3", endpoint_url=f"http://127.0.0.1:{ports[-1]}", region_name=os.environ["S3_SIM_REGION"],
    aws_access_key_id=os.environ["S3_SIM_ACCESS"], aws_secret_access_key=os.environ["S3_SIM_SECRET"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                  connect_timeout=2, read_timeout=5,
                  retries={"mode": "standard", "total_max_attempts": 1}))
last = None
while True:
    check()
    try:
        s3.list_buckets()
        break
    except Exception as e:  # not ready yet
        last = e
        time.sleep(0.2)
for b in buckets:
    while True:
        check()
        try:
            s3.create_bucket(Bucket=b)
            break
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                break
            if code in ("ServiceUnavailable", "InternalError", "SlowDown"):
                time.sleep(0.2)
                continue
            print(f"s3_server.sh: create_bucket {b!r} failed: {e}", file=sys.stderr)
            sys.exit(1)
        except botocore.exceptions.BotoCoreError:
            time.sleep(0.2)
EOF
}

dump_logs() {
  local wd=$1 f
  for f in "$wd"/log/*.log; do
    [[ -s "$f" ]] || continue
    echo "----- tail of $f" >&2
    tail -n 20 "$f" >&2
  done
}

start() {
  local wd=$1; shift
  local f pid name attempt rc user
  mkdir -p "$wd"
  wd=$(cd "$wd" && pwd -P)
  [[ -f /etc/swift/swift.conf ]] || die "/etc/swift/swift.conf is missing (shipped by the swift package)"

  shopt -s nullglob
  for f in "$wd"/*.pid; do
    pid=$(tr -dc '0-9' < "$f"); name=$(basename "$f" .pid)
    pid_is_ours "$pid" "$name" "$wd" && die "already running in $wd (pid $pid, $name); stop it first"
    rm -f "$f"
  done
  shopt -u nullglob

  ensure_packages
  mkdir -p "$wd/etc" "$wd/srv/sdb1" "$wd/log" "$wd/run"
  user=$(id -un)

  for attempt in 1 2 3; do
    local -a ports
    read -r -a ports < <(pick_ports)
    [[ ${#ports[@]} -eq 6 ]] || die "could not pick free ports"
    declare -gA PORT=([memcached]=${ports[0]} [object]=${ports[1]} [container]=${ports[2]}
                      [account]=${ports[3]} [proxy]=${ports[4]})
    write_configs "$wd" "$user" "${ports[5]}"
    launch "$wd"
    rc=0
    wait_and_create_buckets "$wd" "$@" || rc=$?
    if [[ $rc -eq 0 ]]; then
      echo "S3_ENDPOINT=http://127.0.0.1:${PORT[proxy]} S3_ACCESS_KEY=$ACCESS_KEY S3_SECRET_KEY=$SECRET_KEY S3_REGION=$REGION"
      return 0
    fi
    dump_logs "$wd"
    stop_all "$wd"
    [[ $rc -eq 3 && $attempt -lt 3 ]] || die "startup failed (logs in $wd/log)"
    log "retrying with new ports (attempt $((attempt + 1)))"
  done
}

[[ $# -ge 2 ]] || usage
case "$1" in
  start) shift; start "$@" ;;
  stop)
    [[ $# -eq 2 ]] || usage
    [[ -d "$2" ]] || exit 0
    stop_all "$(cd "$2" && pwd -P)" ;;
  *) usage ;;
esac
