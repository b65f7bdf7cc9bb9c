#!/usr/bin/env python3
"""Independent checks of constrained output (the tests of gptc's grammar engine call this).

  check_constrained.py CASES.json

CASES.json is a list of {"kind": "schema", "schema": {...}, "text": "..."} or
{"kind": "gbnf" | "gbnf-prefix", "grammar": "GBNF text", "text": "..."}. Every text must be
valid (gbnf-prefix: a prefix of some sentence of the grammar, for answers cut by -n): a JSON Schema
case is parsed with json.loads and validated with the jsonschema package (Draft 2020-12, with its
format checker: date, time, date-time, uuid, email, ipv4 where it knows them); a GBNF case is
recognised by the Earley parser below, written from llama.cpp's grammars/README.md and sharing
no code with gptc. Prints "ok N" and exits 0, or prints the first failures and exits 1.
"""
import json
import re
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover
    print("python3-jsonschema is not installed (scripts/setup.sh installs it)")
    sys.exit(2)


# ---- GBNF -> context-free grammar over code points -------------------------------------------
class Gbnf:
    """rules: name -> list of alternatives; an alternative is a list of symbols; a symbol is a
    nonterminal name (str) or a terminal (a tuple of (lo, hi) code point ranges, negated flag)."""

    def __init__(self, text):
        self.s = text
        self.i = 0
        self.rules = {}
        self.n = 0
        self.parse()

    def fresh(self, alts):
        self.n += 1
        name = "_g%d" % self.n
        self.rules[name] = alts
        return name

    def ws(self, newline):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "#":
                while self.i < len(self.s) and self.s[self.i] not in "\r\n":
                    self.i += 1
            elif c in " \t" or (newline and c in "\r\n"):
                self.i += 1
            else:
                break

    def name(self):
        m = re.compile(r"[A-Za-z0-9_-]+").match(self.s, self.i)
        if not m:
            raise ValueError("expected a name at %d" % self.i)
        self.i = m.end()
        return m.group(0)

    def char(self):
        c = self.s[self.i]
        if c != "\\":
            self.i += 1
            return ord(c)
        e = self.s[self.i + 1]
        self.i += 2
        n = {"x": 2, "u": 4, "U": 8}.get(e)
        if n:
            v = int(self.s[self.i:self.i + n], 16)
            self.i += n
            return v
        return ord({"n": "\n", "r": "\r", "t": "\t"}.get(e, e))

    def parse(self):
        self.ws(True)
        while self.i < len(self.s):
            n = self.name()
            self.ws(False)
            assert self.s.startswith("::=", self.i), "expected ::="
            self.i += 3
            self.ws(True)
            self.rules[n] = self.alternates(False)
            self.ws(True)

    def alternates(self, nested):
        alts = [self.sequence(nested)]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            self.ws(True)
            alts.append(self.sequence(nested))
        return alts

    def sequence(self, nested):
        seq = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                lit = []
                while self.s[self.i] != '"':
                    cp = self.char()
                    lit.append((((cp, cp),), False))
                self.i += 1
                seq.append(lit)
            elif c == "[":
                self.i += 1
                neg = self.s[self.i] == "^"
                if neg:
                    self.i += 1
                ranges = []
                while self.s[self.i] != "]":
                    lo = self.char()
                    hi = lo
                    if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                        self.i += 1
                        hi = self.char()
                    ranges.append((lo, hi))
                self.i += 1
                seq.append([(tuple(ranges), neg)])
            elif c == ".":
                self.i += 1
                seq.append([(((0, 0x10FFFF),), False)])
            elif c == "(":
                self.i += 1
                self.ws(True)
                g = self.fresh(self.alternates(True))
                assert self.s[self.i] == ")"
                self.i += 1
                seq.append([g])
            elif re.match(r"[A-Za-z0-9_-]", c):
                seq.append([self.name()])
            elif c in "*+?{":
                last = seq.pop()
                item = last[0] if len(last) == 1 else self.fresh([last])
                self.i += 1
                if c == "*":
                    lo, hi = 0, None
                elif c == "+":
                    lo, hi = 1, None
                elif c == "?":
                    lo, hi = 0, 1
                else:
                    m = re.compile(r"\s*(\d*)\s*(,?)\s*(\d*)\s*}").match(self.s, self.i)
                    self.i = m.end()
                    lo = int(m.group(1) or 0)
                    hi = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
                rep = [item] * lo
                if hi is None:
                    star = "_g%d" % (self.n + 1)
                    self.n += 1
                    self.rules[star] = [[star, item], []]  # left recursion: linear in Earley
                    rep.append(star)
                else:
                    tail = None
                    for _ in range(hi - lo):
                        tail = self.fresh([[item] + ([tail] if tail else []), []])
                    if tail:
                        rep.append(tail)
                seq.append(rep)
            else:
                break
            self.ws(nested)
        return [sym for part in seq for sym in part]


