#!/usr/bin/env bash
# make bench: keygate's throughput and latency on loopback, each figure beside an nginx
# reference measured in the same run (a fixed 2-byte response), rounds interleaved so that
# machine drift hits every run alike, and beside a peer authorization server's issuance; then
# the targets (issue 20's, and those of issue 6 it leaves as they were), each checked.
#
# Keygate servers run side by side, each on a fresh SQLite database:
#   small  200 API tokens        issuance, gate (50-rule policy), introspection, get, healthz;
#                                with EdDSA, and again (a copy each) with ES256 and RS256;
#                                and the gate again on a copy with usage controls on (below)
#   small5 200 API tokens        issuance again, each token holding 5 secrets (the newest used)
#   mid    100,000 API tokens    the first page of the token list (pageSize=100)
#   big    SCALE API tokens      start-up time, memory, and the small database's rows again
#          (default 1,000,000)   (issuance, gate, introspection, get, healthz)
# Tokens are bulk-loaded (scripts/bench/fill.py) before each server starts.
# The peer: node's oidc-provider (scripts/bench/peer/, installed by scripts/setup.sh bench), a
# server for each of EdDSA, ES256 and RS256, client credentials grant, JWT access tokens, 200
# clients; in node's cluster mode with one worker a core, since keygate serves on every core.
# Every keygate runs with usage controls off (--no-usage-counts, no rate limits, no allowed
# ranges) but the one of the row "gate, usage controls on" (issue 19): it counts usage, and the
# gate's token has a rate limit far above what the bench reaches (every request passes, every
# answer carries RateLimit) and allowed ranges that hold 127.0.0.1.  Every wrk run lasts
# SECONDS_PER_RUN seconds, goes only to 127.0.0.1, and counts a response as bad unless its
# status, and a piece of its body or a header, are what a client would check.
#
# Usage: scripts/bench.sh path/to/keygate   (env: SECONDS_PER_RUN=5 ROUNDS=3 CONNS=64
#        SCALE=1000000: the big database's tokens (10000000 for issue 20's ten-million rows);
#        ALGS="ES256 RS256": the other algorithms' rows; empty for a keygate without them;
#        PEER_ALGS="EdDSA $ALGS": the peer's algorithms; empty for no peer;
#        COMPARE=path/to/other/keygate: that binary too, on a copy of the small database, its
#        rows ("…@cmp") interleaved with this one's, for a before/after in one run)
# Writes build/bench/summary.md.
set -euo pipefail
umask 077 # the work directory holds client secrets
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
secs=${SECONDS_PER_RUN:-5}
rounds=${ROUNDS:-3}
conns=${CONNS:-64}
algs=${ALGS-ES256 RS256}
peer_algs=${PEER_ALGS-EdDSA $algs}
scale=${SCALE:-1000000}
[[ $scale =~ ^[1-9][0-9]{0,8}$ ]] || { echo "bench: SCALE must be a number of tokens" >&2; exit 2; }
scale_txt=$(printf '%s' "$scale" | rev | sed 's/[0-9]\{3\}/&,/g; s/,$//' | rev) # 1,000,000
compare=${COMPARE:+$(realpath "$COMPARE")}
declare -A alg_port=([ES256]=18475 [RS256]=18476) alg_at=()
declare -A peer_port=([EdDSA]=18480 [ES256]=18481 [RS256]=18482)
peer_dir=$here/bench/peer
for alg in $peer_algs; do
  [ -n "${peer_port[$alg]-}" ] || { echo "bench: the peer has no algorithm $alg" >&2; exit 2; }
done
if [ -n "$peer_algs" ] && [ ! -f "$peer_dir/node_modules/oidc-provider/package.json" ]; then
  echo "bench: the peer (oidc-provider) is not installed: run scripts/setup.sh bench" >&2
  exit 1
fi
tmp=$(mktemp -d)
nport=18472
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp" "${pub-}"
}
trap cleanup EXIT
trap 'echo "bench: line $LINENO failed (exit $?)" >&2' ERR

