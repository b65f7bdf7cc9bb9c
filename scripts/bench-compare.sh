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
# Phases run only when named (issue 15), after those above:
#   oss120   gpt-oss-120b (63.4 GB, 3 gguf-split shards, generated into /dev/shm when it has room,
#            else into /tmp after deleting /tmp's gpt-oss-20b files): llama-bench -ngl 99 -fa 1
#            and gptc bench, pp512 tg128, both given the first shard (rows "gpt-oss-120b")
#   offload  expert offload within a device memory budget: gptc bench --vram-budget B -v (the N
#            of layers whose experts it keeps in host memory, from -v) against llama-bench
#            --n-cpu-moe N' with N' the smallest that fits the same budget (nvidia-smi's peak, or
#            gptc's own peak when that is higher; tried from gptc's N up or down, OFFLOAD_TRIES
#            runs at most); gpt-oss-20b at 8G and, when its file exists, gpt-oss-120b at 24G
#            (rows "gpt-oss-20b @8G", "gpt-oss-120b @24G": pp512, tg128, n-cpu-moe, peak MiB)
#   e.g. MODELS=gpt-oss-20b scripts/bench-compare.sh "oss120 offload"
#   run tool: command "scripts/bench-compare.sh", carry [".dev/debs", ".dev/llama-min"],
#   timeout_s 600. .dev/llama-min: the parts of the llama.cpp tree its CMake build reads (48 MB;
#   the whole tree is over the 64 MiB a call carries), made here with
#     mkdir -p .dev/llama-min && (cd .dev/llama.cpp && cp -r CMakeLists.txt CMakePresets.json \
#       cmake common ggml include licenses src tools vendor ../llama-min/)
#   On a machine kept warm between calls the llama.cpp build (in $LLAMA_BUILD) and the models
#   in /tmp are reused, so later calls can run other phases.
# Env: LLAMA_SRC (.dev/llama-min, else .dev/llama.cpp), LLAMA_BUILD (.dev/llama-build), B (build-cuda), BUDGET_S
# (seconds for the whole script, default 560; a phase that would start with too little left is
# skipped and says so), REPS (3), MODELS ("gpt-oss-20b gpt-oss-20b-q4_k_m gpt2-124m"),
# OREPS (offload phase repetitions, 2), OFFLOAD_TRIES (llama.cpp runs per budget, 4),
# OFFLOAD ("gpt-oss-20b:8G gpt-oss-120b:24G"), OTHREADS (-t for both tools in the offload
# phase; default: each tool's own default, which the log shows).
# Logs: $OUT/compare.log (every command and its output), $OUT/results.tsv, $OUT/compare.md (the
# table, also printed last).
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/gptc-out}
mkdir -p "$OUT"
phases="build gen ${1:-"pp tg pp2048 depth parallel mem"}"
# shellcheck source=scripts/gpu-env.sh disable=SC1091
. scripts/gpu-env.sh
# Hopper code only (the lent cards are H100 / H200): a third of the default build's nvcc time
export CUDA_ARCH=${CUDA_ARCH:-"-gencode arch=compute_90a,code=sm_90a"}
B=${B:-build-cuda}
LLAMA_SRC=${LLAMA_SRC:-$( [ -d .dev/llama-min ] && echo .dev/llama-min || echo .dev/llama.cpp)}
LLAMA_BUILD=${LLAMA_BUILD:-.dev/llama-build}
BUDGET_S=${BUDGET_S:-560}
REPS=${REPS:-3}
MODELS=${MODELS:-"gpt-oss-20b gpt-oss-20b-q4_k_m gpt2-124m"}
OREPS=${OREPS:-2}
OFFLOAD_TRIES=${OFFLOAD_TRIES:-4}
OFFLOAD=${OFFLOAD:-"gpt-oss-20b:8G gpt-oss-120b:24G"}
LOG=$OUT/compare.log
RES=$OUT/results.tsv
J=$(nproc)
LB=$LLAMA_BUILD/bin/llama-bench
LBB=$LLAMA_BUILD/bin/llama-batched-bench
# a shared-library build (BUILD_SHARED_LIBS=ON, e.g. one made on another machine and carried):
# its libllama / libggml* sit beside the programs
if ls "$LLAMA_BUILD"/bin/libllama.so* >/dev/null 2>&1; then
    export LD_LIBRARY_PATH="$LLAMA_BUILD/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
