#!/usr/bin/env bash
# Installs the Debian 12 packages granary builds and tests with, when any is missing.
# Safe to run again: it only calls apt-get when something is absent.
set -euo pipefail

BUILD=(cmake ninja-build g++ clang clang-format clang-tidy pkg-config
  libsqlite3-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libcjson-dev libbson-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libsystemd-dev libmosquitto-dev
  libmicrohttpd-dev libpq-dev libexpat1-dev libgtest-dev libgmock-dev libbenchmark-dev)
# Test peers: Swift + s3api is the signature-verifying S3 server; boto3 and awscli are
# independent S3 clients; PostgreSQL and Chromium are the real peers of the receiver tests;
# haproxy terminates TLS in front of a plain-HTTP receiver; openssl makes the test CA.
TEST=(python3 sqlite3 curl bc bsdextrautils mosquitto mosquitto-clients
  swift swift-proxy swift-account swift-container swift-object memcached
  python3-boto3 awscli postgresql chromium haproxy openssl
  dpkg-dev debhelper lintian fakeroot)

missing=()
for p in "${BUILD[@]}" "${TEST[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
