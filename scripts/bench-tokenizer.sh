#!/usr/bin/env bash
# bench-tokenizer.sh — encoding speed of gptc's tokenizer vs Hugging Face tokenizers (Rust 0.22,
# through the npm native module @anush008/tokenizers@0.6.0), single thread, same text, same run.
#
#   scripts/bench-tokenizer.sh [BUILD_DIR] [MB]      (defaults: build, 4)
#   DIFF=N scripts/bench-tokenizer.sh ...   also N seeded random texts (all Unicode planes,
#                                           whitespace kinds, special-token fragments) through
#                                           both, special tokens on and off (default 5000; 0 = skip)
#
# The text is generated deterministically (English prose, C/Python code, CJK), MB megabytes.
# Both sides time only the encode call on the whole text (tokenizer loading excluded), best of 3.
# It also checks that both produce the same ids. Needs node/npm (installs into .cache/bench-tok).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MB=${2:-4}
GPTC=$BUILD/gptc
DIR=.cache/bench-tok
mkdir -p "$DIR"
[ -x "$GPTC" ] || { echo "bench-tokenizer: $GPTC not built (make BUILD=$BUILD $GPTC)" >&2; exit 1; }

if [ ! -d "$DIR/node_modules/@anush008/tokenizers" ]; then
  (cd "$DIR" && npm install --no-audit --no-fund --silent @anush008/tokenizers@0.6.0 >&2)
fi

CORPUS=$DIR/corpus-$MB.txt
if [ ! -s "$CORPUS" ]; then
python3 - "$CORPUS" "$MB" <<'PY'
import random, sys
path, mb = sys.argv[1], float(sys.argv[2])
rng = random.Random(20251127)
words = ("the of and to in is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there been one all we their has would when if "
         "so no will can more about said what out up them into time some could only other new "
         "people than first also after made two like over such years these between through "
         "government system number world development during however without example several "
         "language model tokenizer performance measurement research history different").split()
idents = "count index buffer length value result node tree parse token state offset size".split()
def prose():
    out = []
    for _ in range(rng.randint(3, 8)):
        n = rng.randint(6, 22)
        s = [rng.choice(words) for _ in range(n)]
        s[0] = s[0].capitalize()
        if rng.random() < 0.3: s.insert(rng.randrange(n), str(rng.randint(1, 99999)))
        if rng.random() < 0.2: s.insert(rng.randrange(n), rng.choice(["don't", "it's", "they're", "we'll"]))
        if rng.random() < 0.3: s[rng.randrange(n)] += ","
        out.append(" ".join(s) + rng.choice([".", ".", ".", "?", "!"]))
    return " ".join(out) + "\n\n"
def code():
    out = []
    for _ in range(rng.randint(4, 12)):
        a, b = rng.choice(idents), rng.choice(idents)
        k = rng.random()
        if k < 0.25: out.append(f"    if ({a} >= {rng.randint(0, 4096)}) {{ {b}[{a}] += 0x{rng.randint(0, 65535):04x}; }}")
        elif k < 0.5: out.append(f"def {a}_{b}(self, {a}: int = {rng.randint(0,9)}) -> list[str]:")
        elif k < 0.75: out.append(f"\tfor (size_t i = 0; i < {a}_{b}; i++) sum += {a}[i] * {rng.random():.4f};")
        else: out.append(f"        return {{\"{a}\": {rng.randint(0, 10**6)}, \"{b}\": [{a}, {b}]}}  # {rng.choice(words)}")
    return "\n".join(out) + "\n\n"
def cjk():
    out = []
    for _ in range(rng.randint(20, 80)):
        r = rng.random()
        if r < 0.7: out.append(chr(rng.randint(0x4E00, 0x9FA5)))
        elif r < 0.85: out.append(chr(rng.randint(0x3041, 0x3096)))
        elif r < 0.93: out.append(rng.choice("，。、！？「」"))
        else: out.append(chr(rng.randint(0xAC00, 0xD7A3)))
    return "".join(out) + "\n\n"
