#!/usr/bin/env bash
# Installs the Debian packages keygate needs for one purpose, and only those missing.
# Usage: scripts/setup.sh run|test|bench    (a no-op when everything is present)
set -euo pipefail
what=${1:-run}
pkgs=(build-essential pkg-config libmicrohttpd-dev libjansson-dev libsodium-dev libsqlite3-dev)
case "$what" in
  run) ;;
  test) pkgs+=(libcmocka-dev curl nodejs chromium nginx-light) ;;
  bench) pkgs+=(wrk curl nginx-light) ;;
  *) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian's packages; node >= 20 will do.
if [[ " ${missing[*]-} " == *" nodejs "* ]] && command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
fi
if [ "$what" = test ] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
missing=($(printf '%s\n' "${missing[@]-}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The browser tests' driver (playwright-core, pinned in package-lock.json; it drives
# Debian's chromium, so no browser download).
if [ "$what" = test ] && [ ! -d node_modules/playwright-core ]; then
  echo "setup: installing playwright-core"
  npm ci --no-audit --no-fund --loglevel=error
fi
