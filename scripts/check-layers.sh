#!/usr/bin/env bash
# make test: each source file includes only headers of its own layer and the layers below.
# The layers are src/'s folders, bottom up: base store domain http cmd.  An include of a
# header that is in no layer (a system or library header) is not checked.
# Usage: scripts/check-layers.sh   (exit 1 and one line per upward include)
set -euo pipefail
cd "$(dirname "$0")/.."
layers=(base store domain http cmd)
declare -A rank where
for i in "${!layers[@]}"; do
  rank[${layers[$i]}]=$i
  for h in src/"${layers[$i]}"/*.h; do
    [ -e "$h" ] || continue
    name=$(basename "$h")
    [ -z "${where[$name]-}" ] || { echo "layers: $name is in ${where[$name]} and ${layers[$i]}" >&2; exit 1; }
    where[$name]=${layers[$i]}
  done
done
bad=0 files=0
for layer in "${layers[@]}"; do
  for f in src/"$layer"/*.[ch]; do
    [ -e "$f" ] || continue
    files=$((files + 1))
    while IFS=: read -r line inc; do
      to=${where[$inc]-}
      [ -n "$to" ] || continue
      if ((rank[$to] > rank[$layer])); then
        echo "$f:$line: includes $inc from $to/, a layer above $layer/" >&2
        bad=1
      fi
    done < <(awk '/^[ \t]*#[ \t]*include[ \t]*"/ { match($0, /"[^"]*"/); print FNR ":" substr($0, RSTART + 1, RLENGTH - 2) }' "$f")
  done
done
# no source file outside the layers
stray=$(find src -maxdepth 1 -type f -name '*.[ch]' | head -5)
[ -z "$stray" ] || { echo "layers: files in src/ outside any layer: $stray" >&2; bad=1; }
((bad == 0)) && echo "layers: $files files, every include at its own layer or below (${layers[*]})"
exit "$bad"