field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
# jwt_alg TOKEN: the alg of a JWT's header (fails for anything but three dot-separated parts)
jwt_alg() {
  python3 -c 'import sys,json,base64; p=sys.argv[1].split("."); assert len(p) == 3; h=p[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["alg"])' "$1"
}
now_ms() { date +%s%3N; }
# ports_free [EXCEPT]: none of the bench's ports (but EXCEPT) answers: another bench on this
# machine would hold them, and its servers would answer for ours
ports_free() {
  local p
  for p in $(seq 18471 18482); do
    if [ "$p" != "${1-}" ] && (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "bench: 127.0.0.1:$p is in use (another make bench running?)" >&2
      return 1
    fi
  done
}
ports_free

# ---- nginx reference ------------------------------------------------------------------------
mkdir -p "$tmp/nginx/logs"
# what nginx's workers read (they may run as another user): a copy of the list page, which
# holds no secret
pub=$(mktemp -d)
chmod 755 "$pub"
cat >"$tmp/nginx/nginx.conf" <<CONF
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
    location /static/ { root $pub; } # list.json: a copy of the list page (below)
  }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

# A policy of ~50 rules; the benchmarked route matches the last one.
policy="$tmp/policy.txt"
for i in $(seq 49); do echo "GET /api/v1/resource$i/* bench.read$i"; done >"$policy"
echo "GET /api/v1/orders/* ManageSecurity" >>"$policy"

# ---- the three databases --------------------------------------------------------------------
# make_db NAME COUNT USABLE [SECRETS]: an admin token (CLI), then COUNT bulk tokens of SECRETS
# secrets each (default 1), USABLE of them with a known secret (Basic headers in NAME/auth.txt).
make_db() {
  local d="$tmp/$1"
  mkdir -p "$d"
  "$bin" --db "$d/keygate.db" --log-level warning token create --role accountadmin \
    --description "bench admin" --json >"$d/admin.json"
  python3 "$here/bench/fill.py" "$d/keygate.db" "$d" "$2" r-0000000001 "$d/auth.txt" "$3" "${4:-1}"
}
# wait_up PORT [PATH [SECONDS]]: until PATH (default /healthz) answers (at most SECONDS, 30)
wait_up() {
  local end=$(($(now_ms) + ${3:-30} * 1000))
  while [ "$(now_ms)" -lt "$end" ]; do
    curl -sf "http://127.0.0.1:$1${2:-/healthz}" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "bench: the server on port $1 did not start" >&2
  return 1
}
# serve NAME PORT [OPTION...]: starts keygate on NAME's database; sets $pid
serve() {
  local name=$1 port=$2
  shift 2
  "${server_bin:-$bin}" --db "$tmp/$name/keygate.db" --log-level warning serve --listen "127.0.0.1:$port" \
    --policy "$policy" "$@" >"$tmp/$name/out.txt" 2>&1 &
  pid=$!
  pids+=("$pid")
}
# access NAME PORT: an access token for NAME's admin
access() {
  local a=$tmp/$1/admin.json
  curl -sf -u "$(field clientId <"$a"):$(field clientSecret <"$a")" -d grant_type=client_credentials \
    "http://127.0.0.1:$2/oauth/v2/token" | field access_token
}
# bearers: a fresh access token for each server's admin; each round takes new ones (they live
# ten minutes, and a bench of more rounds outlived the first ones: its rows then got 401s)
bearers() {
  local alg
  at_small=$(access small 18471)
  at_uc=$(access small-uc 18479)
  at_mid=$(access mid 18473)
  at_big=$(access big 18474)
  [ -z "$compare" ] || at_cmp=$(access small-cmp 18477)
  for alg in $algs; do alg_at[$alg]=$(access "small-$alg" "${alg_port[$alg]}"); done
}
# basic1 NAME: NAME's admin's Basic header, in NAME/auth1.txt
basic1() {
  printf 'Basic %s\n' "$(printf '%s:%s' "$(field clientId <"$tmp/$1/admin.json")" \
    "$(field clientSecret <"$tmp/$1/admin.json")" | base64 -w0)" >"$tmp/$1/auth1.txt"
}
rss_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

echo "bench: loading databases (200, 100,000 and $scale_txt tokens)" >&2
make_db small 200 200
# the small database again, signing with ES256 and with RS256: the same tokens and hash key, a
# new signing key of the algorithm (so no rotation waits)
[ -z "$compare" ] || cp -r "$tmp/small" "$tmp/small-cmp"
cp -r "$tmp/small" "$tmp/small-uc" # usage controls on
for alg in $algs; do
  cp -r "$tmp/small" "$tmp/small-$alg"
  rm "$tmp/small-$alg/signing.key"
