#!/usr/bin/env bash
# Installs the Debian packages keygate needs for one purpose, and only those missing.
# Usage: scripts/setup.sh run|test|bench    (a no-op when everything is present)
set -euo pipefail
what=${1:-run}
pkgs=(build-essential pkg-config libmicrohttpd-dev libhttp-parser-dev libjansson-dev libsodium-dev libssl-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev)
case "$what" in
  run) ;;
  # caddy: the proxy tests run examples/Caddyfile (tests/standards/proxies.test.mjs).
  # clang and libFuzzer's runtime (libclang_rt.fuzzer*.a, only recommended by clang on Debian 12)
  # for the fuzz drivers (scripts/fuzz.sh).
  # The compatibility suite's clients (tests/interop/): requests-oauthlib and PyJWT (with
  # cryptography) for Debian's /usr/bin/python3, and Go's x/oauth2 built in GOPATH mode.
  # clang-format for the format check (scripts/check-format.sh, .clang-format).
  # The docs suite (tests/docs/): systemd's systemd-analyze checks examples/keygate.service,
  # groff-base and man-db render the installed man page, jq is in the README's walk-through.
  # python3-prometheus-client parses GET /metrics as Prometheus would (tests/e2e/metrics.test.js).
  # openssl: the README checks a webhook signature with it; tests/e2e/webhooks.test.js makes a
  # receiver's self-signed certificate with it.
  test) pkgs+=(libcmocka-dev curl nodejs chromium nginx-light caddy postgresql sqlite3 clang libclang-rt-14-dev
               clang-format python3 python3-requests-oauthlib python3-jwt python3-cryptography golang-go golang-golang-x-oauth2-dev
               systemd groff-base man-db jq python3-prometheus-client openssl) ;;
  # nodejs and npm: the bench's peer authorization server (scripts/bench/peer/, below).
  bench) pkgs+=(wrk curl nginx-light python3 nodejs) ;;
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
if [ "$what" != run ] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
missing=($(printf '%s\n' "${missing[@]-}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The test suites' npm packages, pinned in package-lock.json: playwright-core (it drives
# Debian's chromium, so no browser download), openid-client and jose (real OAuth clients),
# jsonwebtoken and jwks-rsa (a JWT verifier many Node APIs use, tests/interop/),
# @seriousme/openapi-schema-validator (validates doc/openapi.json) and ajv (holds every
# end-to-end answer to it, tests/e2e/contract.js).
if [ "$what" = test ]; then
  for m in playwright-core openid-client jose jsonwebtoken jwks-rsa ajv @seriousme/openapi-schema-validator; do
    if [ ! -d "node_modules/$m" ]; then
      echo "setup: installing the test suites' npm packages"
      npm ci --no-audit --no-fund --loglevel=error
      break
    fi
  done
fi

# The bench's peer, node's oidc-provider, pinned in scripts/bench/peer/package-lock.json and
# installed into that folder's own node_modules (again when the pin moves).
if [ "$what" = bench ]; then
  peer=$(dirname "$0")/bench/peer
  want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["oidc-provider"])' "$peer/package.json")
  have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$peer/node_modules/oidc-provider/package.json" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    echo "setup: installing the bench's peer (oidc-provider $want)"
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
