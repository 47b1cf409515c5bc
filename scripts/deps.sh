#!/usr/bin/env bash
# Installs the Debian 12 packages one use of granary needs, when any is missing.
# usage: scripts/deps.sh [build|demo|package|test]   (default build)
#   build    compilers, CMake, the -dev libraries (`make build`)
#   demo     build + mosquitto, curl, Chart.js for the dashboard (`make run`)
#   package  build + the Debian packaging tools (`make package`)
#   test     everything, the test peers included (`make test`, CI)
# Safe to run again: it calls apt-get only when something is absent, installs without
# recommends and never upgrades a package that is already installed.
set -euo pipefail

BUILD=(cmake ninja-build g++ clang clang-format clang-tidy pkg-config python3
  libsqlite3-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libcjson-dev libbson-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libsystemd-dev libmosquitto-dev
  libmicrohttpd-dev libpq-dev libexpat1-dev libgtest-dev libgmock-dev libbenchmark-dev)
DEMO=(mosquitto mosquitto-clients curl libjs-chart.js)
PACKAGE=(dpkg-dev debhelper lintian fakeroot)
# Test peers: Swift + s3api is the signature-verifying S3 server; boto3 and awscli are
# independent S3 clients; PostgreSQL and Chromium are the real peers of the receiver tests;
# haproxy terminates TLS in front of a plain-HTTP receiver; openssl makes the test CA;
# systemd-analyze (systemd) and adduser check and install the built packages;
# chromium-driver and python3-selenium drive the dashboard in a real browser, which loads
# Chart.js from libjs-chart.js; python3-bson reads archived BSON independently of libbson;
# python3-paho-mqtt publishes MQTT 5 user properties.
TEST=("${DEMO[@]}" "${PACKAGE[@]}" systemd adduser sqlite3 bc bsdextrautils
  swift swift-proxy swift-account swift-container swift-object memcached
  python3-boto3 awscli postgresql chromium chromium-driver python3-selenium libjs-chart.js
  python3-bson python3-paho-mqtt haproxy openssl)

case "${1:-build}" in
  build) wanted=("${BUILD[@]}") ;;
  demo) wanted=("${BUILD[@]}" "${DEMO[@]}") ;;
  package) wanted=("${BUILD[@]}" "${PACKAGE[@]}") ;;
  test) wanted=("${BUILD[@]}" "${TEST[@]}") ;;
  *)
    echo "usage: scripts/deps.sh [build|demo|package|test]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}"