done
make_db small5 200 200 5
make_db mid 100000 0
t0=$(now_ms)
make_db big "$scale" 200
echo "bench: $scale_txt tokens loaded in $(($(now_ms) - t0)) ms" >&2

ports_free "$nport" # still, after the loading (minutes at ten million tokens)
off=(--no-usage-counts)
serve small 18471 "${off[@]}"
small_pid=$pid
serve small-uc 18479
serve mid 18473 "${off[@]}"
serve small5 18478 "${off[@]}"
for alg in $algs; do serve "small-$alg" "${alg_port[$alg]}" --signing-alg "$alg" "${off[@]}"; done
cmp_off=() # a COMPARE keygate older than usage counting has no such option
[ -z "$compare" ] || ! "$compare" --help 2>&1 | grep -q -- --no-usage-counts || cmp_off=("${off[@]}")
[ -z "$compare" ] || server_bin=$compare serve small-cmp 18477 "${cmp_off[@]}"
wait_up 18471
wait_up 18479
wait_up 18473
wait_up 18478
[ -z "$compare" ] || wait_up 18477
for alg in $algs; do wait_up "${alg_port[$alg]}"; done

# the peer: one server (a primary and its workers) for each algorithm, each with its own key
# and clients (their Basic headers in peer-ALG/auth.txt)
peer_pids=()
for alg in $peer_algs; do
  mkdir -p "$tmp/peer-$alg"
  node "$peer_dir/server.mjs" "$alg" "${peer_port[$alg]}" "$tmp/peer-$alg/auth.txt" \
    >"$tmp/peer-$alg/out.txt" 2>&1 &
  pids+=($!)
  peer_pids+=($!)
done
for alg in $peer_algs; do
  wait_up "${peer_port[$alg]}" /.well-known/openid-configuration ||
    { cat "$tmp/peer-$alg/out.txt" >&2; exit 1; }
  peer_at=$(curl -sf -H "Authorization: $(head -1 "$tmp/peer-$alg/auth.txt")" \
    -d grant_type=client_credentials "http://127.0.0.1:${peer_port[$alg]}/token" | field access_token)
  signed=$(jwt_alg "$peer_at") # a JWT, signed with its algorithm
  [ "$signed" = "$alg" ] || { echo "bench: the peer's $alg server signs with $signed" >&2; exit 1; }
done

# big: the first start (creates the first user: one argon2id hash), then six timed restarts,
# in turn: from the view the stop saved (keygate.db.view), and a full load (the file removed,
# as after a crash); each stop, which saves the view, timed too.  The last start stays up.
t0=$(now_ms)
serve big 18474 "${off[@]}"
wait_up 18474 /healthz 600
first_start=$(($(now_ms) - t0))
restarts=() full_loads=() stops=()
for i in 1 2 3 4 5 6; do
  t0=$(now_ms)
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  stops+=($(($(now_ms) - t0)))
  [ -e "$tmp/big/keygate.db.view" ] || { echo "bench: the stop saved no view" >&2; exit 1; }
  [ $((i % 2)) = 1 ] || rm -f "$tmp/big/keygate.db.view"
  t0=$(now_ms)
  serve big 18474 "${off[@]}"
  wait_up 18474 /healthz 600
  if [ $((i % 2)) = 1 ]; then
    restarts+=($(($(now_ms) - t0)))
    # read (the file is gone) and used (no warning that it was not)
    if [ -e "$tmp/big/keygate.db.view" ] || grep -q 'saved at the last stop was not read' "$tmp/big/out.txt"; then
      echo "bench: the start did not read the saved view" >&2; cat "$tmp/big/out.txt" >&2; exit 1
    fi
  else
    full_loads+=($(($(now_ms) - t0)))
  fi
done
big_pid=$pid
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
restart=$(median "${restarts[@]}")
restart_max=$(printf '%s\n' "${restarts[@]}" | sort -n | tail -1)
full_load=$(median "${full_loads[@]}")
stop_ms=$(median "${stops[@]}")
rss_loaded=$(rss_kib "$big_pid" VmRSS)
curl -sf "http://127.0.0.1:$nport/" >/dev/null