has() { [[ " $phases " == *" $1 "* ]]; }
log() { echo "$*" | tee -a "$LOG"; }
: >>"$LOG"
touch "$RES"
if ! command -v nvidia-smi >/dev/null; then
    log "bench-compare: nvidia-smi not found: this script runs on the GPU machine (it reads the GPU's name and memory from nvidia-smi)"
    exit 3
fi
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
# the CPU matters too (expert offload runs experts there): model, CPUs this job may use, all CPUs
CPU="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) threads usable ($(lscpu 2>/dev/null | sed -n 's/^CPU(s): *//p' | head -1) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core: *//p' | head -1) per core)"
log "== bench-compare on $GPU ($(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)); CPU: $CPU; phases: $phases"

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
# gpt-oss-120b: gguf-split shards NAME-0000k-of-0000n.gguf (llama.cpp's names: both tools load
# the rest from the first); moved into place only once all are written
N120=gpt-oss-120b-mxfp4
m120_file() { # the first shard of a complete 120b set, if any
    local d f
    for d in /dev/shm /tmp; do
        for f in "$d/$N120"-00001-of-*.gguf; do
            [ -s "$f" ] && echo "$f" && return 0
        done
    done
    return 1
}
# gen_120b GENTOOL: generates the 120b shards where they fit (memory-backed /dev/shm first)
gen_120b() {
    local tool=$1 need d avail
    m120_file >/dev/null && return 0
    rm -rf /dev/shm/.gen120 /tmp/.gen120 # what an interrupted run left
    # tensor data (--dry-run) plus 1 GiB for the metadata and slack
    need=$($tool --preset gpt-oss-120b --vocab 201088 --dry-run | awk '/^tensors:/ { print $5 }')
    need=$((${need:-63374323968} + (1 << 30)))
    avail=$(df -B1 --output=avail /dev/shm 2>/dev/null | tail -1)
    log "gpt-oss-120b: needs $((need >> 20)) MiB; /dev/shm has $((${avail:-0} >> 20)) MiB free; /tmp has $(($(df -B1 --output=avail /tmp | tail -1) >> 20)) MiB free"
    if [ "${avail:-0}" -ge "$need" ]; then
        d=/dev/shm
    else
        log "gpt-oss-120b: /dev/shm cannot hold it: deleting /tmp's gpt-oss-20b files to write it to /tmp (disk)"
        rm -f /tmp/gpt-oss-20b*.gguf /tmp/gpt-oss-20b*.gguf.part
        avail=$(df -B1 --output=avail /tmp | tail -1)
        if [ "$avail" -lt "$need" ]; then
            log "gpt-oss-120b: /tmp has only $((avail >> 20)) MiB free either: not generated"
            return 1
        fi
        d=/tmp
    fi
    if [ "$(left)" -lt 240 ]; then
        log "gpt-oss-120b: not generated, $(left) s left (about 2 min needed, then the runs)"
        return 1
    fi
    mkdir -p "$d/.gen120"
    log "gpt-oss-120b: generating into $d ($(left) s left)"
    if /usr/bin/time -f "gen-model gpt-oss-120b %e s" timeout $(($(left) - 90)) "$tool" \
        --preset gpt-oss-120b --vocab 201088 --split-max-size 30G --out "$d/.gen120/$N120.gguf" \
        >>"$OUT/gen.log" 2>&1; then
        mv "$d/.gen120/$N120"-*.gguf "$d/"
        rmdir "$d/.gen120"
        log "gpt-oss-120b: $(echo "$d/$N120"-*.gguf)"
    else
        rm -rf "$d/.gen120"
        log "gpt-oss-120b: gen-model failed or ran out of time (see gen.log)"
        return 1
    fi
}
if has gen; then
    GENTOOL=build-gen/tools/gen-model
    [ -x $GENTOOL ] || GENTOOL=$B/tools/gen-model
    (
        for p in $MODELS; do
            [ -s "/tmp/$p.gguf" ] && continue
            # shellcheck disable=SC2046 # preset_args: several words
            /usr/bin/time -f "gen-model $p %e s" "$GENTOOL" $(preset_args "$p") \
                --out "/tmp/$p.gguf.part" >>"$OUT/gen.log" 2>&1 &&
                mv "/tmp/$p.gguf.part" "/tmp/$p.gguf"
        done
        if has oss120; then gen_120b "$GENTOOL"; fi
    ) &
    GEN_PID=$!
