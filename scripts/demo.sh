#!/usr/bin/env bash
# demo.sh — `make demo`: streams a completion from a small gpt-oss-architecture model.
#
# The model is made once by the generator tool (test/tools/gen-model.c) into .cache/demo/:
# 4 layers, d 256, 8 experts (top 4) in MXFP4, Q8_0 elsewhere, and the REAL o200k_harmony
# tokenizer. Its weights are RANDOM, so the text is noise -- but every stage is the real one:
# GGUF loading, tokenizer, harmony prompt, forward pass, sampling, streaming UTF-8 decode.
# Uses the GPU when one is present, else the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
GPTC=$BUILD/gptc
GEN=$BUILD/tools/gen-model
TOK=.cache/gpt-oss/tokenizer.json
MODEL=.cache/demo/tiny-gpt-oss.gguf

for f in "$GPTC" "$GEN"; do
  [ -x "$f" ] || { echo "demo: $f is missing; run 'make' first" >&2; exit 1; }
done
if [ ! -f "$TOK" ]; then
  scripts/fetch-gptoss-tokenizer.sh
fi
if [ ! -f "$MODEL" ]; then
  mkdir -p "$(dirname "$MODEL")"
  echo "demo: generating $MODEL (random weights, real o200k tokenizer) ..." >&2
  "$GEN" --preset tiny-gpt-oss --tokenizer "$TOK" --seed 1 --out "$MODEL.tmp"
  mv "$MODEL.tmp" "$MODEL"
fi

backend=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  backend=auto
fi

cat >&2 <<'EOF'
------------------------------------------------------------------------------------------
 gptc demo. NOTE: this model's weights are RANDOM, so the text below is noise. Everything
 else is real: GGUF loading, the o200k_harmony tokenizer, the harmony chat prompt, the
 forward pass (MXFP4 experts), sampling and UTF-8-safe streaming. With random weights the
 model never writes a proper channel header, so gptc shows its text as the answer.
------------------------------------------------------------------------------------------
EOF
prompt="Explain in one paragraph why the sky is blue."
echo "prompt: $prompt" >&2
echo >&2
"$GPTC" -m "$MODEL" --backend "$backend" -p "$prompt" -n 64 -s 42 --timings
echo
