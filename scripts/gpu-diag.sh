#!/usr/bin/env bash
# gpu-diag.sh — one device call: the compute-sanitizer exit abort of test_cuda_model (host heap
# checks with and without the tool), racecheck over the model suite if time is left, and the
# three user modes (one-shot, batch --parallel, chat on a pipe) on the CUDA backend.
#   run tool: command "scripts/gpu-diag.sh", carry [".dev/debs", ".cache/gpt-oss"]
set -u
T0=$(date +%s); BUDGET_S=${BUDGET_S:-380}
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
OUT=${OUT:-/tmp/gptc-out}; mkdir -p "$OUT"
. scripts/gpu-env.sh
B=build-diag
nvidia-smi --query-gpu=name --format=csv,noheader
make -j"$(nproc)" BUILD=$B CUDA=1 SETUP=0 CUDA_ARCH="-gencode arch=compute_90a,code=sm_90a" \
    $B/gptc $B/tools/gen-model $B/test/cuda/test_cuda_model >"$OUT/build.log" 2>&1 ||
    { tail -30 "$OUT/build.log"; exit 1; }
echo "built in $(($(date +%s) - T0)) s"
export GPTC_BUILD=$B CK_FORK=no CK_TIMEOUT_MULTIPLIER=20
dbg=$(ls /lib/x86_64-linux-gnu/libc_malloc_debug.so.0 /usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0 2>/dev/null | head -1)
echo "== plain, glibc heap checks ($dbg)"
LD_PRELOAD=$dbg MALLOC_CHECK_=3 MALLOC_PERTURB_=165 timeout 120 $B/test/cuda/test_cuda_model \
    >"$OUT/heap.log" 2>&1; echo "exit $?"; grep -E "Checks|Tests|corrupt|abort" "$OUT/heap.log"
echo "== memcheck ($(left) s left)"
timeout $(( $(left) > 150 ? 150 : $(left) )) compute-sanitizer --tool memcheck --error-exitcode 9 \
    $B/test/cuda/test_cuda_model >"$OUT/memcheck.log" 2>&1; echo "exit $?"
grep -E "ERROR SUMMARY|Checks|corrupt|abort|Program hit" "$OUT/memcheck.log" | head
M=/tmp/t.gguf
$B/tools/gen-model --preset tiny-gpt-oss --tokenizer .cache/gpt-oss/tokenizer.json --seed 3 \
    --out $M >/dev/null 2>&1 || echo "gen-model failed"
echo "== one-shot"; $B/gptc -m $M -p "hello" -n 16 -s 1 --timings --backend cuda; echo " exit $?"
printf '{"id":1,"prompt":"a"}\n{"id":2,"prompt":"b"}\n{"id":3,"prompt":"c"}\nnot json\n' >/tmp/in.jsonl
echo "== batch"; $B/gptc batch -m $M -i /tmp/in.jsonl -o /tmp/o.jsonl --parallel 2 -n 8 \
    --backend cuda; echo "exit $?"; cut -c1-160 /tmp/o.jsonl
echo "== chat (pipe)"; printf 'hi\n/stats\n' | $B/gptc chat -m $M -n 8 --backend cuda; echo " exit $?"
l=$(left)
if [ "$l" -gt 40 ]; then
    echo "== racecheck model suite (limit $((l - 15)) s)"
    timeout $((l - 15)) compute-sanitizer --tool racecheck --error-exitcode 9 \
        $B/test/cuda/test_cuda_model >"$OUT/racecheck.log" 2>&1; echo "exit $?"
    grep -E "RACECHECK SUMMARY|Checks|corrupt|abort" "$OUT/racecheck.log" | head
fi
echo "gpu-diag: done in $(($(date +%s) - T0)) s"
