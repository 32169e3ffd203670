#!/usr/bin/env bash
# Runs every Go fuzz target in the repository (func FuzzXxx in a _test.go file), one after the
# other, each for FUZZTIME (default 5m). New failing inputs land in the package's testdata/fuzz/
# as Go writes them: commit them with the fix, they then run in every `go test`.
#
#   scripts/fuzz.sh [FUZZTIME]
#
# Each input that finds new coverage is minimized before it joins the corpus, by at most
# FUZZMINIMIZE calls of the target (default 5000x) instead of Go's default of 60 s. Go
# counts no execution until a minimization ends, so the progress line reads "0/sec" the
# while (the executions come in a burst after it), and no new input is tried: an input
# of a few KiB whose new coverage is a count (a loop run more often) cannot be cut
# without losing it, and the minimizer (one call a byte, then one a pair of offsets)
# runs to the limit. FuzzParser, -parallel 1, 3 min: with 60 s, 38-49 of its 61 progress
# lines were at 0/sec, 84-103 new corpus entries; with 10 s, worse (a minimization that
# times out is thrown away and its worker killed); with 5000x, 0-1 at 0/sec and 371-391
# entries, coverage bits 3379-3688 against 2214-2240. A limit of calls ends the
# minimization gracefully, keeping what it cut. Failing inputs are written whether or
# not their minimization ended.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fuzztime=${1:-${FUZZTIME:-5m}}
minimize=${FUZZMINIMIZE:-5000x}
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
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" || failed+=("$pkg $name")
done
if ((${#failed[@]})); then
  printf 'fuzz: FAILED %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz: ${#found[@]} targets ran for $fuzztime each without a failure"
