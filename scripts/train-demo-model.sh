#!/usr/bin/env bash
# train-demo-model.sh — trains the demo model (`make demo`) on the GPU machine, reproducibly.
#
#   1. here (Debian, network):  apt-get install wordnet-base bible-kjv
#                               python3 scripts/demo_data.py        # -> .dev/demo-data/ (~7 MB)
#   2. GPU machine (torch, transformers, tokenizers; no network), about 4 minutes on one H100:
#        OUT=/some/dir bash scripts/train-demo-model.sh [train_demo_model.py options]
#      with .dev/demo-data carried along. Writes to $OUT: demo-ckpt.tar.gz.partNN (the
#      transformers checkpoint, gpt-oss layout with MXFP4 experts), golden.json (transformers'
#      logits on it), samples.txt, stats.json and log.txt.
#   3. here:  rm -rf demo/gpt-oss-demo && cat $OUT/demo-ckpt.tar.gz.part* | tar xz -C demo
#             (cd demo && sha256sum gpt-oss-demo/* > SHA256SUMS)
#             python3 scripts/demo_golden.py $OUT/golden.json demo/gpt-oss-demo
#             (all steps: docs/demo-model.md; make demo converts the checkpoint to GGUF)
# Data: WordNet 3.0 (Princeton licence) and the King James Bible (public domain); see
# docs/demo-model.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/demo-train-out}
DATA=${DATA:-.dev/demo-data}
mkdir -p "$OUT"

run() {
    echo "train-demo-model: $(date -u +%FT%TZ) on $(hostname), $(nproc) cores"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    if [ ! -f "$DATA/wordnet.tsv.gz" ]; then
        if [ -f /usr/share/wordnet/data.noun ] && command -v bible >/dev/null; then
            python3 scripts/demo_data.py --out "$DATA" || return 1
        else
            echo "train-demo-model: error: $DATA is missing; run scripts/demo_data.py where the" \
                "Debian packages wordnet-base and bible-kjv are installed and carry $DATA here" >&2
            return 1
        fi
    fi
    cat "$DATA/SOURCES.txt"
    PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true python3 scripts/train_demo_model.py \
        --data "$DATA" --out "$OUT" "$@"
}
# the log goes to $OUT/log.txt as well; the pipeline waits for tee
run "$@" 2>&1 | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
