#!/usr/bin/env bash
# demo.sh — `make demo`: one harmony turn with a small gpt-oss-architecture model.
#
# The model is a toy gpt-oss (4 layers, d 256, 8 MXFP4 experts top 4, its own 8192-token
# byte-level BPE vocabulary) that the project trained on WordNet glosses turned into
# question/answer conversations and on the King James Bible (docs/demo-model.md). Its transformers
# checkpoint is committed in demo/gpt-oss-demo/ (checksums in demo/SHA256SUMS); this script
# converts it with `gptc convert --outtype bf16` into $BUILD/demo/gpt-oss-demo.gguf, the way a
# user's checkpoint would be, whenever the GGUF is missing or older than the checkpoint or gptc.
# The answer goes to stdout, the reasoning (analysis channel) dimmed to stderr, then the timings.
# Uses the GPU when one is present, else the CPU.
#
# Without the checkpoint (a partial checkout) it falls back to a random-weight model made by
# test/tools/gen-model.c with the real o200k tokenizer: noise, but every stage is the real one.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
GPTC=$BUILD/gptc
CKPT=demo/gpt-oss-demo
MODEL=$BUILD/demo/gpt-oss-demo.gguf
PROMPT=${PROMPT:-Who are you?}

[ -x "$GPTC" ] || { echo "demo: $GPTC is missing; run 'make' first" >&2; exit 1; }
# With a GPU and the network: the real gpt-oss-20b, if the user says yes (scripts/demo-hub.sh).
scripts/demo-hub.sh "$GPTC" "$PROMPT" && exit 0
backend=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  backend=auto
fi

if [ -f "$CKPT/config.json" ]; then
  if ! (cd demo && sha256sum --quiet -c SHA256SUMS) >&2; then
    echo "demo: $CKPT does not match demo/SHA256SUMS" >&2
    exit 1
  fi
  stale=0
  [ -f "$MODEL" ] || stale=1
  for f in "$GPTC" "$CKPT"/*; do
    [ "$stale" = 1 ] || [ "$MODEL" -nt "$f" ] || stale=1
  done
  if [ "$stale" = 1 ]; then
    mkdir -p "$(dirname "$MODEL")"
    echo "demo: gptc convert $CKPT --outtype bf16 -o $MODEL" >&2
    "$GPTC" convert "$CKPT" --outtype bf16 -q -o "$MODEL.tmp"
    mv "$MODEL.tmp" "$MODEL"
  fi
  cat >&2 <<'EOF'
------------------------------------------------------------------------------------------
 gptc demo: a TOY model (12M parameters, gpt-oss architecture, trained for 3 minutes by
 this project on WordNet definitions and the King James Bible). It has learned the harmony
 format and the shape of a dictionary answer, but most definitions it gives are WRONG; do
 not expect facts or reasoning. Reasoning (analysis) is dimmed on stderr, the answer is on
 stdout. Try: PROMPT="What does serendipity mean?" make demo
------------------------------------------------------------------------------------------
EOF
  echo "prompt: $PROMPT" >&2
  echo >&2
  "$GPTC" -m "$MODEL" --backend "$backend" -p "$PROMPT" -n 160 --temp 0 --show-reasoning \
    --timings
  [ -t 1 ] || echo # on a terminal gptc itself ends the answer's line
  exit 0
fi

# ---- fallback: random weights ----------------------------------------------------------------
GEN=$BUILD/tools/gen-model
TOK=.cache/gpt-oss/tokenizer.json
RMODEL=.cache/demo/tiny-gpt-oss.gguf
[ -x "$GEN" ] || { echo "demo: $GEN is missing; run 'make' first" >&2; exit 1; }
if [ ! -f "$TOK" ]; then
  scripts/fetch-gptoss-tokenizer.sh
fi
if [ ! -f "$RMODEL" ]; then
  mkdir -p "$(dirname "$RMODEL")"
  echo "demo: generating $RMODEL (random weights, real o200k tokenizer) ..." >&2
  "$GEN" --preset tiny-gpt-oss --tokenizer "$TOK" --seed 1 --out "$RMODEL.tmp"
  mv "$RMODEL.tmp" "$RMODEL"
fi
cat >&2 <<'EOF'
------------------------------------------------------------------------------------------
 gptc demo. NOTE: demo/gpt-oss-demo/ is not here, so this model's weights are RANDOM and
 the text below is noise. Everything else is real: GGUF loading, the o200k_harmony
 tokenizer, the harmony chat prompt, the forward pass (MXFP4 experts), sampling and
 UTF-8-safe streaming.
------------------------------------------------------------------------------------------
EOF
prompt="Explain in one paragraph why the sky is blue."
echo "prompt: $prompt" >&2
echo >&2
"$GPTC" -m "$RMODEL" --backend "$backend" -p "$prompt" -n 64 -s 42 --timings
echo
