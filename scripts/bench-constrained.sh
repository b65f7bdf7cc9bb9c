#!/usr/bin/env bash
# bench-constrained.sh — decode speed with and without a JSON Schema constraint (nested objects,
# arrays, enums: test/data/schemas/customers.json), same prompt, seeds and settings.
#
#   scripts/bench-constrained.sh MODEL.gguf [N_PREDICT] [RUNS] [extra gptc flags...]
#
# Each run is one-shot generation with --json; the table gives, per mode, the generated tokens,
# the forward-pass rate (gen t/s), the whole decode loop's rate (forward + sampling + constraint
# mask: loop t/s) and the mask cost per token. The constrained answer ends when the JSON is
# complete, so its token count can be lower; the rates are per token.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/bench-constrained.sh MODEL.gguf [N_PREDICT] [RUNS] [flags...]}
n=${2:-512}
runs=${3:-3}
shift $(($# < 3 ? $# : 3))
gptc=./gptc
[ -x "$gptc" ] || gptc=build/gptc
schema=test/data/schemas/customers.json
prompt="List five fictional customers of an online shop as JSON: name, status, age, score, tags, address and their recent orders."
printf '| mode | run | tokens | finish | gen t/s | loop t/s | mask us/token |\n|---|---|---|---|---|---|---|\n'
for mode in free schema; do
  for r in $(seq 1 "$runs"); do
    extra=()
    [ "$mode" = schema ] && extra=(--json-schema-file "$schema")
    "$gptc" -m "$model" -p "$prompt" -n "$n" -s "$r" --json --reasoning-effort low -q \
      "${extra[@]}" "$@" |
      python3 -c '
import json, sys
mode, run = sys.argv[1], sys.argv[2]
j = json.load(sys.stdin)
t = j["timings"]
n = max(t["gen_tokens"], 1)
loop = t["gen_ms"] + t["sample_ms"] + t.get("constraint_ms", 0)
print("| %s | %s | %d | %s | %.1f | %.1f | %.0f |" % (mode, run, t["gen_tokens"], j["finish_reason"],
      t["gen_tps"], n * 1000.0 / loop if loop > 0 else 0, t.get("constraint_ms", 0) * 1000.0 / n))
' "$mode" "$r"
  done
done
