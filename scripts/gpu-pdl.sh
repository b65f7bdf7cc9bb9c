#!/usr/bin/env bash
# gpu-pdl.sh — one device-machine call that judges GPTC_CUDA_PDL (programmatic dependent launch of
# the decode kernels, docs/architecture.md): the CUDA tests with the knob on (the default tile
# attention and the decode attention kernel), decode benchmarks off / on / off / on on the same
# card (gpt-oss-20b and GPT-2 124M random models from gen-model in /tmp), then racecheck and
# synccheck over the kernel tests with the knob on. Logs go to $OUT.
#   run tool: command "scripts/gpu-pdl.sh [phases]", carry [".dev/debs"], timeout_s 600
# phases (default "build test bench san"). Env: B (build folder, default build-cuda), BUDGET_S
# (default 570), MODELS (default "gpt-oss-20b gpt2-124m"), ARGS (bench arguments, default
# "-p 0 -n 128 -r 2").
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/gptc-out}
mkdir -p "$OUT"
phases=${1:-"build test bench san"}
. scripts/gpu-env.sh
B=${B:-build-cuda}
BUDGET_S=${BUDGET_S:-570}
MODELS=${MODELS:-"gpt-oss-20b gpt2-124m"}
ARGS=${ARGS:-"-p 0 -n 128 -r 2"}
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
has() { [[ " $phases " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

if has build; then
    echo "== build" | tee "$OUT/build.log"
    make -j"$(nproc)" BUILD=$B CUDA=1 SETUP=0 $B/gptc $B/test/cuda/test_cuda_kernels \
        $B/test/cuda/test_cuda_model $B/tools/gen-model >>"$OUT/build.log" 2>&1 ||
        { tail -40 "$OUT/build.log"; exit 1; }
fi
if has bench; then # the models are generated while the tests run
    (
        for p in $MODELS; do
            [ -s /tmp/$p.gguf ] && continue
            case $p in gpt2*) v=50257 ;; *) v=201088 ;; esac
            $B/tools/gen-model --preset $p --vocab $v --out /tmp/$p.gguf >>"$OUT/gen.log" 2>&1
        done
    ) &
    GEN=$!
fi
if has test; then
    export GPTC_BUILD=$B
    for env in "GPTC_CUDA_PDL=1" "GPTC_CUDA_PDL=1 GPTC_CUDA_ATTN_VEC_MAX_T=8"; do
        for t in test_cuda_kernels test_cuda_model; do
            echo "== $env $t" | tee -a "$OUT/test.log"
            env $env timeout 200 $B/test/cuda/$t >>"$OUT/test.log" 2>&1
            echo "exit $?" | tee -a "$OUT/test.log"
            grep -E "^[0-9]+%: Checks|:F:|:E:" "$OUT/test.log" | tail -4
        done
    done
fi
if has bench; then
    [ -n "${GEN:-}" ] && wait $GEN
    echo "== bench ($ARGS)" | tee "$OUT/bench.log"
    for p in $MODELS; do
        for pdl in 0 1 0 1; do
            echo "-- GPTC_CUDA_PDL=$pdl gptc bench -m /tmp/$p.gguf $ARGS --backend cuda" |
                tee -a "$OUT/bench.log"
            GPTC_CUDA_PDL=$pdl timeout 120 $B/gptc bench -m /tmp/$p.gguf $ARGS --backend cuda \
                2>&1 | tee -a "$OUT/bench.log" | grep -E "tg|error"
        done
    done
fi
if has san; then
    echo "== compute-sanitizer, GPTC_CUDA_PDL=1 ($(left) s left)" | tee "$OUT/san.log"
    export CK_FORK=no CK_TIMEOUT_MULTIPLIER=20 GPTC_BUILD=$B GPTC_CUDA_PDL=1
    for tool in racecheck synccheck; do
        lim=$(left)
        [ "$lim" -gt 200 ] && lim=200
        [ "$lim" -lt 20 ] && { echo "-- $tool: skipped (no time left)" | tee -a "$OUT/san.log"; continue; }
        echo "-- $tool test_cuda_kernels (limit $lim s)" | tee -a "$OUT/san.log"
        timeout $lim compute-sanitizer --tool $tool --error-exitcode 9 \
            $B/test/cuda/test_cuda_kernels >>"$OUT/san.log" 2>&1
        echo "exit $?" | tee -a "$OUT/san.log"
        grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Checks:" "$OUT/san.log" | tail -2
    done
fi
echo "gpu-pdl: done in $(($(date +%s) - T0)) s"
