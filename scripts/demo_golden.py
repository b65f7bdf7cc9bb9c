#!/usr/bin/env python3
"""demo_golden.py — turns the golden.json that scripts/train-demo-model.sh wrote (transformers'
logits, float64 on the CPU, on the exported demo checkpoint) into test/data/golden/demo-NAME.json
records for test/test_golden.c (standard library only).

  python3 scripts/demo_golden.py OUT/golden.json demo/gpt-oss-demo [--dest test/data/golden]

Each record names the committed checkpoint folder, the --outtype test_golden converts it with
(`gptc convert CKPT --outtype bf16`: the checkpoint's bf16 tensors are copied unchanged and its
MXFP4 experts repacked bit-exactly, so the GGUF holds exactly the weights transformers ran), and
the SHA-256 of every file in the folder, so the test knows the checkpoint is the one the
reference logits were computed from.
"""
import argparse
import hashlib
import json
import os
import sys


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("golden")
    ap.add_argument("checkpoint")
    ap.add_argument("--outtype", default="bf16")
    ap.add_argument("--dest", default="test/data/golden")
    a = ap.parse_args()
    with open(a.golden) as f:
        g = json.load(f)
    ckpt = a.checkpoint.rstrip("/")
    files = {n: sha256(os.path.join(ckpt, n)) for n in sorted(os.listdir(ckpt))
             if os.path.isfile(os.path.join(ckpt, n))}
    keys = ("text", "reference", "n_vocab", "ids", "top_k", "max_abs", "lse", "top_ids",
            "top_logits", "min_top_gap")
    for r in g["records"]:
        missing = [k for k in keys if k not in r]
        if missing:
            sys.exit(f"demo_golden: record {r.get('name')} lacks {missing}")
        rec = {"name": r["name"], "checkpoint": ckpt, "outtype": a.outtype, "sha256": files}
        rec.update({k: r[k] for k in keys})
        path = os.path.join(a.dest, r["name"] + ".json")
        with open(path, "w") as f:
            json.dump(rec, f, separators=(",", ":"), ensure_ascii=False)
            f.write("\n")
        print(f"demo_golden: {path}: {len(r['ids'])} tokens, min top1-top2 gap "
              f"{r['min_top_gap']:.2e} x max|logit|")


if __name__ == "__main__":
    main()
