#!/usr/bin/env bash
# Installs every Debian and npm dependency of webrtc2, idempotently.
# Runs as root on a fresh Debian 12 machine; does nothing when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libuv1-dev libssl-dev libjansson-dev libjsmn-dev libjwt-dev libyaml-dev
  libsqlite3-dev libcmocka-dev libwslay-dev libhttp-parser-dev libsodium-dev
  libwebsockets-dev libwebsockets-evlib-uv
  nodejs npm openssl procps curl
  chromium
  iproute2 iptables iperf3
  coturn
)

missing=()
for p in "${APT_PKGS[@]}"; do
  # nodejs may come from another origin whose npm is bundled; accept any npm on PATH.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages: ${missing[*]} (run as root to install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the integration and browser tests (ws, playwright-core driving
# Debian's chromium) and the benchmark comparisons (PeerJS server and client).
# iproute2 and iptables: the browser tests that break a network path do it
# inside a network namespace of their own.
if [ ! -f node_modules/.deps-stamp ] || [ package.json -nt node_modules/.deps-stamp ]; then
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.deps-stamp
fi