parts, size, target = [], 0, int(mb * 1e6)
while size < target:
    r = rng.random()
    p = prose() if r < 0.6 else code() if r < 0.85 else cjk()
    parts.append(p); size += len(p.encode())
open(path, "w", encoding="utf-8").write("".join(parts))
PY
fi
BYTES=$(stat -c %s "$CORPUS")
# the same text as one JSON line per paragraph (for the many-short-texts case)
JSONL=$DIR/corpus-$MB.jsonl
[ -s "$JSONL" ] || python3 - "$CORPUS" "$JSONL" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
paras = text.split("\n\n")
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for i, p in enumerate(paras):
        f.write(json.dumps({"text": p + ("\n\n" if i + 1 < len(paras) else "")}, ensure_ascii=False) + "\n")
PY

cat > "$DIR/hf.js" <<'JS'
// node hf.js TOKENIZER.json CORPUS OUT_IDS whole|jsonl -> best encode milliseconds of 3 runs
const { Tokenizer } = require('@anush008/tokenizers');
const fs = require('fs');
(async () => {
  const [tokPath, corpus, outIds, mode] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tokPath);
  const raw = fs.readFileSync(corpus, 'utf8');
  const texts = mode === 'whole' ? [raw] : raw.split('\n').filter(l => l.length).map(l => JSON.parse(l).text);
  let best = Infinity, out = [];
  for (let r = 0; r < 3; r++) {
    let ms = 0;
    const encs = [];
    for (const t of texts) {
      const t0 = process.hrtime.bigint();
      const enc = await tok.encode(t, null, { addSpecialTokens: false });
      ms += Number(process.hrtime.bigint() - t0) / 1e6;
      if (r === 0) encs.push(enc);
    }
    best = Math.min(best, ms);
    if (r === 0) out = encs.map(e => (mode === 'whole' ? '' : '[') + e.getIds().join(mode === 'whole' ? ' ' : ',') + (mode === 'whole' ? '' : ']'));
  }
  fs.writeFileSync(outIds, out.join('\n') + '\n');
  console.log(best.toFixed(1));
})();
JS

export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1
printf '%-9s %-11s %6s %11s %9s %7s %s\n' tokenizer input MB "gptc MB/s" "HF MB/s" ratio "same ids"
for name in gpt2 gpt-oss; do
  if [ "$name" = gpt2 ]; then TJ=test/data/tokenizer/gpt2/tokenizer.json; else TJ=.cache/gpt-oss/tokenizer.json; fi
  [ -f "$TJ" ] || { echo "bench-tokenizer: $TJ missing (scripts/setup.sh fetches it)" >&2; continue; }
  for mode in whole paragraphs; do
    if [ $mode = whole ]; then IN=$CORPUS; FLAGS=""; HM=whole; else IN=$JSONL; FLAGS=--jsonl; HM=jsonl; fi
    best=""
    for r in 1 2 3; do
      "$GPTC" tokenize --tokenizer "$TJ" $FLAGS --stats < "$IN" 2>"$DIR/stats.txt" > "$DIR/gptc-$name-$mode.ids"
      ms=$(sed -E 's/.* in ([0-9.]+) ms.*/\1/' "$DIR/stats.txt")
      if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$ms; fi
    done
    hf=$(cd "$DIR" && node hf.js "$OLDPWD/$TJ" "$OLDPWD/$IN" "$OLDPWD/$DIR/hf-$name-$mode.ids" $HM)
    same=no; cmp -s "$DIR/gptc-$name-$mode.ids" "$DIR/hf-$name-$mode.ids" && same=yes
    awk -v n="$name" -v m="$mode" -v b="$BYTES" -v g="$best" -v h="$hf" -v s="$same" 'BEGIN{
      gm=b/1e6/(g/1e3); hm=b/1e6/(h/1e3);
      printf "%-9s %-11s %6.2f %11.2f %9.2f %6.2fx %s\n", n, m, b/1e6, gm, hm, gm/hm, s }'
  done
done