def term_match(t, cp):
    ranges, neg = t
    inside = any(lo <= cp <= hi for lo, hi in ranges)
    return inside != neg


def earley(g, text, start="root"):
    """Earley recognition with the nullable-completion fix (Aycock and Horspool). Returns
    (accepted, chars read before the chart died)."""
    rules = g.rules
    nullable = set()
    changed = True
    while changed:
        changed = False
        for n, alts in rules.items():
            if n not in nullable and any(all(isinstance(s, str) and s in nullable for s in a)
                                         for a in alts):
                nullable.add(n)
                changed = True
    cps = [ord(c) for c in text]
    sets = []  # per position: set of items (rule, alt, dot, origin)
    waits = []  # per position: nonterminal -> items waiting for it there
    nxt = set()
    for ai in range(len(rules[start])):
        nxt.add((start, ai, 0, 0))
    for k in range(len(cps) + 1):
        items = set()
        wait = {}
        sets.append(items)
        waits.append(wait)
        work = list(nxt)
        nxt = set()
        items.update(work)
        while work:
            it = work.pop()
            r, ai, dot, org = it
            alt = rules[r][ai]
            if dot == len(alt):  # complete: advance what waited for r at its origin
                for (r2, a2, d2, o2) in list(waits[org].get(r, ())):
                    n2 = (r2, a2, d2 + 1, o2)
                    if n2 not in items:
                        items.add(n2)
                        work.append(n2)
                continue
            sym = alt[dot]
            if isinstance(sym, str):
                wait.setdefault(sym, []).append(it)
                for a in range(len(rules[sym])):
                    n2 = (sym, a, 0, k)
                    if n2 not in items:
                        items.add(n2)
                        work.append(n2)
                if sym in nullable:
                    n2 = (r, ai, dot + 1, org)
                    if n2 not in items:
                        items.add(n2)
                        work.append(n2)
            elif k < len(cps) and term_match(sym, cps[k]):
                nxt.add((r, ai, dot + 1, org))
        if k < len(cps) and not nxt:
            return False, k
    ok = any(r == start and d == len(rules[r][a]) and o == 0 for (r, a, d, o) in sets[-1])
    return ok, len(cps)


def main():
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    bad = []
    grammars = {}
    fmt = jsonschema.FormatChecker()
    for i, c in enumerate(cases):
        text = c["text"]
        if c["kind"] == "schema":
            try:
                v = json.loads(text)
                jsonschema.validate(v, c["schema"], cls=jsonschema.Draft202012Validator,
                                    format_checker=fmt)
            except Exception as e:  # noqa: BLE001 - report any failure
                bad.append("case %d: %s: %r" % (i, str(e).splitlines()[0][:200], text[:300]))
        else:
            g = grammars.get(c["grammar"])
            if g is None:
                g = grammars[c["grammar"]] = Gbnf(c["grammar"])
            if c["kind"] == "gbnf-prefix" and text.endswith("\ufffd"):
                text = text[:-1]  # the cut fell inside a character: its bytes print as U+FFFD
            ok, at = earley(g, text)
            if c["kind"] == "gbnf-prefix":  # cut by the token limit: a viable prefix
                ok = at == len(text)
            if not ok:
                bad.append("case %d: not in the grammar (at char %d): %r" % (i, at, text[:300]))
    if bad:
        print("%d of %d invalid" % (len(bad), len(cases)))
        for b in bad[:5]:
            print(b)
        sys.exit(1)
    print("ok %d" % len(cases))


if __name__ == "__main__":
    main()
