#!/usr/bin/env bash
# Runs Check test binaries, prints each one's output and one closing line over all of them:
# "Tests: N passed, N failed". Exits non-zero when any check failed or a binary crashed.
# Test binaries find the program and tools through GPTC_BUILD (build dir of the binaries).
set -u
total=0; failed=0; bad=0
for t in "$@"; do
  [ -x "$t" ] || { echo "run-tests: missing $t" >&2; bad=1; continue; }
  build=${t%%/test/*}
  out=$(GPTC_BUILD="$build" "$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+' | tail -n1)
  if [ -z "$line" ]; then
    echo "run-tests: $t printed no Check summary (exit $rc)" >&2; bad=1; continue
  fi
  n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
  e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
  total=$((total + n)); failed=$((failed + f + e))
  [ "$rc" -eq 0 ] || bad=1
done
echo "Tests: $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
