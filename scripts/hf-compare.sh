#!/usr/bin/env bash
# hf-compare.sh — the proof that gptc's CPU engine computes what Hugging Face transformers does.
# Runs on the GPU machine (torch + transformers there; everything on its CPUs, float64 reference)
# in ONE call, e.g. with the run tool:  carry: [".dev/debs", ".cache/gpt-oss"]
#     command: bash scripts/hf-compare.sh
# For every model of test/data/golden/models.txt: gen-model writes it, dump-logits runs gptc's CPU
# engine (public API) on seeded random ids (and again with --yarn-rounded for gpt-oss), then
# scripts/hf_reference.py runs HF transformers and an independent numpy forward in float64 and
# compares: max |diff| / max|logit| <= 1e-3 and argmax equal at every position. Golden records
# go to $OUT/golden.tar.gz (unpack into test/data/golden/), the log to $OUT/log.txt and one JSON
# line per model to $OUT/summary.jsonl. Then the full gpt-oss-20b file is generated once to time
# the generator and check that `gptc inspect` reads it (skip with SKIP_20B=1).
# Also works here without torch: IMPL=numpy scripts/hf-compare.sh (numpy reference only).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/hf-compare-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
B=${BUILD:-build-gen}
IMPL=${IMPL:-hf,numpy}
PY=${PYTHON:-python3}
W=$(mktemp -d)
export PYTHONUNBUFFERED=1
t_start=$(date +%s)
stamp() { echo "[$(($(date +%s) - t_start)) s] $*"; }

stamp "host: $(nproc) cores, $(uname -m)"
ls /usr/include/cJSON* /usr/include/cjson /usr/include/utf8proc.h 2>&1 | head -5
# shellcheck disable=SC1091
. scripts/gpu-env.sh
make -j"$(nproc)" SETUP=0 CUDA=0 BUILD="$B" "$B/gptc" "$B/tools/gen-model" "$B/tools/dump-logits" \
    >"$W/make.log" 2>&1 || { tail -40 "$W/make.log"; echo "BUILD FAILED"; exit 1; }
stamp "built gptc, gen-model, dump-logits"
$PY -c "import numpy; print('numpy', numpy.__version__)"
if [[ $IMPL == *hf* ]]; then
    $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" ||
        { echo "no torch/transformers: use IMPL=numpy"; exit 1; }
fi

mkdir -p "$W/golden"
rc=0
while read -r name n args; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    golden=1
    if [[ "$name" == proof:* ]]; then
        name=${name#proof:}
        golden=0
    fi
    m=$W/$name.gguf
    # shellcheck disable=SC2086
    if ! "$B/tools/gen-model" $args --out "$m"; then
        echo "== $name: gen-model failed"; rc=1; continue
    fi
    $PY scripts/hf_reference.py ids --model "$m" --n "$n" --out "$W/$name.ids" || { rc=1; continue; }
    if ! "$B/tools/dump-logits" -m "$m" --ids "$W/$name.ids" -o "$W/$name.f32" -c 1024 --batch 64 >/dev/null; then
        echo "== $name: gptc failed"; rc=1; continue
    fi
    extra=()
    if [[ "$args" == *gpt-oss* ]] &&
        "$B/tools/dump-logits" -m "$m" --ids "$W/$name.ids" -o "$W/$name.r.f32" -c 1024 --chunk 100 \
            --yarn-rounded >/dev/null; then
        extra=(--gptc-rounded "$W/$name.r.f32")
    fi
    if ((golden)); then extra+=(--golden "$W/golden/$name.json" --gen-args "$args"); fi
    $PY scripts/hf_reference.py run --model "$m" --ids "$W/$name.ids" --impl "$IMPL" --name "$name" \
        --gptc "$W/$name.f32" "${extra[@]}" --summary "$OUT/summary.jsonl" || rc=1
    rm -f "$m" "$W/$name".*f32
    stamp "$name done"
done <test/data/golden/models.txt
tar -C "$W" -czf "$OUT/golden.tar.gz" golden && stamp "golden records -> golden.tar.gz"

if [[ "${SKIP_20B:-0}" != 1 ]]; then
    t0=$(date +%s.%N)
    if timeout "${GEN20B_TIMEOUT:-150}" "$B/tools/gen-model" --preset gpt-oss-20b --out "$W/20b.gguf"; then
        t1=$(date +%s.%N)
        echo "gen-model --preset gpt-oss-20b: $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s wall on $(nproc) cores, $(stat -c %s "$W/20b.gguf") bytes"
        "$B/gptc" inspect "$W/20b.gguf" 2>&1 | head -60
    else
        echo "gen-model gpt-oss-20b: failed or timed out"
    fi
    rm -f "$W/20b.gguf"
fi
stamp "finished, rc=$rc"
rm -rf "$W"
exit $rc
