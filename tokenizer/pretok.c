/* pretok.c — hand-written matchers for the GPT-2 and o200k pre-tokenizer regexes with
 * Oniguruma semantics (ordered alternation, greedy quantifiers with backtracking), Unicode
 * 16.0 categories from unicode.c. Each call scans its own piece plus a bounded look-ahead; the
 * only longer scans (an upper-ish run that alternative 1 of o200k rejects, a whitespace run
 * without CR/LF) are followed by calls that consume what they scanned, so a whole segment is
 * split in linear time. See docs/tokenizer.md and pretok.h. */
#include "tokenizer/pretok.h"

#include "tokenizer/unicode.h"

static const char PAT_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
                               "\\s+(?!\\S)|\\s+";
static const char PAT_O200K[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *gt_pretok_pattern(gt_pretok_kind kind) {
    return kind == GT_PRETOK_O200K ? PAT_O200K : PAT_GPT2;
}

/* Class bits of the code point at t[i] (i < n); *next = offset after it. */
static inline unsigned cls_at(const uint8_t *t, size_t n, size_t i, size_t *next) {
    if (t[i] < 0x80) {
        *next = i + 1;
        return gt_uc_ascii_class[t[i]];
    }
    size_t adv;
    uint32_t cp = gt_utf8_decode(t + i, n - i, &adv);
    *next = i + adv;
    return gt_uc_class_slow(cp);
}

/* End of the longest run starting at i of code points having any bit of `bits`. */
static size_t run_any(const uint8_t *t, size_t n, size_t i, unsigned bits) {
    while (i < n) {
        size_t nx;
        if (!(cls_at(t, n, i, &nx) & bits)) break;
        i = nx;
    }
    return i;
}

/* End of the longest run starting at i of code points with none of `bits` (the class
 * [^\s\p{L}\p{N}] with bits = S|L|N). */
static size_t run_none(const uint8_t *t, size_t n, size_t i, unsigned bits) {
    while (i < n) {
        size_t nx;
        if (cls_at(t, n, i, &nx) & bits) break;
        i = nx;
    }
    return i;
}

/* A whitespace run starting at i (t[i] is \s): its end, the start of its last code point,
 * the end of its last CR/LF (0 if none) and whether it has at least two code points. */
typedef struct ws_run {
    size_t end, last_start, crlf_end;
    int multi;
} ws_run;

static ws_run scan_ws(const uint8_t *t, size_t n, size_t i) {
    ws_run r = {i, i, 0, 0};
    int count = 0;
    while (i < n) {
        size_t nx;
        unsigned k = cls_at(t, n, i, &nx);
        if (!(k & GT_UC_S)) break;
        if (k & GT_UC_CRLF) r.crlf_end = nx;
        r.last_start = i;
        count++;
        i = nx;
    }
    r.end = i;
    r.multi = count >= 2;
    return r;
}

/* \s+(?!\S)|\s+ at a whitespace run: the whole run at end of text, else all but its last code
 * point when that leaves at least one, else the single code point. */
static size_t ws_tail(const ws_run *r, size_t n) {
    if (r->end == n || !r->multi) return r->end;
    return r->last_start;
}

/* ---- GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ ---- */

static size_t next_gpt2(const uint8_t *t, size_t n, size_t pos) {
    uint8_t c0 = t[pos];
    if (c0 == '\'' && pos + 1 < n) { /* case-sensitive ASCII contractions */
        uint8_t c1 = t[pos + 1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return pos + 2;
        if (pos + 2 < n &&
            (((c1 == 'r' || c1 == 'v') && t[pos + 2] == 'e') || (c1 == 'l' && t[pos + 2] == 'l')))
            return pos + 3;
    }
    size_t start = pos, nx;
    if (c0 == ' ' && pos + 1 < n) start = pos + 1; /* " ?" taken when the next class matches */
    unsigned k = cls_at(t, n, start, &nx);
    if (start != pos && (k & GT_UC_S)) { /* " " then whitespace: no " ?X+" alternative */
        start = pos;
        k = GT_UC_S;
    }
    if (k & GT_UC_L) return run_any(t, n, nx, GT_UC_L);
    if (k & GT_UC_N) return run_any(t, n, nx, GT_UC_N);
    if (!(k & GT_UC_S)) return run_none(t, n, nx, GT_UC_S | GT_UC_L | GT_UC_N);
    ws_run r = scan_ws(t, n, pos);
    return ws_tail(&r, n);
}

/* ---- o200k ---- */

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)? at e, with Unicode simple case folding: besides ASCII upper
 * case only U+017F (long s) folds onto one of these letters (checked by the table script). */
static size_t contraction(const uint8_t *t, size_t n, size_t e) {
    if (e + 1 >= n || t[e] != '\'') return e;
    uint8_t c1 = t[e + 1] | 0x20; /* ASCII letters to lower case; others are rejected below */
    if (t[e + 1] < 0x80) {
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return e + 2;
        if (e + 2 < n) {
            uint8_t c2 = t[e + 2] | 0x20;
            if (((c1 == 'r' || c1 == 'v') && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return e + 3;
        }
        return e;
    }
    if (t[e + 1] == 0xC5 && e + 2 < n && t[e + 2] == 0xBF) return e + 3; /* 'ſ */
    return e;
}

/* Alternative 1 after the optional prefix, from s: [U]*[W]+ then the contraction, where
 * U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]. U* is greedy and gives
 * back code points until W+ can match: W+ starts at the end of the U run when a W (i.e. Ll)
 * follows it, else at the last W inside the run (whose W-run then is just that code point, as
 * the rest of the run is Lu/Lt). Returns 0 when no W exists there. */
static size_t o200k_alt1(const uint8_t *t, size_t n, size_t s) {
    size_t i = s, last_w_end = 0;
    while (i < n) {
        size_t nx;
        unsigned k = cls_at(t, n, i, &nx);
        if (!(k & GT_UC_UPPER)) {
            if (k & GT_UC_LOWER) return contraction(t, n, run_any(t, n, nx, GT_UC_LOWER));
            break;
        }
        if (k & GT_UC_LOWER) last_w_end = nx;
        i = nx;
    }
    if (!last_w_end) return 0;
    return contraction(t, n, last_w_end);
}

/* Alternative 2 after the optional prefix, from s: [U]+[W]* then the contraction; 0 if no U. */
static size_t o200k_alt2(const uint8_t *t, size_t n, size_t s) {
    size_t e = run_any(t, n, s, GT_UC_UPPER);
    if (e == s) return 0;
    return contraction(t, n, run_any(t, n, e, GT_UC_LOWER));
}

static size_t next_o200k(const uint8_t *t, size_t n, size_t pos) {
    size_t n0, e;
    unsigned k0 = cls_at(t, n, pos, &n0);
    /* [^\r\n\p{L}\p{N}]? is tried with the prefix first, then without */
    int prefix = !(k0 & (GT_UC_CRLF | GT_UC_L | GT_UC_N)) && n0 < n;
    if (prefix && (e = o200k_alt1(t, n, n0))) return e;
    if ((k0 & (GT_UC_UPPER | GT_UC_LOWER)) && (e = o200k_alt1(t, n, pos))) return e;
    if (prefix && (e = o200k_alt2(t, n, n0))) return e;
    if ((k0 & GT_UC_UPPER) && (e = o200k_alt2(t, n, pos))) return e;
    if (k0 & GT_UC_N) { /* \p{N}{1,3} */
        e = n0;
        for (int c = 1; c < 3 && e < n; c++) {
            size_t nx;
            if (!(cls_at(t, n, e, &nx) & GT_UC_N)) break;
            e = nx;
        }
        return e;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n/]* */
    const unsigned SLN = GT_UC_S | GT_UC_L | GT_UC_N;
    size_t q = 0;
    if (!(k0 & SLN)) {
        q = n0;
    } else if (t[pos] == ' ' && n0 < n) {
        size_t nx;
        if (!(cls_at(t, n, n0, &nx) & SLN)) q = nx;
    }
    if (q) {
        e = run_none(t, n, q, SLN);
        while (e < n && (t[e] == '\r' || t[e] == '\n' || t[e] == '/')) e++;
        return e;
    }
    if (k0 & GT_UC_S) {
        ws_run r = scan_ws(t, n, pos);
        if (r.crlf_end) return r.crlf_end; /* \s*[\r\n]+ */
        return ws_tail(&r, n);             /* \s+(?!\S)|\s+ */
    }
    return n0; /* unreachable: every code point starts some alternative */
}

size_t gt_pretok_next(gt_pretok_kind kind, const uint8_t *text, size_t len, size_t pos) {
    if (pos >= len) return len;
    return kind == GT_PRETOK_O200K ? next_o200k(text, len, pos) : next_gpt2(text, len, pos);
}