fi
if has build; then
    log "== gptc build ($(left) s left)"
    make -j"$J" BUILD="$B" CUDA=1 SETUP=0 "$B/gptc" >>"$LOG" 2>&1 || { tail -30 "$LOG"; exit 2; }
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
# run_pair MODEL LLAMA_ARGS GPTC_ARGS [FILE]: llama-bench, then gptc bench, on the same file
# (default /tmp/MODEL.gguf)
run_pair() {
    local m=$1 la=$2 ga=$3 M=${4:-/tmp/$1.gguf}
    if [ ! -s "$M" ]; then
        log "-- $m: no model file"
        return
    fi
    if [ -x "$LB" ] && [ "$(left)" -gt 40 ]; then
        log "-- llama-bench -m $M -ngl 99 -fa 1 $la -o jsonl"
        # shellcheck disable=SC2086,SC2094 # $la: several words; the log is only appended to
        timeout $(($(left) - 20)) "$LB" -m "$M" -ngl 99 -fa 1 $la -o jsonl 2>>"$LOG" | tee -a "$LOG" |
            llama_tests | while IFS=$'\t' read -r t v; do result "$m" "$t" llama.cpp "$v"; done
    fi
    if [ "$(left)" -gt 30 ]; then
        log "-- gptc bench -m $M $ga --backend cuda"
        # shellcheck disable=SC2086,SC2094 # $ga: several words; the log is only appended to
        timeout $(($(left) - 10)) "$B/gptc" bench -m "$M" $ga --backend cuda 2>>"$LOG" |
            tee -a "$LOG" | gptc_tests |
            while IFS=$'\t' read -r t v; do result "$m" "$t" gptc "$v"; done
    else
        log "-- $m ($ga): skipped, $(left) s left"
    fi
}

# peak_run OUTFILE ERRFILE CMD...: runs CMD (stdout and stderr appended to the files), prints the
# peak nvidia-smi memory.used increase over the run in MiB
peak_run() {
    local o=$1 e=$2 base f=$OUT/mem.samples
    shift 2
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$f" &
    local smi=$!
    "$@" >>"$o" 2>>"$e"
    kill $smi 2>/dev/null
    wait $smi 2>/dev/null
    sort -n "$f" | tail -1 | awk -v b="$base" '{ print $1 - b }'
}
peak_mib() { peak_run "$LOG" "$LOG" "$@"; } # peak_mib CMD...: the same, both to the log

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
        # shellcheck disable=SC2094 # the log is only appended to
        timeout $(($(left) - 30)) "$LBB" -m $M -ngl 99 -fa on -c 8192 -npp 128 -ntg 128 \
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
        # shellcheck disable=SC2094 # the log is only appended to
        timeout $(($(left) - 10)) "$B/gptc" bench -m $M --parallel 1,8,32 -p 128 -n 128 -r 1 \
            --backend cuda 2>>"$LOG" | tee -a "$LOG" |
            awk -F'|' '/^\| / && $6 ~ /[0-9]/ { gsub(/ /, "", $6); gsub(/ /, "", $10); print "parallel " $6 "\t" $10 }' |
            while IFS=$'\t' read -r t v; do result gpt-oss-20b "$t" gptc "$v"; done
    fi
fi
if has mem; then
    # device memory at -c 8192: nvidia-smi's peak during the run minus its figure before
    M=/tmp/gpt-oss-20b.gguf
    if [ -s $M ] && [ "$(left)" -gt 60 ]; then
        if [ -x "$LBB" ]; then
            log "-- memory: llama-batched-bench -c 8192 -npp 512 -ntg 16 -npl 1"
            v=$(peak_mib timeout 90 "$LBB" -m $M -ngl 99 -fa on -c 8192 -npp 512 -ntg 16 -npl 1)
            result gpt-oss-20b "device MiB at -c 8192" llama.cpp "$v"
        fi
        log "-- memory: gptc bench -p 512 -n 16 -c 8192 -r 1"
        v=$(peak_mib timeout 90 "$B/gptc" bench -m $M -p 512 -n 16 -c 8192 -r 1 --backend cuda -v)
        result gpt-oss-20b "device MiB at -c 8192" gptc "$v"
    fi
fi

if has oss120; then
    M120=$(m120_file) || M120=
    if [ -z "$M120" ]; then
        log "-- gpt-oss-120b: no model file (see the gpt-oss-120b lines above)"
    elif [ "$(left)" -lt 150 ]; then
        log "-- gpt-oss-120b: skipped, $(left) s left (each of the two loads takes 20-40 s)"
    else
        log "-- gpt-oss-120b: $M120 (each tool loads the other shards from it)"
        run_pair gpt-oss-120b "-p 512 -n 128 -r $REPS" "-p 512 -n 128 -r $REPS" "$M120"
    fi