bearers
# usage controls on: the bench token (small's admin) gets a rate limit of 50,000,000 requests a
# minute and allowed ranges holding 127.0.0.1; its gate answers then carry the limit
uc_id=$(field clientId <"$tmp/small-uc/admin.json")
curl -sf -X PATCH -H "Authorization: Bearer $at_uc" -H 'Content-Type: application/json' \
  -d '{"rateLimit": {"requests": 50000000, "periodSeconds": 60}, "allowedCidrs": ["127.0.0.0/8"]}' \
  "http://127.0.0.1:18479/public/api/v1/apiToken/$uc_id" >/dev/null
uc_policy=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $at_uc" -H 'X-Original-Method: GET' \
  -H 'X-Original-URI: /api/v1/orders/42' http://127.0.0.1:18479/gate | tr -d '\r' |
  awk -F': ' 'tolower($1) == "ratelimit-policy" {print $2}')
[ "$uc_policy" = '"token";q=50000000;w=60' ] ||
  { echo "bench: the usage-controls server's gate answers RateLimit-Policy '$uc_policy'" >&2; exit 1; }
for alg in $algs; do # each signs with its algorithm
  signed=$(jwt_alg "${alg_at[$alg]}")
  [ "$signed" = "$alg" ] || { echo "bench: the $alg server signs with $signed" >&2; exit 1; }
done
basic1 small
basic1 big
# the list row's physical reference: nginx sending a file of the list page's bytes
mkdir -m 755 "$pub/static"
curl -sf -H "Authorization: Bearer $at_mid" "http://127.0.0.1:18473/public/api/v1/apiToken?pageSize=100" \
  -o "$pub/static/list.json"
chmod 644 "$pub/static/list.json"
list_bytes=$(wc -c <"$pub/static/list.json")
curl -sf "http://127.0.0.1:$nport/static/list.json" | cmp -s - "$pub/static/list.json" ||
  { echo "bench: nginx does not send the list page's copy" >&2; exit 1; }

run() { # name url [env...]   (env WRK_CONNS overrides the connection count)
  local name=$1 url=$2 c=$conns
  shift 2
  for e in "$@"; do case $e in WRK_CONNS=*) c=${e#WRK_CONNS=} ;; esac; done
  env "$@" wrk -t2 -c"$c" -d"${secs}s" --timeout 5s -s "$here/bench/check.lua" "$url" |
    awk -v n="$name" '/^RESULT/ {print n, $2, $3, $4, $5, $6}'
}
gate_env=(WRK_EXPECT=204 "WRK_HEADERS=X-Original-Method: GET|X-Original-URI: /api/v1/orders/42")
gate_off=(WRK_HEADER_HAS=X-Keygate-Client-Id WRK_HEADER_LACKS=RateLimit)
gate_on=("WRK_HEADER_HAS=X-Keygate-Client-Id,RateLimit")
token_env=(WRK_METHOD=POST WRK_BODY=grant_type=client_credentials 'WRK_BODY_HAS="access_token"')

