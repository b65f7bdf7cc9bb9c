#!/usr/bin/env bash
# bench-compare.sh — gptc against llama.cpp on the GPU machine, same files, one table with ratios
# (issue 10 §3). Builds gptc (CUDA) and llama.cpp's llama-bench and llama-batched-bench from the
# source in $LLAMA_SRC (a git-ignored folder holding a pinned llama.cpp; its code is never
# committed) with -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a, generates the models with
# gen-model into /tmp (gpt-oss-20b MXFP4 and Q4_K_M, GPT-2 124M; random weights), then runs
# llama.cpp and gptc alternately, test by test:
#   pp512, tg128 (every model), pp2048, tg128 at depth 8,192 and 32,768, 1/8/32 parallel
#   sequences (prompt 128, 128 generated each: aggregate generated t/s) and device memory at
#   -c 8192 (gpt-oss-20b MXFP4; nvidia-smi's peak over the run minus the idle figure).
# Usage: scripts/bench-compare.sh [phases]   phases (default all, in this order):
#   pp tg pp2048 depth parallel mem   (the builds and the model files are made first whenever
#   they are missing; a machine kept warm between calls reuses them)
#   run tool: command "scripts/bench-compare.sh", carry [".dev/debs", ".dev/llama-min"],
#   timeout_s 600. .dev/llama-min: the parts of the llama.cpp tree its CMake build reads (48 MB;
#   the whole tree is over the 64 MiB a call carries), made here with
#     mkdir -p .dev/llama-min && (cd .dev/llama.cpp && cp -r CMakeLists.txt CMakePresets.json \
#       cmake common ggml include licenses src tools vendor ../llama-min/)
#   On a machine kept warm between calls the llama.cpp build (in $LLAMA_BUILD) and the models
#   in /tmp are reused, so later calls can run other phases.
# Env: LLAMA_SRC (.dev/llama-min, else .dev/llama.cpp), LLAMA_BUILD (.dev/llama-build), B (build-cuda), BUDGET_S
# (seconds for the whole script, default 560; a phase that would start with too little left is
# skipped and says so), REPS (3), MODELS ("gpt-oss-20b gpt-oss-20b-q4_k_m gpt2-124m").
# Logs: $OUT/compare.log (every command and its output), $OUT/results.tsv, $OUT/compare.md (the
# table, also printed last).
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/gptc-out}
mkdir -p "$OUT"
phases="build gen ${1:-"pp tg pp2048 depth parallel mem"}"
. scripts/gpu-env.sh
# Hopper code only (the lent cards are H100 / H200): a third of the default build's nvcc time
export CUDA_ARCH=${CUDA_ARCH:-"-gencode arch=compute_90a,code=sm_90a"}
B=${B:-build-cuda}
LLAMA_SRC=${LLAMA_SRC:-$( [ -d .dev/llama-min ] && echo .dev/llama-min || echo .dev/llama.cpp)}
LLAMA_BUILD=${LLAMA_BUILD:-.dev/llama-build}
BUDGET_S=${BUDGET_S:-560}
REPS=${REPS:-3}
MODELS=${MODELS:-"gpt-oss-20b gpt-oss-20b-q4_k_m gpt2-124m"}
LOG=$OUT/compare.log
RES=$OUT/results.tsv
J=$(nproc)
LB=$LLAMA_BUILD/bin/llama-bench
LBB=$LLAMA_BUILD/bin/llama-batched-bench
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
has() { [[ " $phases " == *" $1 "* ]]; }
log() { echo "$*" | tee -a "$LOG"; }
: >>"$LOG"
touch "$RES"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
log "== bench-compare on $GPU ($(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)); phases: $phases"

# ---- build ----------------------------------------------------------------------------------
if has build; then
    if [ -f "$LLAMA_SRC/CMakeLists.txt" ]; then
        (
            if [ ! -x "$LB" ] || [ ! -x "$LBB" ]; then
                cmake -S "$LLAMA_SRC" -B "$LLAMA_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
                    -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DLLAMA_BUILD_TESTS=OFF \
                    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
                    -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
                    >"$OUT/llama-build.log" 2>&1 &&
                    cmake --build "$LLAMA_BUILD" -j "$J" --target llama-bench llama-batched-bench \
                        >>"$OUT/llama-build.log" 2>&1
            fi
        ) &
        LLAMA_PID=$!
    else
        log "llama.cpp: no source in $LLAMA_SRC (carry it): llama.cpp columns stay empty"
    fi
    # gen-model first (a CPU-only build of the tools, quick), so the models are generated while
    # nvcc compiles; then gptc with CUDA
    make -j"$J" BUILD=build-gen CUDA=0 SETUP=0 build-gen/tools/gen-model >>"$LOG" 2>&1 ||
        log "gen-model build failed (see compare.log)"
