#!/usr/bin/env bash
# gpu-accuracy.sh — the GPU accuracy contract (docs/benchmarks.md), on the GPU machine: for each
# test model, `gptc perplexity --kl-base` on the CPU (the fp32 reference), then `--kl` on the GPU
# for each KV cache type, over the public-domain text test/data/text/kjv-ruth-jonah.txt (about
# 4,900 tokens; 9 chunks of 512, 2,295 scored positions). Prints mean KL divergence, top-1
# agreement where the CPU's top-1 leads its runner-up by >= 0.5 nats, and PPL(GPU) / PPL(CPU).
# Exits 1 when a judged row (cache types in JUDGE, default "f16 f32") has mean KLD > 2e-3,
# agreement < 99% or |PPL ratio - 1| > 0.5%; other rows (q8_0) are reported only.
#   run tool: command "scripts/gpu-accuracy.sh", carry [".dev/debs", ".cache/gpt-oss"],
#   timeout_s 600. Without .cache/gpt-oss (the o200k tokenizer.json) the gpt-oss models get a
#   synthetic vocabulary of the same 201,088 rows (said in the table).
# Models (generated into /tmp by gen-model, never committed): tiny gpt-oss (4 layers, the real
# vocabulary) with Q8_0 + MXFP4 experts and as Q4_K_M; GPT-2 124M (random weights, F16);
# on request (MODELS) oss-120b-l2: the gpt-oss-120b preset cut to 2 layers (full width, 128
# experts, about 4.6 GB) written as 3 gguf-split shards, loaded through the first.
# Env: B (build folder, default build-cuda), BUDGET_S (default 560), CTX (default 512),
# CACHE_TYPES (default "f16 f32 q8_0"), JUDGE, MODELS ("oss-mxfp4 oss-q4km gpt2-124m").
# Logs and the summary (accuracy.md) go to $OUT.
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/gptc-out}
mkdir -p "$OUT"
. scripts/gpu-env.sh
# Hopper code only (the lent cards are H100 / H200): a third of the default build's nvcc time
export CUDA_ARCH=${CUDA_ARCH:-"-gencode arch=compute_90a,code=sm_90a"}
B=${B:-build-cuda}
BUDGET_S=${BUDGET_S:-560}
CTX=${CTX:-512}
CACHE_TYPES=${CACHE_TYPES:-"f16 f32 q8_0"}
JUDGE=${JUDGE:-"f16 f32"}
MODELS=${MODELS:-"oss-mxfp4 oss-q4km gpt2-124m"}
TEXT=test/data/text/kjv-ruth-jonah.txt
LOG=$OUT/accuracy.log
SUM=$OUT/accuracy.md
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
: >"$LOG"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOG"

echo "== build ($B)" | tee -a "$LOG"
make -j"$(nproc)" BUILD=$B CUDA=1 SETUP=0 $B/gptc $B/tools/gen-model >>"$LOG" 2>&1 ||
    { tail -30 "$LOG"; exit 2; }

oss_tok=""
[ -s .cache/gpt-oss/tokenizer.json ] || oss_tok="--vocab 201088"
gen_args() {
    case $1 in
    oss-mxfp4) echo "--preset tiny-gpt-oss $oss_tok" ;;
    oss-q4km) echo "--preset tiny-gpt-oss --q4km $oss_tok" ;;
    gpt2-124m) echo "--preset gpt2-124m" ;;
    oss-120b-l2) echo "--preset gpt-oss-120b --layers 2 --split-max-size 2G $oss_tok" ;;
    esac
}
# the file to pass to -m: the first shard of a split model
model_path() {
    local f
    for f in /tmp/acc-$1.gguf /tmp/acc-$1-00001-of-*.gguf; do [ -s "$f" ] && { echo "$f"; return; }; done
}

fails=0
{
    echo "| model | cache | mean KLD | top-1 agree (CPU margin >= 0.5) | PPL CPU | PPL GPU | PPL ratio | verdict |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
} >"$SUM"
for m in $MODELS; do
    M=$(model_path $m)
    if [ -z "$M" ]; then
        $B/tools/gen-model $(gen_args $m) --out /tmp/acc-$m.gguf >>"$LOG" 2>&1 ||
            { echo "| $m | - | gen-model failed | | | | | FAIL |" >>"$SUM"; fails=1; continue; }
        M=$(model_path $m)
    fi
    note=""
    [[ $m == oss-* && -n $oss_tok ]] && note=" (synthetic vocab)"
    if [ "$(left)" -lt 60 ]; then
        echo "| $m$note | - | skipped: time budget | | | | | - |" >>"$SUM"
        continue
    fi
    echo "== $m: CPU reference ($(left) s left)" | tee -a "$LOG"
    base=/tmp/acc-$m.kl
    cpu_out=$(timeout $(($(left) - 30)) $B/gptc perplexity -m "$M" -f $TEXT -c $CTX --backend cpu \
        --kl-base $base 2>>"$LOG")
    echo "$cpu_out" >>"$LOG"
    ppl_cpu=$(echo "$cpu_out" | sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p')
    if [ -z "$ppl_cpu" ]; then
        echo "| $m$note | - | CPU run failed (see accuracy.log) | | | | | FAIL |" >>"$SUM"
        fails=1
        continue
    fi
    for ct in $CACHE_TYPES; do
        if [ "$(left)" -lt 20 ]; then
            echo "| $m$note | $ct | skipped: time budget | | | | | - |" >>"$SUM"
            continue
        fi
        echo "== $m: GPU, cache $ct" | tee -a "$LOG"
        gpu_out=$(timeout $(($(left) - 10)) $B/gptc perplexity -m "$M" -f $TEXT --backend cuda \
            --cache-type $ct --kl $base 2>>"$LOG")
        echo "$gpu_out" >>"$LOG"
        ppl_gpu=$(echo "$gpu_out" | sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p')
        kld=$(echo "$gpu_out" | sed -n 's/^Mean    KLD: *\([0-9.e+-]*\).*/\1/p')
        agree=$(echo "$gpu_out" | sed -n 's/^Same top p (base top-1 ahead by >= 0.5 nats): *\([0-9.]*\).* of \([0-9]*\)$/\1 \2/p')
        ratio=$(echo "$gpu_out" | sed -n 's/^Mean PPL(Q)\/PPL(base): *\([0-9.]*\).*/\1/p')
        if [ -z "$ppl_gpu" ] || [ -z "$kld" ] || [ -z "$ratio" ]; then
            echo "| $m$note | $ct | GPU run failed (see accuracy.log) | | | | | FAIL |" >>"$SUM"
            fails=1
            continue
        fi
        set -- $agree
        pct=${1:-100} npos=${2:-0}
        verdict=$(awk -v k="$kld" -v a="$pct" -v r="$ratio" 'BEGIN {
            ok = k <= 2e-3 && a >= 99 && (r - 1 <= 0.005 && 1 - r <= 0.005);
            print ok ? "pass" : "FAIL" }')
        if [[ " $JUDGE " != *" $ct "* ]]; then
            verdict="($verdict, not judged)"
        elif [ "$verdict" = FAIL ]; then
            fails=1
        fi
        echo "| $m$note | $ct | $kld | $pct % of $npos | $ppl_cpu | $ppl_gpu | $ratio | $verdict |" >>"$SUM"
    done
    rm -f $base
done
echo "== summary (bounds: mean KLD <= 2e-3, top-1 agreement >= 99%, |PPL ratio - 1| <= 0.5%;" \
    "judged: $JUDGE; $(($(date +%s) - T0)) s)"
cat "$SUM"
exit $fails