# small_rows SUFFIX PORT BEARER [DB]: the rows of the small database (or DB, whose admin the
# BEARER is), against the keygate on PORT
small_rows() {
  local sfx=$1 port=$2 at=$3 db=${4:-small} base=http://127.0.0.1:$2
  run "issuance$sfx" "$base/oauth/v2/token" "${token_env[@]}" WRK_AUTH_FILE="$tmp/$db/auth.txt" >>"$results"
  run "gate$sfx" "$base/gate" WRK_BEARER="$at" "${gate_env[@]}" "${gate_off[@]}" >>"$results"
  [ -n "$sfx" ] || # next to the gate row it is compared with
    run gate-uc http://127.0.0.1:18479/gate WRK_BEARER="$at_uc" "${gate_env[@]}" "${gate_on[@]}" >>"$results"
  run "introspection$sfx" "$base/oauth/v2/introspect" WRK_METHOD=POST WRK_BODY="token=$at" \
    'WRK_BODY_HAS="active":true' WRK_AUTH_FILE="$tmp/$db/auth1.txt" >>"$results"
  run "api-get-token$sfx" "$base/public/api/v1/apiToken/$(field clientId <"$tmp/$db/admin.json")" \
    WRK_BEARER="$at" 'WRK_BODY_HAS="clientId"' >>"$results"
  run "healthz$sfx" "$base/healthz" 'WRK_BODY_HAS="ok"' >>"$results"
}
results="$tmp/results.txt"
: >"$results"
for r in $(seq "$rounds"); do
  echo "bench: round $r of $rounds" >&2
  bearers
  run nginx "http://127.0.0.1:$nport/" WRK_BODY_HAS=ok >>"$results"
  small_rows "" 18471 "$at_small"
  [ -z "$compare" ] || small_rows @cmp 18477 "$at_cmp"
  for alg in $algs; do
    run "issuance-$alg" "http://127.0.0.1:${alg_port[$alg]}/oauth/v2/token" "${token_env[@]}" \
      WRK_AUTH_FILE="$tmp/small-$alg/auth.txt" >>"$results"
    run "gate-$alg" "http://127.0.0.1:${alg_port[$alg]}/gate" WRK_BEARER="${alg_at[$alg]}" "${gate_env[@]}" \
      "${gate_off[@]}" >>"$results"
  done
  run issuance-5-secrets http://127.0.0.1:18478/oauth/v2/token "${token_env[@]}" \
    WRK_AUTH_FILE="$tmp/small5/auth.txt" >>"$results"
  run list-100k "http://127.0.0.1:18473/public/api/v1/apiToken?pageSize=100" \
    WRK_BEARER="$at_mid" 'WRK_BODY_HAS="result":[{' >>"$results"
  run nginx-list "http://127.0.0.1:$nport/static/list.json" 'WRK_BODY_HAS="result":[{' >>"$results"
  run list-100k-c8 "http://127.0.0.1:18473/public/api/v1/apiToken?pageSize=100" \
    WRK_CONNS=8 WRK_BEARER="$at_mid" 'WRK_BODY_HAS="result":[{' >>"$results"
  small_rows -big 18474 "$at_big" big
  # The peer last in a round, then a pause: node's work after a run (its garbage collection)
  # would otherwise take a share of the machine from the row after it.
  for alg in $peer_algs; do
    run "peer-issuance-$alg" "http://127.0.0.1:${peer_port[$alg]}/token" "${token_env[@]}" \
      WRK_AUTH_FILE="$tmp/peer-$alg/auth.txt" >>"$results"
    sleep 2
  done
done
rss_after=$(rss_kib "$big_pid" VmRSS)
rss_peak=$(rss_kib "$big_pid" VmHWM)
# Last access is still recorded under load: the small server's admin token was used above.
last=$(curl -sf -H "Authorization: Bearer $at_small" \
  "http://127.0.0.1:18471/public/api/v1/apiToken/$(field clientId <"$tmp/small/admin.json")" | field lastAccessOn)
[ "$last" != None ] || { echo "bench: last access was not recorded" >&2; exit 1; }
# The usage-controls server counted every gate answer wrk received (and those in flight at
# each run's end), all allowed: its counts reach the store within a flush (2 s).
uc_sent=$(awk '$1 == "gate-uc" {n += $2} END {print n + 0}' "$results")
for _ in $(seq 100); do
  uc_counted=$(curl -sf -H "Authorization: Bearer $at_uc" \
    "http://127.0.0.1:18479/public/api/v1/apiToken/$uc_id/usage" |
    python3 -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["gateAllowed"], t["refused"])')
  [ "${uc_counted% *}" -lt "$uc_sent" ] || break
  sleep 0.1
done
if ! [ "${uc_counted% *}" -ge "$uc_sent" ] || [ "${uc_counted#* }" != 0 ]; then
  echo "bench: usage counts (allowed, refused) $uc_counted for $uc_sent gate answers" >&2
  exit 1
fi
kill -0 "$small_pid" "$big_pid" "${peer_pids[@]}"
peer="" # what the peer ran as: version, node's, workers
[ -z "$peer_algs" ] || peer="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$peer_dir/node_modules/oidc-provider/package.json") $(node --version) ${PEER_WORKERS:-$(node -p 'require("os").availableParallelism()')}"

mkdir -p build/bench
python3 - "$results" "$conns" "$secs" "$rounds" "$first_start" "$restart" "$rss_loaded" \
  "$rss_after" "$rss_peak" "$restart_max" "$scale" "$peer" "$list_bytes" "$full_load" "$stop_ms" <<'PY' | tee build/bench/summary.md
import os, sys, collections
res, conns, secs, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
first_start, restart, rss_loaded, rss_after, rss_peak, restart_max, scale = (
    int(x) for x in sys.argv[5:12])
