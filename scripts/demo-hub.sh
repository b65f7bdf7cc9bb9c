#!/usr/bin/env bash
# demo-hub.sh — the real-model half of `make demo` (called by scripts/demo.sh): on a machine with
# an NVIDIA GPU and a way to the Hugging Face hub, offers to download the real gpt-oss-20b
# (ggml-org/gpt-oss-20b-GGUF, MXFP4, about 12.1 GB) into the Hugging Face cache and runs the demo
# prompt with it. It asks first, at a terminal; GPTC_DEMO_REAL=1 says yes without asking,
# GPTC_DEMO_REAL=0 never offers. When the model is already cached it just runs it.
# Exit status: 0 the real model ran; 1 not offered, declined or failed (demo.sh then runs the
# small built-in model).
# Usage: scripts/demo-hub.sh PATH/TO/gptc "PROMPT"
set -uo pipefail
GPTC=$1
PROMPT=$2
REPO=gpt-oss-20b # short name of ggml-org/gpt-oss-20b-GGUF
SIZE="about 12.1 GB"

[ "${GPTC_DEMO_REAL:-}" = 0 ] && exit 1
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || exit 1

run() {
  echo "demo: gpt-oss-20b on the GPU (real weights)" >&2
  echo "prompt: $PROMPT" >&2
  echo >&2
  "$GPTC" -hf "$REPO" --backend cuda -p "$PROMPT" -n 512 --timings && echo && exit 0
  echo "demo: the real model did not run; the small built-in model follows" >&2
  exit 1
}

# already in the cache: no question, no network
HF_HUB_OFFLINE=1 "$GPTC" inspect -hf "$REPO" >/dev/null 2>&1 && run

# a way to the hub?
endpoint=${HF_ENDPOINT:-https://huggingface.co}
if command -v curl >/dev/null 2>&1; then
  curl -sfI --max-time 5 "$endpoint/api/models/ggml-org/gpt-oss-20b-GGUF" >/dev/null 2>&1 || exit 1
else
  host=${endpoint#*://}
  host=${host%%/*}
  timeout 5 bash -c "exec 3<>/dev/tcp/${host%%:*}/443" 2>/dev/null || exit 1
fi

cache=${HF_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/hub}
if [ "${GPTC_DEMO_REAL:-}" != 1 ]; then
  [ -t 0 ] && [ -t 2 ] || exit 1
  mkdir -p "$cache" 2>/dev/null
  free=$(df -h --output=avail "$cache" 2>/dev/null | tail -n1 | tr -d ' ')
  printf 'demo: this machine has a GPU and reaches the Hugging Face hub.\n' >&2
  printf '      Download the real gpt-oss-20b (ggml-org/gpt-oss-20b-GGUF, %s) into\n' "$SIZE" >&2
  printf '      %s (%s free) and run the demo with it? [y/N] ' "$cache" "${free:-?}" >&2
  read -r answer || answer=
  case $answer in y | Y | yes | YES | Yes) ;; *) exit 1 ;; esac
fi
"$GPTC" pull "$REPO" >/dev/null || exit 1
run