# --- differential check on random texts ----------------------------------------------------------
DIFF=${DIFF:-5000}
[ "$DIFF" -gt 0 ] || exit 0
cat > "$DIR/diff.js" <<'JS'
// differential check: random texts -> HF ids (special on) ; writes texts.jsonl and hf.jsonl
const { Tokenizer } = require('@anush008/tokenizers');
const fs = require('fs');
const [tokPath, n, seed, outDir] = process.argv.slice(2);
let s = Number(seed) >>> 0;
function rnd() { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }
const pick = a => a[Math.floor(rnd() * a.length)];
const specials = ['<|endoftext|>', '<|start|>', '<|message|>', '<|end|>', '<|channel|>', '<|return|>', '<|startoftext|>', '<|', '|>', '<|endoftext', "'s", "'LL", "'ſ"];
const ws = [' ', '  ', '\t', '\n', '\r\n', '\r', '\u000b', '\u000c', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u200b'];
function randCp() {
  const r = rnd();
  if (r < 0.4) return 0x20 + Math.floor(rnd() * 95);
  if (r < 0.55) return 0x80 + Math.floor(rnd() * 0x780);
  if (r < 0.8) { let c; do { c = 0x800 + Math.floor(rnd() * (0x10000 - 0x800)); } while (c >= 0xD800 && c < 0xE000); return c; }
  if (r < 0.9) return 0x10000 + Math.floor(rnd() * 0x20000);
  return Math.floor(rnd() * 0x20);
}
const texts = [];
for (let i = 0; i < Number(n); i++) {
  let t = '';
  const atoms = 1 + Math.floor(rnd() * 40);
  for (let k = 0; k < atoms; k++) {
    const r = rnd();
    if (r < 0.5) t += String.fromCodePoint(randCp());
    else if (r < 0.7) t += pick(ws);
    else if (r < 0.8) t += pick(specials);
    else if (r < 0.9) t += pick(['hello', 'World', 'HTTPServer', '12345', '3.14', 'don\'t', 'ÉCOLE', 'naïve', '東京', 'привет', 'नमस्ते']);
    else t += String.fromCodePoint(randCp()).repeat(1 + Math.floor(rnd() * 20));
  }
  texts.push(t);
}
(async () => {
  const tok = Tokenizer.fromFile(tokPath);
  const out = [];
  for (const t of texts) out.push(JSON.stringify((await tok.encode(t, null, { addSpecialTokens: false })).getIds()));
  fs.writeFileSync(outDir + '/texts.jsonl', texts.map(t => JSON.stringify({ text: t })).join('\n') + '\n');
  fs.writeFileSync(outDir + '/hf.jsonl', out.join('\n') + '\n');
})();
JS
echo
printf '%-9s %-8s %7s %9s\n' tokenizer special texts "differ"
for name in gpt2 gpt-oss; do
  if [ "$name" = gpt2 ]; then TJ=test/data/tokenizer/gpt2/tokenizer.json; else TJ=.cache/gpt-oss/tokenizer.json; fi
  [ -f "$TJ" ] || continue
  # HF without special matching = the same file without its special added tokens (README)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['added_tokens']=[t for t in d['added_tokens'] if not t['special']]; json.dump(d,open(sys.argv[2],'w'))" "$TJ" "$DIR/plain-$name.json"
  for mode in on off; do
    D=$DIR/diff-$name-$mode; mkdir -p "$D"
    if [ $mode = on ]; then HJ=$PWD/$TJ; F=""; SEED=7; else HJ=$PWD/$DIR/plain-$name.json; F=--no-special; SEED=11; fi
    (cd "$DIR" && node diff.js "$HJ" "$DIFF" $SEED "$OLDPWD/$D")
    "$GPTC" tokenize --tokenizer "$TJ" $F --jsonl < "$D/texts.jsonl" > "$D/gptc.jsonl"
    nd=$(diff "$D/hf.jsonl" "$D/gptc.jsonl" | grep -c '^<' || true)
    printf '%-9s %-8s %7d %9d\n' "$name" "$mode" "$DIFF" "$nd"
  done
done