peer = sys.argv[12].split()  # oidc-provider's version, node's, its workers; none without a peer
list_bytes = int(sys.argv[13])  # the list page's body, which nginx-list sends as a file
full_load, stop_ms = int(sys.argv[14]), int(sys.argv[15])  # a start without the saved view; a stop
rows = collections.defaultdict(list)
for line in open(res):
    name, reqs, rps, p50, p99, bad = line.split()
    rows[name].append((float(rps), float(p50), float(p99), int(bad)))
def med(xs):
    xs = sorted(xs); return xs[len(xs) // 2]
m = {n: (med([r[0] for r in rs]), med([r[1] for r in rs]), med([r[2] for r in rs]),
         sum(r[3] for r in rs)) for n, rs in rows.items()}
ref = m["nginx"][0]
small = ["issuance", "gate", "introspection", "api-get-token", "healthz"]
order = ["nginx", "issuance", "issuance-5-secrets", "gate", "gate-uc", "issuance-ES256", "gate-ES256",
         "issuance-RS256", "gate-RS256", "introspection", "api-get-token", "healthz",
         "peer-issuance-EdDSA", "peer-issuance-ES256", "peer-issuance-RS256",
         "list-100k", "nginx-list", "list-100k-c8"] + [n + "-big" for n in small]
print(f"wrk -t2 -c{conns} -d{secs}s per run (list-100k-c8: 8 connections), {rounds} "
      "interleaved rounds, medians; every response checked (status and body or header); "
      "issuance and gate sign with EdDSA unless the row names ES256 or RS256; usage controls "
      "off (no usage counts, no rate limits or allowed ranges) but in the row \"gate, usage "
      "controls on\": usage counted, the token limited to 50,000,000 requests a minute (every "
      "answer checked for its RateLimit header) and allowed 127.0.0.0/8.")
if peer:
    print(f"The peer: oidc-provider {peer[0]} on Node {peer[1]}, in cluster mode with {peer[2]} "
          "workers (one a core: keygate too serves on every core), client credentials grant with "
          "HTTP Basic client authentication over 200 clients, JWT access tokens (a resource "
          "indicator), one server for each algorithm, its rows interleaved with keygate's.")
print()
label = {"gate": "gate, usage controls off", "gate-uc": "gate, usage controls on",
         "api-get-token": "GET /apiToken/{clientId}",
         "nginx-list": f"nginx, a file of the list page's {list_bytes:,} bytes"}
label.update({f"peer-issuance-{a}": f"peer (oidc-provider) issuance, {a}" for a in ("EdDSA", "ES256", "RS256")})
label.update({n + "-big": f"{label.get(n, n).split(',')[0]}, {scale:,} tokens" for n in small})
print("| run | req/s | p50 ms | p99 ms | × nginx | bad responses |")
print("|---|---:|---:|---:|---:|---:|")
for n in (n for n in order if n in m):
    rps, p50, p99, bad = m[n]
    print(f"| {label.get(n, n)} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {rps / ref:.2f} | {bad} |")
mib = lambda k: k / 1024
print(f"\n{scale:,} API tokens: start-up to serving {restart} ms after a stop (from the view "
      f"the stop saved; median of 3 restarts, slowest {restart_max} ms); {full_load} ms without "
      f"it, as after a crash (a full load; median of 3, in turn with those); a stop, saving the "
      f"view, {stop_ms} ms (median of 6); the first start, which also creates the first user "
      f"with an argon2id hash: {first_start} ms.  RSS {mib(rss_loaded):.0f} MiB loaded, "
      f"{mib(rss_after):.0f} MiB after the runs, peak {mib(rss_peak):.0f} MiB.\n")
cores = os.cpu_count() or 1
print("Issuance's machine time per token (cores × 1 s ÷ req/s, client included): " + ", ".join(
    f"{a} {cores * 1e6 / m[n][0]:.0f} µs" for a, n in
    (("EdDSA", "issuance"), ("ES256", "issuance-ES256"), ("RS256", "issuance-RS256")) if n in m) + ".\n")
vs_peer = [(a, "issuance" if a == "EdDSA" else "issuance-" + a, "peer-issuance-" + a)
           for a in ("EdDSA", "ES256", "RS256")]
vs_peer = [v for v in vs_peer if v[1] in m and v[2] in m]
if vs_peer:
    print("Issuance, keygate beside the peer (oidc-provider), each signing with the algorithm:\n")
    print("| algorithm | keygate req/s | peer req/s | keygate ÷ peer |")
    print("|---|---:|---:|---:|")
    for a, k, p in vs_peer:
        print(f"| {a} | {m[k][0]:,.0f} | {m[p][0]:,.0f} | {m[k][0] / m[p][0]:.1f}× |")
    print()
cmp_rows = [n for n in small if n + "@cmp" in m]
if cmp_rows:
    print("This keygate beside COMPARE's (the same database, rows interleaved in each round):\n")
    print("| run | × nginx | COMPARE × nginx | this ÷ COMPARE | p99 ms | COMPARE p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in cmp_rows:
        a, b = m[n], m[n + "@cmp"]
        print(f"| {n} | {a[0] / ref:.2f} | {b[0] / ref:.2f} | {a[0] / b[0]:.2f} | {a[2]:.2f} | {b[2]:.2f} |")
    print()
r = lambda n: m[n][0] / ref
nginx_x = lambda what, n, x: (f"{what} ≥ {x}× nginx", f"{r(n):.2f}×", r(n) >= x)
# issue 20's limits at a million tokens, and at ten million (SCALE above a million)
startup_ms, rss_mib = (2000, 256) if scale <= 1000000 else (6000, 1.3 * 1024)
checks = [
    nginx_x("healthz", "healthz", 0.95),
    nginx_x("gate", "gate", 0.85),
    (f"gate p99 ≤ 3 ms at {conns} connections", f"{m['gate'][2]:.2f} ms", m["gate"][2] <= 3),
    nginx_x("introspection", "introspection", 0.65),
    nginx_x("GET /apiToken/{clientId}", "api-get-token", 0.6),
    nginx_x("issuance with EdDSA", "issuance", 0.35),
    (f"first token-list page at 100,000 tokens: p99 ≤ 5 ms at {conns} connections",
     f"{m['list-100k'][2]:.2f} ms (nginx sending its bytes as a file: {m['nginx-list'][2]:.2f} ms)",
     m["list-100k"][2] <= 5),
] + [
    ("EdDSA: keygate issuance ≥ 12× the peer's", f"{m[k][0] / m[p][0]:.1f}×", m[k][0] >= 12 * m[p][0])
    for a, k, p in vs_peer if a == "EdDSA"
] + [
    ("issuance with 5 secrets a token within 10 % of one",
     f"{m['issuance-5-secrets'][0] / m['issuance'][0]:.2f} of one",
     m["issuance-5-secrets"][0] >= 0.9 * m["issuance"][0]),
    ("gate with usage controls on: ≥ 0.85 of off, p99 ≤ off's + 1 ms",
     f"{m['gate-uc'][0] / m['gate'][0]:.2f} of off, p99 {m['gate-uc'][2] - m['gate'][2]:+.2f} ms",
     m["gate-uc"][0] >= 0.85 * m["gate"][0] and m["gate-uc"][2] - m["gate"][2] <= 1),
] + [
    (f"gate with {a} within 10 % of EdDSA (verified once, then cached)",
     f"{m['gate-' + a][0] / m['gate'][0]:.2f} of EdDSA", m["gate-" + a][0] >= 0.9 * m["gate"][0])
    for a in ("ES256", "RS256") if "gate-" + a in m
] + [
    (f"{scale:,} tokens: {label.get(n, n).split(',')[0]} ≥ 0.9 of 200 tokens'",
     f"{m[n + '-big'][0] / m[n][0]:.2f} of small", m[n + "-big"][0] >= 0.9 * m[n][0])
    for n in small
] + [
    (f"{scale:,} tokens: start-up after a stop ≤ {startup_ms / 1000:g} s",
     f"{restart} ms (a full load: {full_load} ms)", restart <= startup_ms),
    (f"{scale:,} tokens: RSS ≤ {rss_mib / 1024:g} GiB (peak)" if rss_mib >= 1024 else
     f"{scale:,} tokens: RSS ≤ {rss_mib} MiB (peak)", f"{mib(rss_peak):.0f} MiB", mib(rss_peak) <= rss_mib),
    ("no bad responses", str(sum(v[3] for v in m.values())), all(v[3] == 0 for v in m.values())),
]
print("| target | measured | holds |")
print("|---|---:|:---:|")
for name, val, ok in checks:
    print(f"| {name} | {val} | {'yes' if ok else 'no'} |")
print(f"\n{sum(ok for _, _, ok in checks)} of {len(checks)} targets hold.")
PY