fi
# offload_one MODEL FILE BUDGET MIN_S: gptc bench --vram-budget BUDGET -v (its N from -v), then
# llama-bench --n-cpu-moe from that N up (over the limit) or down (under it by a layer's experts
# or more) until the smallest N that fits is bracketed; rows "MODEL @BUDGET". MIN_S: seconds a run
# needs at least (load included).
offload_one() {
    local m=$1 F=$2 bud=$3 min_s=$4 row="$1 @$3" ta=() go=$OUT/offload-gptc.out
    local ge=$OUT/offload-gptc.err bmib n L host perl gpeak lim
    bmib=$(awk -v s="$bud" 'BEGIN { v = s + 0; u = toupper(substr(s, length(s)));
        print int(u == "G" ? v * 1024 : u == "T" ? v * 1048576 : u == "M" ? v : v / 1048576) }')
    if [ ! -s "$F" ]; then
        log "-- $row: no model file"
        return
    fi
    if [ "$(left)" -lt $((2 * min_s)) ]; then
        log "-- $row: skipped, $(left) s left"
        return
    fi
    [ -n "${OTHREADS:-}" ] && ta=(-t "$OTHREADS")
    : >"$go"
    : >"$ge"
    log "-- $row: gptc bench -m $F -p 512 -n 128 -r $OREPS --backend cuda --vram-budget $bud -v ${ta[*]}"
    gpeak=$(peak_run "$go" "$ge" timeout $(($(left) - 10)) "$B/gptc" bench -m "$F" -p 512 -n 128 \
        -r "$OREPS" --backend cuda --vram-budget "$bud" -v "${ta[@]}")
    cat "$go" "$ge" >>"$LOG"
    gptc_tests <"$go" | while IFS=$'\t' read -r t v; do result "$row" "$t" gptc "$v"; done
    # -v: "expert offload: the experts of N of L layers in host memory, run on T CPU threads..."
    # or "expert offload: none, every expert on the GPU" (engine/memplan.c, cuda/backend.c)
    n=$(sed -n -e 's/.*expert offload: the experts of \([0-9]*\) of [0-9]* layers.*/\1/p' \
        -e 's/.*expert offload: none.*/0/p' "$ge" | head -1)
    L=$(sed -n 's/.*expert offload: the experts of [0-9]* of \([0-9]*\) layers.*/\1/p' "$ge" | head -1)
    host=$(awk '/weights in host memory/ { for (i = 2; i <= NF; i++) if ($i == "bytes") print $(i - 1) }' "$ge" | head -1)
    if [ -z "$n" ]; then
        log "   gptc: no expert-offload line in its -v output: $(grep -m1 'error' "$ge")"
        return
    fi
    perl=0
    [ "$n" -gt 0 ] && [ -n "$host" ] && perl=$((host / n >> 20))
    log "   gptc: n-cpu-moe $n${L:+ of $L layers}, $(sed -n 's/.*run on \([0-9]*\) CPU threads.*/\1/p' "$ge" | head -1) CPU threads, a layer's experts ${perl} MiB, peak device memory $gpeak MiB (budget $bmib MiB)"
    result "$row" "n-cpu-moe" gptc "$n"
    result "$row" "device MiB (peak)" gptc "$gpeak"
    [ -x "$LB" ] || return
    # the limit llama.cpp must fit: the budget, or what gptc itself took if that is more (its
    # budget counts its own allocations, nvidia-smi also the CUDA context)
    lim=$bmib
    [ "${gpeak:-0}" -gt "$lim" ] && lim=$gpeak
    log "   llama.cpp must fit $lim MiB of device memory"
    local cur=$n lo=-1 hi=-1 hipeak='' k=0 lp d ok lf
    while [ "$k" -lt "$OFFLOAD_TRIES" ] && [ "$(left)" -ge "$min_s" ]; do
        k=$((k + 1))
        lf=$OUT/offload-llama-$cur.jsonl
        : >"$lf"
        log "-- $row: llama-bench -m $F -ngl 99 -fa 1 -p 512 -n 128 -r $OREPS -ncmoe $cur ${ta[*]} -o jsonl"
        lp=$(peak_run "$lf" "$LOG" timeout $(($(left) - 10)) "$LB" -m "$F" -ngl 99 -fa 1 -p 512 \
            -n 128 -r "$OREPS" -ncmoe "$cur" "${ta[@]}" -o jsonl)
        cat "$lf" >>"$LOG"
        ok=0
        [ "$(llama_tests <"$lf" | wc -l)" -ge 2 ] && ok=1
        log "   llama.cpp -ncmoe $cur: peak $lp MiB, $(sed -n 's/.*"n_threads": *\([0-9]*\).*/\1/p' "$lf" | head -1) threads$([ $ok = 1 ] || echo ', no results (failed or out of time)')"
        if [ $ok = 1 ] && [ "${lp:-999999}" -le "$lim" ]; then
            hi=$cur # fits: fewer offloaded layers, if a layer's experts more would still fit
            hipeak=$lp
            d=1
            [ "$perl" -gt 0 ] && d=$(((lim - lp) / perl))
            [ "$d" -lt 1 ] || [ "$cur" -eq 0 ] && break
            cur=$((cur - d))
            [ "$cur" -le "$lo" ] && cur=$((lo + 1))
            [ "$cur" -lt 0 ] && cur=0
        elif [ $ok = 1 ]; then
            lo=$cur # over the limit: more offloaded layers
            d=1
            [ "$perl" -gt 0 ] && d=$(((lp - lim + perl - 1) / perl))
            [ "$d" -lt 1 ] && d=1
            cur=$((cur + d))
            [ "$hi" -ge 0 ] && [ "$cur" -ge "$hi" ] && cur=$((hi - 1))
            [ -n "$L" ] && [ "$cur" -gt "$L" ] && cur=$L
            [ "$cur" -le "$lo" ] && break # nothing left to try (all layers already over)
        else
            break
        fi
        [ "$hi" -ge 0 ] && [ "$hi" -eq $((lo + 1)) ] && break
    done
    if [ "$hi" -lt 0 ]; then
        log "   llama.cpp: no -ncmoe tried fits $lim MiB: no llama.cpp figures for $row"
        return
    fi
    if [ "$hi" -eq 0 ] || [ "$lo" -eq $((hi - 1)) ]; then
        log "   llama.cpp: -ncmoe $hi fits (peak $hipeak MiB)$([ "$lo" -lt 0 ] || echo ", -ncmoe $lo does not")"
    else
        log "   llama.cpp: -ncmoe $hi fits (peak $hipeak MiB); $((hi - 1)) not tried (out of tries or time, or gptc's size of a layer's experts says it would not fit)"
    fi
    lf=$OUT/offload-llama-$hi.jsonl
    llama_tests <"$lf" | while IFS=$'\t' read -r t v; do result "$row" "$t" llama.cpp "$v"; done
    result "$row" "n-cpu-moe" llama.cpp "$hi"
    result "$row" "device MiB (peak)" llama.cpp "$hipeak"
}
if has offload; then
    for mb in $OFFLOAD; do
        m=${mb%%:*}
        case $m in
        gpt-oss-120b)
            min_s=100
            F=$(m120_file) || F=
            ;;
        *)
            min_s=45
            F=/tmp/$m.gguf
            ;;
        esac
        offload_one "$m" "$F" "${mb#*:}" "$min_s"
    done
