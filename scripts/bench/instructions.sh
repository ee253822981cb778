#!/usr/bin/env bash
# Instructions a keygate executes for N requests, counted by callgrind (repeatable whatever
# else the machine does, unlike req/s): one worker thread, one keep-alive connection from curl.
# Usage: [WHAT=gate|token|introspect|healthz] scripts/bench/instructions.sh path/to/keygate N
# Prints the process's total instruction count; run it for two values of N and divide the
# difference by the difference of N for the cost of one request, e.g.
#   for n in 500 2500; do scripts/bench/instructions.sh build/release/keygate $n; done
set -euo pipefail
bin=$(realpath "$1") n=$2 port=18590
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
printf 'GET /api/v1/orders/* ManageSecurity\n' > $d/policy
$bin --db $d/k.db --log-level warning token create --role accountadmin --json > $d/admin.json 2>/dev/null
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clientId"])' $d/admin.json)
sec=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clientSecret"])' $d/admin.json)
valgrind --tool=callgrind --callgrind-out-file=$d/cg.out $bin --db $d/k.db --log-level warning serve --listen 127.0.0.1:$port --threads 1 --policy $d/policy >$d/log 2>&1 &
vp=$!
for i in $(seq 300); do curl -sf 127.0.0.1:$port/healthz >/dev/null 2>&1 && break; sleep 0.1; done
at=$(curl -sf -u "$id:$sec" -d grant_type=client_credentials 127.0.0.1:$port/oauth/v2/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# N requests on one keep-alive connection (curl reuses it for every URL it is given)
urls=()
if [ "${WHAT:-gate}" = token ]; then
  for _ in $(seq "$n"); do urls+=("http://127.0.0.1:$port/oauth/v2/token"); done
  curl -s -u "$id:$sec" -d grant_type=client_credentials "${urls[@]}" >/dev/null
elif [ "$WHAT" = introspect ]; then
  for _ in $(seq "$n"); do urls+=("http://127.0.0.1:$port/oauth/v2/introspect"); done
  curl -s -u "$id:$sec" -d "token=$at" "${urls[@]}" >/dev/null
elif [ "$WHAT" = healthz ]; then
  for _ in $(seq "$n"); do urls+=("http://127.0.0.1:$port/healthz"); done
  curl -s "${urls[@]}" >/dev/null
else
  for _ in $(seq "$n"); do urls+=("http://127.0.0.1:$port/gate"); done
  curl -s -H "Authorization: Bearer $at" -H "X-Original-Method: GET" \
    -H "X-Original-URI: /api/v1/orders/42" "${urls[@]}" >/dev/null
fi
kill -INT $vp; wait $vp 2>/dev/null || true
grep -m1 "^summary:\|^totals:" $d/cg.out | awk '{print $2}'
