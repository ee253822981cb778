#!/usr/bin/env bash
# Runs a test program against a throw-away PostgreSQL cluster: starts one on a free loopback
# port, exports its admin URI as KEYGATE_TEST_PG, runs "$@", and stops the cluster on any exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '"$here/pg.sh" stop "$tmp/pg"; rm -rf "$tmp"' EXIT
port=
for p in $(shuf -i 20000-40000 -n 20); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "pgtest: no free port" >&2; exit 1; }
KEYGATE_TEST_PG=$("$here/pg.sh" start "$tmp/pg" "$port")
export KEYGATE_TEST_PG
"$@"
