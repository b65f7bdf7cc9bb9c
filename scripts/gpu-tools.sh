#!/usr/bin/env bash
# gpu-tools.sh — function calling on the GPU machine (one device call): builds with CUDA, then
# runs the tool tests with the CUDA backend picked automatically: the harmony parser's call
# variants (test_harmony), one-shot tool_calls and the chat tool loop driven through a scripted
# random-weight gpt-oss model (test_cli_tools), and, when python3 has jinja2 there, the
# rendering against gpt-oss's Jinja template (test_render_ref). Logs go to $OUT.
#   run tool: command "scripts/gpu-tools.sh", carry [".dev/debs"], timeout_s 600
set -u
OUT=${OUT:-/tmp/gptc-out}
mkdir -p "$OUT"
. scripts/gpu-env.sh
B=${B:-build-cuda}
J=$(nproc)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
tests="test_harmony test_cli_tools test_jval"
python3 -c 'import jinja2' 2>/dev/null && tests="$tests test_render_ref" ||
    echo "python3-jinja2 missing here: test_render_ref skipped (it runs in CPU CI)" | tee -a "$OUT/tools.log"
make -j"$J" BUILD=$B CUDA=1 SETUP=0 all $(for t in $tests; do echo $B/test/$t; done) \
    >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
rc=0
for t in $tests; do
    echo "== $t" | tee -a "$OUT/tools.log"
    GPTC_BUILD=$B $B/test/$t >>"$OUT/tools.log" 2>&1 || rc=1
done
# the backend the tool tests ran on
$B/gptc -m $B/test-models/tiny-gpt-oss-s1.gguf -p hi -n 1 -v 2>&1 | grep -i "model:" |
    tee -a "$OUT/tools.log"
grep -E "^(==|[0-9]+%)|:F:|:E:" "$OUT/tools.log"
exit $rc
