#!/usr/bin/env bash
# bench-offload.sh — expert offload on the GPU machine (issue 15): gptc bench tg128 / pp512 of
# gpt-oss-20b (gen-model's random MXFP4 preset, /tmp/oss20.gguf) with --n-cpu-moe 0, 8, 24 and
# with --vram-budget 8G alone (-v prints the chosen split), and --n-cpu-moe 8 with the prompt's
# offloaded experts on the CPU (GPTC_CUDA_OFFLOAD_STREAM=0), beside the GPU and CPU it ran on.
# Usage (repo root, after `. scripts/gpu-env.sh`): scripts/bench-offload.sh [gptc bench flags]
#   run tool: command "scripts/bench-offload.sh", carry [".dev/debs"], timeout_s 600
# Env: B (build folder, default build-cuda), M (model, default /tmp/oss20.gguf), REPS (2),
# CASES (default "--n-cpu-moe=0 --n-cpu-moe=8 --n-cpu-moe=24 --vram-budget=8G").
set -u
B=${B:-build-cuda}
M=${M:-/tmp/oss20.gguf}
REPS=${REPS:-2}
CASES=${CASES:-"--n-cpu-moe=0 --n-cpu-moe=8 --n-cpu-moe=24 --vram-budget=8G"}
export CUDA_ARCH=${CUDA_ARCH:-"-gencode arch=compute_90a,code=sm_90a"}
make -j"$(nproc)" BUILD=$B CUDA=1 SETUP=0 $B/gptc $B/tools/gen-model >/tmp/bench-offload-build.log 2>&1 ||
    { tail -30 /tmp/bench-offload-build.log; exit 2; }
if [ ! -s "$M" ]; then
    /usr/bin/time -f "gen-model %e s" $B/tools/gen-model --preset gpt-oss-20b --vocab 201088 \
        --out "$M.part" && mv "$M.part" "$M" || exit 2
fi
echo "GPU: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) threads usable"
run() {
    $B/gptc bench -m "$M" --backend cuda -p 512 -n 128 -r "$REPS" -v "$@" 2>&1 |
        grep -E '^\|| expert offload|memory plan|weights (on GPU|in host)|load:|error'
}
for c in $CASES; do
    echo "== gptc bench $c"
    run "$c" "$@"
done
# the prompt's offloaded experts on the CPU threads instead of copied up (the phase-1 path)
echo "== GPTC_CUDA_OFFLOAD_STREAM=0 gptc bench --n-cpu-moe=8"
GPTC_CUDA_OFFLOAD_STREAM=0 run --n-cpu-moe=8 "$@"
