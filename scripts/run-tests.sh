#!/usr/bin/env bash
# Runs Check test binaries, prints each one's output and one closing line over all of them:
# "Tests: N passed, N failed". Exits non-zero when any check failed or a binary crashed.
# Test binaries find the program and tools through GPTC_BUILD (build dir of the binaries).
# Every failed check and every binary that crashed is repeated after the closing line, so the
# tail of a CI log names them.
set -u
total=0; failed=0; bad=0; failures=""
for t in "$@"; do
  [ -x "$t" ] || { echo "run-tests: missing $t" >&2; bad=1; failures+="  $t: missing"$'\n'; continue; }
  build=${t%%/test/*}
  out=$(GPTC_BUILD="$build" "$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+' | tail -n1)
  if [ -z "$line" ]; then
    echo "run-tests: $t printed no Check summary (exit $rc)" >&2; bad=1
    failures+="  $t: no Check summary (exit $rc)"$'\n'; continue
  fi
  n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
  e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
  total=$((total + n)); failed=$((failed + f + e))
  [ "$rc" -eq 0 ] || { bad=1; failures+="  $t: exit $rc"$'\n'; }
  failures+=$(printf '%s\n' "$out" | grep -E ':[FE]:' | cut -c1-300 | sed "s|^|  $t: |")
  [ -n "$failures" ] && [ "${failures: -1}" != $'\n' ] && failures+=$'\n'
done
echo "Tests: $((total - failed)) passed, $failed failed"
[ -z "$failures" ] || printf 'Failed:\n%s' "$failures"
[ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
