#!/usr/bin/env bash
# Runs every Go fuzz target in the repository (func FuzzXxx in a _test.go file), one after the
# other, each for FUZZTIME (default 5m). New failing inputs land in the package's testdata/fuzz/
# as Go writes them: commit them with the fix, they then run in every `go test`.
#
#   scripts/fuzz.sh [FUZZTIME]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fuzztime=${1:-${FUZZTIME:-5m}}
cd "$root"
mapfile -t found < <(grep -rHoE --include='*_test.go' --exclude-dir=.cache --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
if ((${#found[@]} == 0)); then
  echo "fuzz: no Fuzz targets found"
  exit 0
fi
failed=()
for f in "${found[@]}"; do
  file=${f%%:*}
  name=${f#*:func }
  name=${name%(}
  pkg=./$(dirname "${file#./}")
  echo "=== fuzz $pkg $name for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" || failed+=("$pkg $name")
done
if ((${#failed[@]})); then
  printf 'fuzz: FAILED %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz: ${#found[@]} targets ran for $fuzztime each without a failure"