fi
preset_args() {
    case $1 in
    gpt2*) echo "--preset $1" ;;
    *) echo "--preset $1 --vocab 201088" ;;
    esac
}
if has gen; then
    GENTOOL=build-gen/tools/gen-model
    [ -x $GENTOOL ] || GENTOOL=$B/tools/gen-model
    (
        for p in $MODELS; do
            [ -s /tmp/$p.gguf ] && continue
            /usr/bin/time -f "gen-model $p %e s" $GENTOOL $(preset_args $p) --out /tmp/$p.gguf.part \
                >>"$OUT/gen.log" 2>&1 && mv /tmp/$p.gguf.part /tmp/$p.gguf
        done
    ) &
    GEN_PID=$!
fi
if has build; then
    log "== gptc build ($(left) s left)"
    make -j"$J" BUILD=$B CUDA=1 SETUP=0 $B/gptc >>"$LOG" 2>&1 || { tail -30 "$LOG"; exit 2; }
    if [ -n "${LLAMA_PID:-}" ]; then
        wait "$LLAMA_PID" || log "llama.cpp build failed: $(tail -5 "$OUT/llama-build.log")"
    fi
    log "== builds done at $(($(date +%s) - T0)) s"
fi
[ -n "${GEN_PID:-}" ] && wait "$GEN_PID"
[ -s "$OUT/gen.log" ] && cat "$OUT/gen.log" >>"$LOG"
[ -x "$LB" ] && log "llama.cpp: $($LB --version 2>&1 | head -2 | tr '\n' ' ')"

# ---- measuring helpers ----------------------------------------------------------------------
# result MODEL TEST TOOL VALUE
result() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }
# llama-bench jsonl -> "TEST VALUE" lines (TEST as gptc names it: pp512, tg128 @ d8192)
llama_tests() {
    python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"): continue
    t = json.loads(line)
    name = ("pp%d" % t["n_prompt"]) if t["n_gen"] == 0 else ("tg%d" % t["n_gen"])
    if t.get("n_depth", 0): name += " @ d%d" % t["n_depth"]
    print("%s\t%.2f" % (name, t["avg_ts"]))'
}
# gptc bench table -> "TEST VALUE" lines
gptc_tests() { awk -F'|' '/^\| / && $7 ~ /(pp|tg)[0-9]/ { gsub(/^ +| +$/, "", $7); split($8, v, " "); print $7 "\t" v[1] }'; }
# run_pair MODEL LLAMA_ARGS GPTC_ARGS: llama-bench, then gptc bench, on the same file
run_pair() {
    local m=$1 la=$2 ga=$3 M=/tmp/$1.gguf
    if [ ! -s "$M" ]; then
        log "-- $m: no model file"
        return
    fi
    if [ -x "$LB" ] && [ "$(left)" -gt 40 ]; then
        log "-- llama-bench -m $M -ngl 99 -fa 1 $la -o jsonl"
        timeout $(($(left) - 20)) $LB -m "$M" -ngl 99 -fa 1 $la -o jsonl 2>>"$LOG" | tee -a "$LOG" |
            llama_tests | while IFS=$'\t' read -r t v; do result "$m" "$t" llama.cpp "$v"; done
    fi
    if [ "$(left)" -gt 30 ]; then
        log "-- gptc bench -m $M $ga --backend cuda"
        timeout $(($(left) - 10)) $B/gptc bench -m "$M" $ga --backend cuda 2>>"$LOG" |
            tee -a "$LOG" | gptc_tests |
            while IFS=$'\t' read -r t v; do result "$m" "$t" gptc "$v"; done
    else
        log "-- $m ($ga): skipped, $(left) s left"
    fi
}

# ---- phases ---------------------------------------------------------------------------------
if has pp || has tg; then
    n_p=0 n_g=0
    has pp && n_p=512
    has tg && n_g=128
    for m in $MODELS; do run_pair "$m" "-p $n_p -n $n_g -r $REPS" "-p $n_p -n $n_g -r $REPS"; done
