#!/usr/bin/env bash
# gpu-prep.sh — run on the development machine (it has Debian's package mirror; the GPU machine
# has no network) before a session's first device call: downloads into the git-ignored
# .dev/debs the .deb packages that scripts/gpu-env.sh unpacks there (the headers and libraries
# the build and the tests need, and the tests' JSON Schema validator), then prints the call.
#   scripts/gpu-prep.sh            then: run tool, command "scripts/gpu-test.sh \"build test\"",
#                                  carry [".dev/debs", ".cache/gpt-oss"], timeout_s 600
set -eu
cd "$(dirname "$0")/.."
mkdir -p .dev/debs
cd .dev/debs
pkgs="libutf8proc-dev libutf8proc2 libcjson-dev libcjson1 check libsubunit-dev libsubunit0
      libcurl4-openssl-dev libcurl4 python3-jsonschema python3-attr python3-pyrsistent"
# shellcheck disable=SC2086 # the list is words
apt-get download $pkgs >/dev/null 2>&1 || {
    echo "gpu-prep: apt-get download failed (no package lists? try: apt-get update)" >&2
    exit 1
}
echo "gpu-prep: $(ls ./*.deb | wc -l) packages in .dev/debs ($(du -sh . | cut -f1))"
[ -s ../../.cache/gpt-oss/tokenizer.json ] ||
    echo "gpu-prep: no .cache/gpt-oss/tokenizer.json: run scripts/fetch-gptoss-tokenizer.sh" >&2
echo "next: run tool, command 'scripts/gpu-test.sh \"build test\"'," \
    "carry [\".dev/debs\", \".cache/gpt-oss\"], timeout_s 600;" \
    "then, on the warm machine, 'scripts/gpu-test.sh knobs'"