fi

# ---- the table ------------------------------------------------------------------------------
python3 - "$RES" "$GPU" "$CPU" >"$OUT/compare.md" <<'EOF'
import sys
rows, order = {}, []
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split("\t")
    if len(p) != 4: continue
    try:
        v = float(p[3])
    except ValueError:
        continue
    key = (p[0], p[1])
    if key not in rows:
        rows[key] = {}
        order.append(key)
    rows[key][p[2]] = v
print("GPU: %s. CPU: %s. Rates in tokens/s (parallel: aggregate generated t/s); memory in"
      " MiB, lower is better; ratio = gptc / llama.cpp. Rows \"MODEL @SIZE\": gptc with"
      " --vram-budget SIZE, llama.cpp with the smallest --n-cpu-moe that fits it (n-cpu-moe:"
      " layers whose experts are in host memory)." % (sys.argv[2], sys.argv[3]))
print()
print("| model | test | llama.cpp | gptc | ratio |")
print("| --- | --- | ---: | ---: | ---: |")
def fmt(v, test):
    if v is None: return "-"
    return "%d" % v if test == "n-cpu-moe" else "%.2f" % v
for key in order:
    r = rows[key]
    l, g = r.get("llama.cpp"), r.get("gptc")
    ratio = "%.2fx" % (g / l) if l and g and key[1] != "n-cpu-moe" else "-"
    print("| %s | %s | %s | %s | %s |" % (key[0], key[1], fmt(l, key[1]), fmt(g, key[1]), ratio))
EOF
log "== bench-compare: done in $(($(date +%s) - T0)) s"
cat "$OUT/compare.md"
