#!/usr/bin/env python3
"""demo_data.py — the demo model's raw training text, from Debian packages (standard library only).

Runs on the development machine (apt and the packages are there, not on the GPU machine):

  sudo apt-get install wordnet-base bible-kjv      # bible-kjv pulls in bible-kjv-text
  python3 scripts/demo_data.py [--out .dev/demo-data]

Writes (a few MB, git-ignored; carried to the GPU machine by scripts/train-demo-model.sh's user):
  wordnet.tsv.gz  one line per WordNet lemma and part of speech, its most frequent sense:
                  lemma TAB pos TAB definition TAB examples (" | ") TAB synonyms (", ")
  kjv.tsv.gz      one line per verse of the King James Version: book TAB chapter TAB verse TAB text
  SOURCES.txt     where the text came from, package versions and licences, file checksums

Sources and licences:
  - WordNet 3.0 (Debian package wordnet-base), (c) 2006 Princeton University, under the WordNet
    3.0 licence (permissive: use, copy, modify and distribute for any purpose with the notice).
  - The King James Version of the Bible (Debian package bible-kjv-text, read through the `bible`
    program of bible-kjv), public domain: the translation dates from 1611.
Everything is deterministic: the same package versions give byte-identical files.
"""
import argparse
import gzip
import hashlib
import os
import re
import subprocess
import sys

WN_DIR = "/usr/share/wordnet"
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
POS_NAMES = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}
# KJV book names as the `bible` program prints them, in canonical order
KJV_RANGE = "Genesis 1:1-Revelation 22:21"


def die(msg):
    sys.exit(f"demo_data: error: {msg}")


def pkg_version(name):
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True,
                           text=True, check=False)
        return r.stdout.strip() or "?"
    except OSError:
        return "?"


def read_synsets(pos):
    """offset -> (words, definition, examples) for one data.POS file."""
    path = os.path.join(WN_DIR, "data." + POS_FILES[pos])
    out = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            parts = head.split()
            offset, ss_type, w_cnt = parts[0], parts[2], int(parts[3], 16)
            words = []
            for i in range(w_cnt):
                w = parts[4 + 2 * i]
                w = re.sub(r"\((a|p|ip)\)$", "", w)  # adjective position markers
                words.append(w.replace("_", " "))
            gloss = gloss.strip()
            # gloss = definition; "example"; "example" (definitions may hold ';' themselves)
            examples = re.findall(r'"([^"]+)"', gloss)
            definition = gloss.split('"', 1)[0].strip().rstrip(";").strip()
            definition = re.sub(r"\s+", " ", definition)
            examples = [re.sub(r"\s+", " ", e.strip()) for e in examples if e.strip()]
            out[offset] = (ss_type, words, definition, examples)
    return out


def wordnet_rows():
    rows = []
    for pos in ("n", "v", "a", "r"):
        syn = read_synsets(pos)
        with open(os.path.join(WN_DIR, "index." + POS_FILES[pos]), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                parts = line.split()
                lemma, p_cnt = parts[0], int(parts[3])
                sense_cnt = int(parts[4 + p_cnt])
                offsets = parts[6 + p_cnt:6 + p_cnt + sense_cnt]
                if not offsets or offsets[0] not in syn:
                    continue
                ss_type, words, definition, examples = syn[offsets[0]]  # most frequent sense
                if not definition:
                    continue
                plain = lemma.replace("_", " ")
                shown = next((w for w in words if w.lower() == plain), plain)
                others = [w for w in words if w.lower() != plain]
                rows.append((shown, POS_NAMES[ss_type], definition, " | ".join(examples),
                             ", ".join(others)))
    rows.sort(key=lambda r: (r[0].lower(), r[1], r[0]))
    return rows


def kjv_rows():
    try:
        r = subprocess.run(["bible", "-l100000", KJV_RANGE], capture_output=True, text=True,
                           check=True, encoding="latin-1")
    except (OSError, subprocess.CalledProcessError) as e:
        die(f"cannot run 'bible' (install the Debian packages bible-kjv bible-kjv-text): {e}")
    rows, book, chap = [], None, None
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^(\S.*?) (\d+)$", line)
        if m and not line.startswith(" "):
            book, chap = m.group(1), int(m.group(2))
            continue
        m = re.match(r"^\s+(\d+) (.*)$", line)
        if not m or book is None:
            die(f"unexpected line from 'bible': {line[:80]!r}")
        rows.append((book, str(chap), m.group(1), m.group(2).strip()))
    if len(rows) != 31102:
        die(f"expected the 31102 verses of the KJV, got {len(rows)}")
    return rows


def write_tsv_gz(path, rows):
    for r in rows:
        for c in r:
            if "\t" in c or "\n" in c:
                die(f"field with a tab or newline: {c[:60]!r}")
    data = "".join("\t".join(r) + "\n" for r in rows).encode("utf-8")
    with open(path, "wb") as raw:
        # mtime=0 and no file name: byte-identical output on every run
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(data)
    return hashlib.sha256(open(path, "rb").read()).hexdigest(), len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=".dev/demo-data")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(WN_DIR, "data.noun")):
        die(f"{WN_DIR}/data.noun is missing: install the Debian package wordnet-base")
    os.makedirs(a.out, exist_ok=True)
    wn = wordnet_rows()
    kjv = kjv_rows()
    h_wn, n_wn = write_tsv_gz(os.path.join(a.out, "wordnet.tsv.gz"), wn)
    h_kjv, n_kjv = write_tsv_gz(os.path.join(a.out, "kjv.tsv.gz"), kjv)
    with open(os.path.join(a.out, "SOURCES.txt"), "w") as f:
        f.write(
            "Training text of the gptc demo model (written by scripts/demo_data.py)\n\n"
            f"wordnet.tsv.gz  {n_wn} lemmas  sha256 {h_wn}\n"
            f"  WordNet 3.0, Debian package wordnet-base {pkg_version('wordnet-base')}.\n"
            "  WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.\n"
            "  Licence: WordNet 3.0 licence (permission to use, copy, modify and distribute for\n"
            "  any purpose, with the copyright notice; see /usr/share/doc/wordnet-base/copyright).\n\n"
            f"kjv.tsv.gz      {n_kjv} verses  sha256 {h_kjv}\n"
            f"  King James Version (1611), Debian package bible-kjv-text "
            f"{pkg_version('bible-kjv-text')}, read with bible-kjv {pkg_version('bible-kjv')}.\n"
            "  Public domain.\n")
    for name in ("wordnet.tsv.gz", "kjv.tsv.gz", "SOURCES.txt"):
        p = os.path.join(a.out, name)
        print(f"demo_data: {p}  {os.path.getsize(p)} bytes")
    print(f"demo_data: {n_wn} WordNet lemmas, {n_kjv} KJV verses")


if __name__ == "__main__":
    main()
