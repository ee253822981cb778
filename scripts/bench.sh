#!/usr/bin/env bash
# make bench: throughput of keygate on loopback, each figure beside an nginx reference
# measured in the same run (a fixed 2-byte response), rounds interleaved.
# Usage: scripts/bench.sh path/to/keygate     (env: SECONDS_PER_RUN=5 ROUNDS=2 CONNS=64)
set -euo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
secs=${SECONDS_PER_RUN:-5}
rounds=${ROUNDS:-2}
conns=${CONNS:-64}
tmp=$(mktemp -d)
kport=18471
nport=18472
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# nginx reference
mkdir -p "$tmp/nginx/logs"
cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nport;
    location / { return 200 "ok"; }
  }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

# A policy of ~50 rules; the benchmarked route matches the last one.
policy="$tmp/policy.txt"
for i in $(seq 49); do echo "GET /api/v1/resource$i/* bench.read$i"; done >"$policy"
echo "GET /api/v1/orders/* ManageSecurity" >>"$policy"

# keygate with a fresh database
"$bin" --db "$tmp/kg/keygate.db" --log-level warning serve --listen 127.0.0.1:$kport --policy "$policy" >/dev/null &
pids+=($!)
base=http://127.0.0.1:$kport
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$nport/" >/dev/null

boot=$("$bin" --db "$tmp/kg/keygate.db" token create --role accountadmin --description bench --json)
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
cid=$(field clientId <<<"$boot")
sec=$(field clientSecret <<<"$boot")
sleep 0.5 # the server's view picks the CLI's token up within 200 ms
at=$(curl -sf -u "$cid:$sec" -d grant_type=client_credentials "$base/oauth/v2/token" | field access_token)

# many distinct API tokens for the issuance run
: >"$tmp/auth.txt"
for i in $(seq 200); do
  t=$(curl -sf -H "Authorization: Bearer $at" -H 'Content-Type: application/json' \
        -d "{\"description\":\"bench $i\",\"roleId\":\"r-0000000001\"}" "$base/public/api/v1/apiToken")
  printf 'Basic %s\n' "$(printf '%s:%s' "$(field clientId <<<"$t")" "$(field clientSecret <<<"$t")" | base64 -w0)" >>"$tmp/auth.txt"
done

run() { # name url [env...]
  local name=$1 url=$2
  shift 2
  env "$@" wrk -t2 -c"$conns" -d"${secs}s" --timeout 5s -s "$here/bench/check.lua" "$url" |
    awk -v n="$name" '/^RESULT/ {print n, $2, $3, $4, $5, $6}'
}

printf 'Basic %s\n' "$(printf '%s:%s' "$cid" "$sec" | base64 -w0)" >"$tmp/auth1.txt"

results="$tmp/results.txt"
: >"$results"
for r in $(seq "$rounds"); do
  run nginx "http://127.0.0.1:$nport/" >>"$results"
  run issuance "$base/oauth/v2/token" WRK_METHOD=POST WRK_BODY=grant_type=client_credentials \
      WRK_AUTH_FILE="$tmp/auth.txt" >>"$results"
  run api-get-token "$base/public/api/v1/apiToken/$cid" WRK_BEARER="$at" >>"$results"
  run gate "$base/gate" WRK_BEARER="$at" WRK_EXPECT=204 \
      WRK_HEADERS="X-Original-Method: GET|X-Original-URI: /api/v1/orders/42" >>"$results"
  run introspection "$base/oauth/v2/introspect" WRK_METHOD=POST WRK_BODY="token=$at" \
      WRK_AUTH_FILE="$tmp/auth1.txt" >>"$results"
  run healthz "$base/healthz" >>"$results"
done

mkdir -p build/bench
python3 - "$results" "$conns" "$secs" "$rounds" <<'PY' | tee build/bench/summary.md
import sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, reqs, rps, p50, p99, bad = line.split()
    rows[name].append((float(rps), float(p50), float(p99), int(bad)))
def med(xs):
    xs = sorted(xs); return xs[len(xs) // 2]
ref = med([r[0] for r in rows["nginx"]])
print(f"wrk -t2 -c{sys.argv[2]} -d{sys.argv[3]}s, {sys.argv[4]} interleaved rounds, medians\n")
print("| run | req/s | p50 ms | p99 ms | × nginx | bad responses |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["nginx", "issuance", "gate", "introspection", "api-get-token", "healthz"]:
    rs = rows[name]
    rps = med([r[0] for r in rs])
    print(f"| {name} | {rps:,.0f} | {med([r[1] for r in rs]):.2f} | {med([r[2] for r in rs]):.2f} | "
          f"{rps / ref:.2f} | {sum(r[3] for r in rs)} |")
PY
