#!/usr/bin/python3
"""np_compare.py -- checks gptc's CPU engine on many model shapes against the independent float64
numpy forward of scripts/hf_reference.py (no torch needed).

  /usr/bin/python3 scripts/np_compare.py [--build build-verify] [--only SUBSTR]

For every shape: gen-model writes it, dump-logits runs gptc (all at once, -b 7, token by token,
threads 1 vs 2); criterion max|gptc-ref| <= 1e-3 max|ref| per position and argmax equal; feeding
patterns within 1e-5 relative; threads 1 vs 2 bit-identical.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as hr  # noqa: E402

OSS = "--preset tiny-gpt-oss --vocab 512"
SHAPES = [
    # name, n_tokens, gen-model args
    ("oss-e128-12/3", 100, OSS + " --layers 3 --experts 128 --embd 128 --heads 12 --kv-heads 3 --ff 96 --window 16 --rope-orig-ctx 32"),
    ("oss-16/2-L5", 100, OSS + " --layers 5 --experts 16 --embd 128 --heads 16 --kv-heads 2 --ff 64 --window 16 --rope-orig-ctx 32"),
    ("oss-64/8", 60, OSS + " --layers 2 --experts 8 --embd 256 --heads 64 --kv-heads 8 --ff 256 --window 16 --rope-orig-ctx 32"),
    ("oss-f32-e128", 100, OSS + " --layers 3 --experts 128 --embd 64 --heads 4 --kv-heads 1 --ff 32 --window 16 --rope-orig-ctx 32 --types all=F32"),
    ("oss-kquant", 100, OSS + " --layers 3 --experts 8 --embd 256 --heads 8 --kv-heads 4 --ff 512 --window 16 --rope-orig-ctx 32 --types embd=Q4_K,output=Q6_K,attn_q=Q5_K,attn_k=Q6_K,attn_v=Q4_K,attn_output=Q5_0,exp_gate=Q4_K,exp_up=Q6_K,exp_down=Q5_K"),
    ("oss-ff!=d", 100, OSS + " --layers 3 --experts 32 --embd 192 --heads 6 --kv-heads 2 --ff 320 --window 16 --rope-orig-ctx 32"),
    ("oss-hd32", 100, OSS + " --layers 3 --experts 8 --embd 128 --heads 8 --kv-heads 2 --head-dim 32 --ff 128 --window 16 --rope-orig-ctx 64"),
    ("oss-hd128", 100, OSS + " --layers 2 --experts 8 --embd 128 --heads 4 --kv-heads 1 --head-dim 128 --ff 128 --window 16"),
    ("oss-fused-mxfp4", 100, OSS + " --layers 3 --experts 16 --embd 128 --heads 8 --kv-heads 2 --ff 96 --window 16 --fused-gate-up"),
    ("oss-fused-q8", 100, OSS + " --layers 2 --experts 8 --embd 256 --heads 4 --kv-heads 4 --ff 256 --fused-gate-up --types experts=Q8_0,attn=Q5_0"),
    ("oss-e128-top8", 100, OSS + " --layers 2 --experts 128 --experts-used 8 --embd 64 --heads 2 --kv-heads 1 --ff 64 --window 16"),
    ("oss-long-500", 500, OSS + " --layers 2 --experts 8 --embd 64 --heads 4 --kv-heads 2 --ff 64 --window 16 --rope-orig-ctx 64"),
    ("oss-allfmt", 60, OSS + " --layers 2 --experts 8 --embd 256 --heads 4 --kv-heads 2 --ff 256 --types embd=BF16,output=F16,attn_q=Q4_0,attn_k=Q4_1,attn_v=Q5_1,attn_output=Q8_0,exp_gate=Q5_K,exp_up=Q4_K,exp_down=Q6_K,router=F16"),
    ("gpt2-16h", 80, "--preset tiny-gpt2 --vocab 512 --layers 2 --embd 1024 --heads 16"),
    ("gpt2-20h", 80, "--preset tiny-gpt2 --vocab 512 --layers 2 --embd 1280 --heads 20"),
    ("gpt2-25h", 80, "--preset tiny-gpt2 --vocab 512 --layers 1 --embd 1600 --heads 25"),
    ("gpt2-L6-untied-300", 300, "--preset tiny-gpt2 --vocab 512 --layers 6 --embd 128 --heads 2 --untied --ctx 1024"),
    ("gpt2-distil-L6-768", 60, "--preset tiny-gpt2 --vocab 512 --layers 6 --embd 768 --heads 12"),
    ("gpt2-1000", 1000, "--preset tiny-gpt2 --vocab 300 --layers 2 --embd 64 --heads 1 --ctx 1024"),
    ("gpt2-q", 120, "--preset tiny-gpt2 --vocab 512 --layers 3 --embd 256 --heads 4 --untied --types embd=Q8_0,output=Q6_K,attn_qkv=Q4_K,attn_output=Q5_K,ffn_up=Q5_0,ffn_down=Q4_1"),
]


def split_fused(M):
    """fused ffn_gate_up_exps [E][2ff][d] (per expert: gate rows, then up rows) -> the split
    tensors the reference reads."""
    for il in range(M.n_layer):
        p = f"blk.{il}."
        if p + "ffn_gate_up_exps.weight" not in M.g.tensors:
            continue
        w = M.w(p + "ffn_gate_up_exps.weight")
        b = M.w(p + "ffn_gate_up_exps.bias")
        ff = w.shape[1] // 2
        M._cache[p + "ffn_gate_exps.weight"] = w[:, :ff]
        M._cache[p + "ffn_up_exps.weight"] = w[:, ff:]
        M._cache[p + "ffn_gate_exps.bias"] = b[:, :ff]
        M._cache[p + "ffn_up_exps.bias"] = b[:, ff:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-verify")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    B = a.build
    w = tempfile.mkdtemp()
    bad = 0
    print(f"{'shape':22s} {'T':>4s} {'rel(all)':>9s} {'argmax':>8s} {'b7 vs all':>9s} "
          f"{'tok vs all':>10s} {'t1==t2':>6s}")
    for name, T, args in SHAPES:
        if a.only and a.only not in name:
            continue
        m = os.path.join(w, "m.gguf")
        r = subprocess.run([f"{B}/tools/gen-model", *args.split(), "--out", m],
                           capture_output=True, text=True)
        if r.returncode:
            print(f"{name}: gen-model failed: {r.stderr.strip()}")
            bad += 1
            continue
        M = hr.Model(m)
        split_fused(M)
        rng = np.random.default_rng(7)
        ids = rng.integers(0, M.n_vocab, size=T)
        idf = os.path.join(w, "ids.txt")
        with open(idf, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")

        def dump(*extra):
            o = os.path.join(w, "out.f32")
            r = subprocess.run([f"{B}/tools/dump-logits", "-m", m, "--ids", idf, "-o", o,
                                "-c", "1024", *extra], capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(f"{name}: dump-logits {extra} failed: {r.stderr}")
            return np.fromfile(o, dtype="<f4").astype(np.float64).reshape(T, M.n_vocab)

        g_all = dump("--threads", "2")
        g_b7 = dump("--batch", "7", "--threads", "2")
        g_tok = dump("--chunk", "1", "--threads", "2")
        g_t1 = dump("--threads", "1")
        ref = hr.np_forward(M, ids)
        rel, pos, agree = hr.compare(ref, g_all)
        rb, _, _ = hr.compare(g_all, g_b7)
        rt, _, _ = hr.compare(g_all, g_tok)
        same = bool(np.array_equal(g_all, g_t1))
        ok = rel <= 1e-3 and agree == T and rb <= 1e-5 and rt <= 1e-5 and same
        bad += not ok
        print(f"{name:22s} {T:4d} {rel:9.2e} {agree:4d}/{T:<3d} {rb:9.2e} {rt:10.2e} "
              f"{str(same):>6s} {'PASS' if ok else 'FAIL (pos %d)' % pos}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