fi
if has pp2048; then
    run_pair gpt-oss-20b "-p 2048 -n 0 -r $REPS" "-p 2048 -n 0 -b 2048 -r $REPS"
fi
if has depth; then
    run_pair gpt-oss-20b "-p 0 -n 128 -d 8192,32768 -r ${DREPS:-2}" \
        "-p 0 -n 128 -d 8192,32768 -r ${DREPS:-2}"
fi
if has parallel; then
    M=/tmp/gpt-oss-20b.gguf
    if [ -x "$LBB" ] && [ -s $M ] && [ "$(left)" -gt 60 ]; then
        log "-- llama-batched-bench -m $M -ngl 99 -fa on -c 8192 -npp 128 -ntg 128 -npl 1,8,32"
        timeout $(($(left) - 30)) $LBB -m $M -ngl 99 -fa on -c 8192 -npp 128 -ntg 128 \
            -npl 1,8,32 --output-format jsonl 2>>"$LOG" | tee -a "$LOG" |
            python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        t = json.loads(line)
        print("parallel %d\t%.2f" % (t["pl"], t["speed_tg"]))' |
            while IFS=$'\t' read -r t v; do result gpt-oss-20b "$t" llama.cpp "$v"; done
    fi
    if [ -s $M ] && [ "$(left)" -gt 30 ]; then
        log "-- gptc bench -m $M --parallel 1,8,32 -p 128 -n 128 -r 1 --backend cuda"
        timeout $(($(left) - 10)) $B/gptc bench -m $M --parallel 1,8,32 -p 128 -n 128 -r 1 \
            --backend cuda 2>>"$LOG" | tee -a "$LOG" |
            awk -F'|' '/^\| / && $6 ~ /[0-9]/ { gsub(/ /, "", $6); gsub(/ /, "", $10); print "parallel " $6 "\t" $10 }' |
            while IFS=$'\t' read -r t v; do result gpt-oss-20b "$t" gptc "$v"; done
    fi
fi
if has mem; then
    # device memory at -c 8192: nvidia-smi's peak during the run minus its figure before
    M=/tmp/gpt-oss-20b.gguf
    peak_mib() { # peak_mib CMD...: runs CMD, prints the peak memory.used increase in MiB
        local base f=$OUT/mem.samples
        base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$f" &
        local smi=$!
        "$@" >>"$LOG" 2>&1
        kill $smi 2>/dev/null
        wait $smi 2>/dev/null
        sort -n "$f" | tail -1 | awk -v b="$base" '{ print $1 - b }'
    }
    if [ -s $M ] && [ "$(left)" -gt 60 ]; then
        if [ -x "$LBB" ]; then
            log "-- memory: llama-batched-bench -c 8192 -npp 512 -ntg 16 -npl 1"
            v=$(peak_mib timeout 90 $LBB -m $M -ngl 99 -fa on -c 8192 -npp 512 -ntg 16 -npl 1)
            result gpt-oss-20b "device MiB at -c 8192" llama.cpp "$v"
        fi
        log "-- memory: gptc bench -p 512 -n 16 -c 8192 -r 1"
        v=$(peak_mib timeout 90 $B/gptc bench -m $M -p 512 -n 16 -c 8192 -r 1 --backend cuda -v)
        result gpt-oss-20b "device MiB at -c 8192" gptc "$v"
    fi
fi

# ---- the table ------------------------------------------------------------------------------
python3 - "$RES" "$GPU" >"$OUT/compare.md" <<'EOF'
import sys
rows, order = {}, []
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split("\t")
    if len(p) != 4: continue
    key = (p[0], p[1])
    if key not in rows:
        rows[key] = {}
        order.append(key)
    rows[key][p[2]] = float(p[3])
print("GPU: %s. Rates in tokens/s (parallel: aggregate generated t/s); memory in MiB, lower"
      " is better; ratio = gptc / llama.cpp." % sys.argv[2])
print()
print("| model | test | llama.cpp | gptc | ratio |")
print("| --- | --- | ---: | ---: | ---: |")
for key in order:
    r = rows[key]
    l, g = r.get("llama.cpp"), r.get("gptc")
    ratio = "%.2fx" % (g / l) if l and g else "-"
    print("| %s | %s | %s | %s | %s |" % (key[0], key[1], "%.2f" % l if l else "-",
                                         "%.2f" % g if g else "-", ratio))
EOF
log "== bench-compare: done in $(($(date +%s) - T0)) s"
cat "$OUT/compare.md"
