#!/usr/bin/env bash
# Builds the libFuzzer drivers of tests/fuzz/ (clang, ASan + UBSan) and runs them.
# Usage: scripts/fuzz.sh build                     build only
#        scripts/fuzz.sh smoke [SECONDS]           every driver for SECONDS (default 15) each;
#                                                  fails on any crash, leak, timeout or OOM
#        scripts/fuzz.sh long SECONDS [NAME...]    longer runs, one driver at a time
#                                                  (FUZZ_RUNS=N also stops each after N inputs)
#        scripts/fuzz.sh run NAME [ARGS...]        one driver with libFuzzer ARGS (say, a
#                                                  crash file to replay)
# Drivers are tests/fuzz/fuzz_NAME.c; seeds in tests/fuzz/corpus/NAME/ (read only: what a run
# finds goes to BUILD/corpus/NAME/), crash files to BUILD/artifacts/.  BUILD is build/fuzz
# unless FUZZ_BUILD says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-smoke}
BUILD=${FUZZ_BUILD:-build/fuzz}
CC=${FUZZ_CC:-clang}
PKGS="libmicrohttpd jansson libsodium libcrypto sqlite3 libpq libcurl"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
OPT="-O1 -g -fno-omit-frame-pointer $SAN"
# The Makefile's WARN, for the drivers and their helpers (src/ is built by the Makefile).
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
      -Wcast-qual -Wsign-compare -fno-common -Wformat=2 -Wvla"
[ -n "${CI:-}" ] && WARN="$WARN -Werror"
RUN_FLAGS=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -max_len=8192
           -print_final_stats=1)
names() { for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; echo "${n%.c}"; done; }

# 1 when target is missing or older than any of the other files.
stale() {
  local t=$1; shift
  [ -e "$t" ] || return 0
  for d in "$@"; do [ "$d" -nt "$t" ] && return 0; done
  return 1
}

build() {
  command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (scripts/setup.sh test)" >&2; exit 1; }
  # keygate's modules, instrumented, through the Makefile's own rules and flags; every one
  # but main.c and the HTTP adapters, which stub_http.c replaces.
  local objs=() s
  for s in src/*/*.c; do
    case $s in src/cmd/main.c|src/http/http_mhd.c|src/http/http_ev.c) continue ;; esac
    s=${s#src/}; objs+=("$BUILD/obj/${s%.c}.o")
  done
  objs+=("$BUILD/obj/assets_data.o")
  make -s --no-print-directory BUILD="$BUILD" CC="$CC" OPT="$OPT -fsanitize=fuzzer-no-link" \
    "${objs[@]}"
  local lib=$BUILD/libkeygate.a
  if stale "$lib" "${objs[@]}"; then rm -f "$lib"; ar rcs "$lib" "${objs[@]}"; fi

  local cflags
  # shellcheck disable=SC2086
  cflags="$OPT -std=c11 -D_GNU_SOURCE -pthread $(echo $WARN) $(for d in src/*/; do printf -- '-I%s ' "${d%/}"; done) -Itests/fuzz $(pkg-config --cflags $PKGS)"
  local helpers=() h o
  mkdir -p "$BUILD/fuzzobj"
  for h in tests/fuzz/*.c; do
    case ${h##*/} in fuzz_*) continue ;; esac
    o=$BUILD/fuzzobj/$(basename "${h%.c}").o
    # shellcheck disable=SC2086
    if stale "$o" "$h" tests/fuzz/*.h src/*/*.h; then $CC $cflags -fsanitize=fuzzer-no-link -c -o "$o" "$h"; fi
    helpers+=("$o")
  done
  local n bin
  for n in $(names); do
    bin=$BUILD/fuzz_$n
    # shellcheck disable=SC2086
    if stale "$bin" "tests/fuzz/fuzz_$n.c" "$lib" "${helpers[@]}" tests/fuzz/*.h src/*/*.h; then
      $CC $cflags -fsanitize=fuzzer -o "$bin" "tests/fuzz/fuzz_$n.c" "${helpers[@]}" "$lib" \
        $(pkg-config --libs $PKGS) -pthread
    fi
  done
}

# run NAME SECONDS LOG [extra libFuzzer flags]: fuzzes from the seeds; prints executions.
fuzz_one() {
  local n=$1 secs=$2 log=$3; shift 3
  local dict=() work=$BUILD/corpus/$n
  mkdir -p "$work" "$BUILD/artifacts"
  [ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
  local rc=0
  "$BUILD/fuzz_$n" "${RUN_FLAGS[@]}" "${dict[@]}" -max_total_time="$secs" \
    -artifact_prefix="$BUILD/artifacts/$n-" "$@" "$work" "tests/fuzz/corpus/$n" >"$log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "${execs:-0}"
  return $rc
}

case "$what" in
  build)
    build ;;
  smoke|long)
    if [ "$what" = smoke ]; then secs=${2:-15}; shift $(($# < 2 ? $# : 2)); else
      secs=${2:?usage: $0 long SECONDS [NAME...]}; shift 2; fi
    build
    list=("$@"); [ ${#list[@]} -eq 0 ] && mapfile -t list < <(names)
    extra=(); [ "$what" = long ] && [ -n "${FUZZ_RUNS:-}" ] && extra=(-runs="$FUZZ_RUNS")
    mkdir -p "$BUILD/logs"
    summary=(); failed=0; t0=$SECONDS
    for n in "${list[@]}"; do
      [ -x "$BUILD/fuzz_$n" ] || { echo "fuzz: no driver $n" >&2; exit 2; }
      log=$BUILD/logs/$n.$what.log; t1=$SECONDS
      if execs=$(fuzz_one "$n" "$secs" "$log" "${extra[@]}"); then
        summary+=("$n $execs")
        if [ "$what" = long ]; then
          echo "fuzz: $n: $execs executions in $((SECONDS - t1)) s, 0 crashes" | tee -a "$BUILD/long.txt"
        fi
      else
        failed=$((failed + 1)); summary+=("$n FAILED")
        echo "fuzz: $n FAILED after $execs executions (log: $log); the end of it:" >&2
        tail -n 40 "$log" >&2
      fi
    done
    line=""; for e in "${summary[@]}"; do line+="${line:+, }$e"; done
    echo "fuzz $what: executions: $line; $failed failed (${secs} s each, $((SECONDS - t0)) s in all)"
    [ "$failed" -eq 0 ] ;;
  run)
    n=${2:?usage: $0 run NAME [ARGS...]}; shift 2
    build
    exec "$BUILD/fuzz_$n" "${RUN_FLAGS[@]}" "$@" ;;
  *) echo "usage: $0 build|smoke [SECONDS]|long SECONDS [NAME...]|run NAME [ARGS...]" >&2; exit 2 ;;
esac
