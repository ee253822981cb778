#!/usr/bin/env bash
# make test: every C file matches .clang-format (`make format` rewrites them so).
# Usage: scripts/check-format.sh   (exit 1 and the files that differ)
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'tools/*.[ch]' 2>/dev/null ||
        find src tests tools -name '*.[ch]')
bad=()
for f in $files; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  printf 'format: %s differs from .clang-format (make format)\n' "${bad[@]}" >&2
  exit 1
fi
echo "format: $(echo "$files" | wc -w) C files match .clang-format"
