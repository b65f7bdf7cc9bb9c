#!/usr/bin/env bash
# gpu-test.sh — one device-machine call of the CUDA engineer: build (CUDA=1), `make test-cuda`,
# compute-sanitizer (memcheck + racecheck) over the GPU tests, then the gpt-oss-20b benchmark
# (random weights made by gen-model in /tmp, never committed). Logs go to $OUT.
#   run tool: command "scripts/gpu-test.sh [phases]", carry [".dev/debs"]
# phases (default "build test bench san"; also: diag prof): any subset, in that order.
set -u
OUT=${OUT:-/tmp/gptc-out}
mkdir -p "$OUT"
phases=${1:-"build test bench san"}
. scripts/gpu-env.sh
B=build-cuda
J=$(nproc)
has() { [[ " $phases " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
MODEL=/tmp/gpt-oss-20b.gguf

if has build; then
    echo "== build" | tee "$OUT/build.log"
    time make -j"$J" BUILD=$B CUDA=1 SETUP=0 all $B/test/cuda/test_cuda_kernels \
        $B/test/cuda/test_cuda_model >>"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
fi
if has bench && [ ! -s $MODEL ]; then
    # generated in the background while the tests run
    ( /usr/bin/time -f "gen-model %e s" $B/tools/gen-model --preset gpt-oss-20b --vocab 201088 \
        --out $MODEL >"$OUT/gen.log" 2>&1 ) &
    GEN=$!
fi
if has test; then
    echo "== make test-cuda" | tee "$OUT/test.log"
    timeout 400 make BUILD=$B CUDA=1 SETUP=0 test-cuda >>"$OUT/test.log" 2>&1
    grep -E "^[0-9]+%: Checks|:F:|:E:|worst|Tests:" "$OUT/test.log"
fi
if has diag; then
    for kv in ${DIAG_ENV:-GPTC_CUDA_GEMV_MAX_T=100000 GPTC_CUDA_MOE_GROUPED_MIN_T=100000}; do
        echo "== test_cuda_model with $kv" | tee -a "$OUT/test.log"
        env $kv GPTC_BUILD=$B timeout 200 $B/test/cuda/test_cuda_model >>"$OUT/test.log" 2>&1
        grep -E "worst|Checks|position" "$OUT/test.log" | tail -16
    done
fi
if has bench; then
    [ -n "${GEN:-}" ] && wait $GEN
    cat "$OUT/gen.log" | tail -3
    ls -la $MODEL
    echo "== bench" | tee "$OUT/bench.log"
    for args in "-p 512 -n 128" "-p 2048 -n 0 -b 2048"; do
        timeout 240 $B/gptc bench -m $MODEL $args -r 3 --backend cuda -v 2>&1 | tee -a "$OUT/bench.log"
    done
    timeout 120 $B/gptc bench -m $MODEL -p 0 -n 128 -r 1 -c 8192 --backend cuda -v 2>&1 |
        tee -a "$OUT/bench.log" | grep -iE "memory|vram|GiB|load|tg"
fi
if has san; then
    echo "== compute-sanitizer" | tee "$OUT/san.log"
    export CK_FORK=no CK_TIMEOUT_MULTIPLIER=20 GPTC_BUILD=$B
    for tool in memcheck racecheck; do
        for t in test_cuda_kernels test_cuda_model; do
            [ $tool = racecheck ] && [ $t = test_cuda_model ] && continue
            echo "-- $tool $t" | tee -a "$OUT/san.log"
            timeout ${SAN_TIMEOUT:-150} compute-sanitizer --tool $tool --error-exitcode 9 $B/test/cuda/$t \
                >>"$OUT/san.log" 2>&1
            echo "exit $?" | tee -a "$OUT/san.log"
            grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Checks:" "$OUT/san.log" | tail -2
        done
    done
fi
if has prof; then
    GPTC_CUDA_PROFILE=1 timeout 120 $B/gptc bench -m $MODEL -p 512 -n 32 -r 1 --backend cuda 2>&1 |
        tee "$OUT/prof.log" | grep -vE "^\|" | head -60
fi
