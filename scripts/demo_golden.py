#!/usr/bin/env python3
"""demo_golden.py — turns the golden.json that scripts/train-demo-model.sh wrote (transformers'
logits on the exported demo checkpoint) into test/data/golden/demo-NAME.json records for
test/test_golden.c, pinned to the committed model file by its SHA-256 (standard library only).

  python3 scripts/demo_golden.py OUT/golden.json demo/gpt-oss-demo.gguf [--dest test/data/golden]
"""
import argparse
import hashlib
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("golden")
    ap.add_argument("model")
    ap.add_argument("--dest", default="test/data/golden")
    a = ap.parse_args()
    with open(a.golden) as f:
        g = json.load(f)
    with open(a.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    keys = ("text", "reference", "n_vocab", "ids", "top_k", "max_abs", "lse", "top_ids",
            "top_logits", "min_top_gap")
    for r in g["records"]:
        missing = [k for k in keys if k not in r]
        if missing:
            sys.exit(f"demo_golden: record {r.get('name')} lacks {missing}")
        rec = {"name": r["name"], "model": a.model, "sha256": sha}
        rec.update({k: r[k] for k in keys})
        path = os.path.join(a.dest, r["name"] + ".json")
        with open(path, "w") as f:
            json.dump(rec, f, separators=(",", ":"), ensure_ascii=False)
            f.write("\n")
        print(f"demo_golden: {path}: {len(r['ids'])} tokens, min top1-top2 gap "
              f"{r['min_top_gap']:.2e} x max|logit|")


if __name__ == "__main__":
    main()
