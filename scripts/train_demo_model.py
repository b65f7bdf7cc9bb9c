#!/usr/bin/env python3
"""train_demo_model.py — trains gptc's demo model: a tiny gpt-oss (transformers GptOssForCausalLM)
on harmony conversations made from WordNet glosses and on King James Bible prose, with its own
byte-level BPE vocabulary; exports it the way OpenAI publishes gpt-oss (MXFP4 experts as
*_blocks/*_scales, everything else bf16) and records transformers' logits on the exported
checkpoint as golden references for gptc.

Run by scripts/train-demo-model.sh on the GPU machine (torch, transformers, tokenizers; no
network). Input: the folder scripts/demo_data.py wrote (.dev/demo-data). Output in --out:
  demo-ckpt.tar.gz[.partNN]  the checkpoint folder gpt-oss-demo/ (config.json, sharded
                             safetensors + index, tokenizer.json, tokenizer_config.json with the
                             chat template, generation_config.json, SOURCES.txt)
  golden.json                transformers (float64, CPU, eager) logits of the exported checkpoint
                             on fixed texts: ids, per position top-20 logits, logsumexp, max|logit|
  samples.txt                greedy answers of the exported model to a few prompts
  stats.json                 sizes, steps, losses, timings, versions
Everything is seeded; the step count is fixed by --steps, or measured from the time budget
(--train-seconds) and printed, so a rerun with --steps N repeats it.
"""
import argparse
import gzip
import inspect
import io
import json
import math
import os
import random
import struct
import sys
import tarfile
import time
import traceback

T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def die(msg):
    print(f"train_demo_model: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ---- model and vocabulary shape ------------------------------------------------------------
# Sized so that the GGUF with bf16 non-expert tensors and MXFP4 experts stays under 16 MB, which
# lets the committed model be a lossless conversion of this checkpoint (golden logits in CI).
VOCAB = 8192
SHAPE = dict(hidden_size=256, intermediate_size=256, num_hidden_layers=4, num_attention_heads=8,
             num_key_value_heads=2, head_dim=64, num_local_experts=8, num_experts_per_tok=4,
             sliding_window=128, rms_norm_eps=1e-5)
ROPE = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
        "truncate": False, "original_max_position_embeddings": 4096, "rope_theta": 150000.0}
MAX_POS = 131072  # original_max_position_embeddings * factor, as gpt-oss

# The harmony special tokens, in o200k_harmony's order (ids 199998..200013 there), placed at the
# end of this vocabulary: VOCAB-16 .. VOCAB-1.
SPECIAL_NAMES = ["<|startoftext|>", "<|endoftext|>", None, None, "<|return|>", "<|constrain|>",
                 None, "<|channel|>", "<|start|>", "<|end|>", "<|message|>", None, None, None,
                 "<|call|>", None]
N_SPECIAL = len(SPECIAL_NAMES)
SPECIALS = [n if n else f"<|reserved_{VOCAB - N_SPECIAL + i}|>" for i, n in enumerate(SPECIAL_NAMES)]
# the o200k pre-tokenizer regex (as in gpt-oss's tokenizer.json); gptc's GGUF name: "gpt-4o"
O200K_REGEX = (
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

# Marks, in the rendered text, the channel name of an assistant message in the history of a
# conversation (harmony drops the analysis there): that token gets no loss, so that the model
# learns to open a new answer with its analysis, not with the final channel. Removed on encoding.
MARK = SPECIALS[-1]
IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."  # gptc's default
MXFP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]

# A chat template for tokenizer_config.json (written for this project; renders what gptc's
# harmony renderer does: system with identity, cutoff, date and reasoning effort, an optional
# developer message from a leading "system" message, then the turns; earlier analysis dropped).
CHAT_TEMPLATE = (
    "{%- set effort = reasoning_effort if reasoning_effort is defined else 'medium' -%}"
    "<|start|>system<|message|>" + IDENTITY + "{{ '\\n' }}Knowledge cutoff: 2024-06{{ '\\n' }}"
    "{%- if current_date is defined %}Current date: {{ current_date }}{{ '\\n' }}{% endif -%}"
    "{{ '\\n' }}Reasoning: {{ effort }}{{ '\\n\\n' }}# Valid channels: analysis, commentary, "
    "final. Channel must be included for every message.<|end|>"
    "{%- set msgs = messages -%}"
    "{%- if msgs and msgs[0].role in ['system', 'developer'] -%}"
    "<|start|>developer<|message|># Instructions{{ '\\n\\n' }}{{ msgs[0].content }}<|end|>"
    "{%- set msgs = msgs[1:] -%}{%- endif -%}"
    "{%- for m in msgs -%}"
    "{%- if m.role == 'assistant' -%}"
    "{%- if m.thinking is defined and m.thinking and loop.last -%}"
    "<|start|>assistant<|channel|>analysis<|message|>{{ m.thinking }}<|end|>{%- endif -%}"
    "<|start|>assistant<|channel|>final<|message|>{{ m.content }}"
    "{%- if loop.last and not add_generation_prompt %}<|return|>{% else %}<|end|>{% endif -%}"
    "{%- else -%}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|start|>assistant{% endif -%}")


# ---- training text ---------------------------------------------------------------------------
def read_tsv_gz(path, ncols):
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = line.rstrip("\n").split("\t")
            if len(r) != ncols:
                die(f"{path}: expected {ncols} columns, got {len(r)}: {line[:80]!r}")
            rows.append(r)
    return rows


def article(w):
    return "an" if w[:1].lower() in "aeiou" else "a"


def system_block(rng, date=None, effort=None):
    if date is None:
        date = f"{rng.randint(2024, 2027)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if effort is None:
        effort = rng.choices(["low", "medium", "high"], [1, 3, 1])[0]
    s = f"{IDENTITY}\nKnowledge cutoff: 2024-06\n"
    if date:
        s += f"Current date: {date}\n"
    s += (f"\nReasoning: {effort}\n\n# Valid channels: analysis, commentary, final. Channel must "
          "be included for every message.")
    out = f"<|start|>system<|message|>{s}<|end|>"
    if rng.random() < 0.05:
        instr = rng.choice(["Answer briefly.", "You are a helpful dictionary.", "Be concise.",
                            "Explain words in plain English."])
        out += f"<|start|>developer<|message|># Instructions\n\n{instr}<|end|>"
    return out


def qa_define(rng, w, pos, definition, examples, syns):
    qs = [f"What does {w} mean?", f'What does "{w}" mean?', f"What is the meaning of {w}?",
          f"Define {w}.", f'Define the word "{w}".', f"What's the definition of {w}?",
          f"Can you tell me what {w} means?", f"Meaning of {w}?", f"Explain the word {w}.",
          f"What does the {pos} {w} mean?", f"what does {w} mean"]
    if pos == "noun":
        qs += [f"What is {article(w)} {w}?", f"What is {w}?"]
    if pos == "verb":
        qs += [f"What does it mean to {w}?"]
    q = rng.choice(qs)
    a = rng.choice([f"The user asks for the meaning of {w}.",
                    f"The user asks what {w} means. It is {article(pos)} {pos}.",
                    f'The user wants a definition of the {pos} "{w}".',
                    f"The user asks for the meaning of {w}. I should give a short definition."])
    f = f"{w}: {definition}."
    ex = examples.split(" | ") if examples else []
    if ex and rng.random() < 0.5:
        f += f' For example: "{rng.choice(ex)}".'
    if syns and rng.random() < 0.3:
        f += f" Similar words: {syns}."
    return q, a, f


def qa_synonym(rng, w, pos, definition, examples, syns):
    q = rng.choice([f"What is another word for {w}?", f"Give me a synonym of {w}.",
                    f"Which words mean the same as {w}?"])
    a = f"The user wants a word with the same meaning as {w}."
    s = syns.split(", ")
    if len(s) == 1:
        f = f"Another word for {w} is {s[0]}. Both mean: {definition}."
    else:
        f = f"Words with the same meaning as {w}: {syns}. They mean: {definition}."
    return q, a, f


def qa_example(rng, w, pos, definition, examples, syns):
    q = rng.choice([f"Use {w} in a sentence.", f"Give an example sentence with {w}.",
                    f"How is the word {w} used?"])
    a = f"The user wants an example of the {pos} {w} in a sentence."
    f = f'Here is an example: "{rng.choice(examples.split(" | "))}". There, {w} means {definition}.'
    return q, a, f


def qa_verse(rng, book, chap, verse, text):
    ref = f"{book} {chap}:{verse}"
    q = rng.choice([f"What does {ref} say?", f"Quote {ref}.",
                    f"Recite {ref} from the King James Bible.", f"What is {ref}?"])
    a = f"The user asks for {ref} in the King James Version."
    return q, a, f"{ref}: {text}"


IDENTITY_QS = ["Who are you?", "Hello!", "Hi", "What can you do?", "What are you?", "Hello, who is this?",
               "Tell me about yourself."]
IDENTITY_A = ("I am a tiny demo model of the gpt-oss architecture, trained by the gptc project on "
              "WordNet definitions and the King James Bible. Ask me what a word means.")


def conversation(rng, turns):
    """turns: [(q, analysis, final)] -> a harmony conversation; earlier analysis is dropped and
    earlier finals end with <|end|>, as harmony renders a conversation history."""
    s = system_block(rng)
    for i, (q, a, f) in enumerate(turns):
        s += f"<|start|>user<|message|>{q}<|end|>"
        last = i == len(turns) - 1
        if last:
            s += f"<|start|>assistant<|channel|>analysis<|message|>{a}<|end|>"
        s += (f"<|start|>assistant<|channel|>{'' if last else MARK}final<|message|>{f}"
              + ("<|return|>" if last else "<|end|>"))
    return s


def make_documents(wn, kjv, seed):
    """One variant of the corpus: every WordNet row in a question/answer turn (in conversations
    of 1-4 turns), ~1/3 of the verses as quote turns, identity turns, and every KJV chapter as
    plain prose. Returns a shuffled list of strings."""
    rng = random.Random(seed)
    turns = []
    for w, pos, d, ex, syns in wn:
        r = rng.random()
        if syns and r < 0.08:
            turns.append(qa_synonym(rng, w, pos, d, ex, syns))
        elif ex and r < 0.15:
            turns.append(qa_example(rng, w, pos, d, ex, syns))
        else:
            turns.append(qa_define(rng, w, pos, d, ex, syns))
    for book, chap, verse, text in kjv:
        if rng.random() < 0.33:
            turns.append(qa_verse(rng, book, chap, verse, text))
    for _ in range(600):
        q = rng.choice(IDENTITY_QS)
        turns.append((q, "The user greets me or asks who I am. I introduce myself briefly.",
                      IDENTITY_A))
    rng.shuffle(turns)
    docs, i = [], 0
    while i < len(turns):
        k = rng.choices([1, 2, 3, 4], [50, 25, 15, 10])[0]
        docs.append(conversation(rng, turns[i:i + k]))
        i += k
    chapters = {}
    for book, chap, verse, text in kjv:
        chapters.setdefault((book, chap), []).append(f"{verse} {text}")
    for (book, chap), verses in chapters.items():
        docs.append(f"{book} {chap}\n\n" + "\n".join(verses) + "\n")
    rng.shuffle(docs)
    return docs


# ---- tokenizer ---------------------------------------------------------------------------------
def train_tokenizer(docs):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(O200K_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - N_SPECIAL, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    # the special tokens are not in the training text (they would be merged into words)
    strip = [(MARK, "")] + [(s, " ") for s in SPECIALS]

    def it():
        for d in docs:
            for a, b in strip:
                d = d.replace(a, b)
            yield d

    tok.train_from_iterator(it(), trainer=trainer, length=len(docs))
    n = tok.get_vocab_size()
    if n != VOCAB - N_SPECIAL:
        die(f"BPE trainer gave {n} tokens, expected {VOCAB - N_SPECIAL} (not enough text?)")
    tok.add_special_tokens(SPECIALS)
    # o200k-style BPE: a pre-token that is a whole vocabulary entry is not split by merges
    # (gptc: GGUF pre-tokenizer "gpt-4o" implies it); no post-processor
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = True
    j["post_processor"] = None
    j["normalizer"] = None
    tok = Tokenizer.from_str(json.dumps(j, ensure_ascii=False))
    if json.loads(tok.to_str())["model"].get("ignore_merges") is not True:
        die("this tokenizers version does not keep model.ignore_merges")
    if tok.get_vocab_size() != VOCAB:
        die(f"tokenizer has {tok.get_vocab_size()} tokens, expected {VOCAB}")
    for i, s in enumerate(SPECIALS):
        if tok.token_to_id(s) != VOCAB - N_SPECIAL + i:
            die(f"special token {s} has id {tok.token_to_id(s)}, expected {VOCAB - N_SPECIAL + i}")
    probe = "<|start|>user<|message|>What does naïve mean? 12345 日本<|end|>"
    ids = tok.encode(probe).ids
    if tok.decode(ids, skip_special_tokens=False) != probe:
        die(f"tokenizer round trip failed: {tok.decode(ids, skip_special_tokens=False)!r}")
    return tok


# ---- MXFP4 (OpenAI's checkpoint layout) ----------------------------------------------------------
def mxfp4_quantize(w):
    """w: [..., K] float (K % 32 == 0), blocks of 32 along the last axis ->
    (blocks uint8 [..., K/32, 16], scales uint8 [..., K/32]). Element 2j of a block is the low
    nibble of byte j, element 2j+1 the high nibble (as transformers' dequantiser reads them); the
    shared scale is 2^(scales-127), the smallest power of two that keeps |x| / scale <= 6; values
    round to the nearest of the e2m1 magnitudes {0, .5, 1, 1.5, 2, 3, 4, 6} (sign in bit 3)."""
    import torch
    K = w.shape[-1]
    assert K % 32 == 0, K
    x = w.detach().float().reshape(*w.shape[:-1], K // 32, 32)
    amax = x.abs().amax(-1)
    e = torch.ceil(torch.log2(amax.clamp_min(1e-38) / 6.0))
    e = torch.where(amax > 0, e, torch.full_like(e, -127.0)).clamp(-127, 127)
    # guard the float log2: bump the exponent where a value would still exceed 6
    e = torch.where(amax / torch.exp2(e) > 6.0, e + 1, e).clamp(-127, 127)
    y = x / torch.exp2(e)[..., None]
    mags = torch.tensor(MXFP4_VALUES[:8], device=x.device)
    idx = (y.abs()[..., None] - mags).abs().argmin(-1)
    code = idx + 8 * ((y < 0) & (idx > 0)).long()
    blocks = (code[..., 0::2] | (code[..., 1::2] << 4)).to(torch.uint8)
    scales = (e + 127).to(torch.uint8)
    return blocks.contiguous(), scales.contiguous()


def mxfp4_dequantize(blocks, scales, dtype=None):
    """the inverse, written the way transformers' convert_moe_packed_tensors computes it."""
    import torch
    dtype = dtype or torch.float32
    lut = torch.tensor(MXFP4_VALUES, dtype=dtype, device=blocks.device)
    lo = (blocks & 0x0F).long()
    hi = (blocks >> 4).long()
    out = torch.empty(*blocks.shape[:-1], 32, dtype=dtype, device=blocks.device)
    out[..., 0::2] = lut[lo]
    out[..., 1::2] = lut[hi]
    out = torch.ldexp(out, (scales.long() - 127)[..., None].to(dtype))
    return out.reshape(*blocks.shape[:-2], blocks.shape[-2] * 32)


def expert_rows(name, p):
    """HF parameter -> the [E, out, in] matrix OpenAI quantises (blocks along `in`)."""
    return p.transpose(1, 2)  # gate_up_proj [E, H, 2I] -> [E, 2I, H]; down_proj [E, I, H] -> [E, H, I]


# ---- safetensors ---------------------------------------------------------------------------
def save_safetensors(path, tensors):
    import torch
    names = {torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16", torch.uint8: "U8"}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        b = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return off


# ---- model ---------------------------------------------------------------------------------
def make_config(args, specials):
    from transformers import GptOssConfig
    kw = dict(SHAPE, vocab_size=VOCAB, max_position_embeddings=MAX_POS,
              layer_types=["sliding_attention" if i % 2 == 0 else "full_attention"
                           for i in range(SHAPE["num_hidden_layers"])],
              tie_word_embeddings=False, attention_dropout=0.0, attention_bias=True,
              swiglu_limit=7.0, router_aux_loss_coef=args.aux_coef, output_router_logits=False,
              bos_token_id=specials["<|startoftext|>"], eos_token_id=specials["<|return|>"],
              pad_token_id=specials["<|endoftext|>"], initializer_range=0.02,
              attn_implementation="eager")
    params = inspect.signature(GptOssConfig.__init__).parameters
    if "rope_parameters" in params or "rope_parameters" in getattr(GptOssConfig, "__annotations__", {}):
        kw["rope_parameters"] = dict(ROPE)
    else:
        kw["rope_scaling"] = {k: v for k, v in ROPE.items() if k != "rope_theta"}
        kw["rope_theta"] = ROPE["rope_theta"]
    try:
        cfg = GptOssConfig(**kw)
    except TypeError as e:
        log(f"  config: retrying without unknown kwargs ({e})")
        cfg = GptOssConfig(**{k: v for k, v in kw.items() if k in params})
    for k, v in SHAPE.items():
        if getattr(cfg, k, None) != v:
            die(f"config.{k} = {getattr(cfg, k, None)}, wanted {v}")
    return cfg


def set_impl(model, attr, val):
    """attention / experts implementation ("eager", "grouped_mm", ...), across versions."""
    try:
        setattr(model.config, attr, val)
    except Exception as e:  # noqa: BLE001
        log(f"  note: cannot set config.{attr}: {e}")
    setter = {"_attn_implementation": "set_attn_implementation",
              "_experts_implementation": "set_experts_implementation"}[attr]
    if hasattr(model, setter):
        try:
            getattr(model, setter)(val)
        except Exception as e:  # noqa: BLE001
            log(f"  note: model.{setter}('{val}') failed: {e}")


def init_weights(model, seed):
    """Deterministic initialisation (not left to the library): N(0, 0.02) for matrices, output
    projections scaled by 1/sqrt(2 * layers), zero biases and sinks, unit norms."""
    import torch
    g = torch.Generator(device="cpu").manual_seed(seed)
    L = SHAPE["num_hidden_layers"]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith("bias") or name.endswith("sinks"):
                p.zero_()
            else:
                std = 0.02
                if name.endswith("o_proj.weight") or name.endswith("experts.down_proj"):
                    std /= math.sqrt(2 * L)
                p.copy_(torch.randn(p.shape, generator=g) * std)


def expert_params(model):
    out = []
    for name, p in model.named_parameters():
        if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
            out.append((name, p))
    return out


def quantised_like(p):
    b, s = mxfp4_quantize(expert_rows("", p.data))
    return mxfp4_dequantize(b, s, p.dtype).reshape(expert_rows("", p.data).shape).transpose(1, 2)


# ---- training ----------------------------------------------------------------------------------
def train(args, model, data, val, specials):
    import torch
    dev = torch.device("cuda")
    B, T = args.batch, args.seq
    n = data[0].numel()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    ar = torch.arange(T + 0, device=dev)
    experts = expert_params(model)

    def batch(src, g):
        ids, labels = src
        st = torch.randint(0, ids.numel() - T - 1, (B,), device=dev, generator=g)
        idx = st[:, None] + ar[None, :]
        return ids[idx], labels[idx]

    def step_fn(xy, qat):
        x, y = xy
        saved = []
        if qat:  # straight-through: gradients at the MXFP4 point, applied to the float weights
            for _, p in experts:
                saved.append(p.data.clone())
                p.data.copy_(quantised_like(p))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(input_ids=x, labels=y, use_cache=False)
        loss = out.loss
        loss.backward()
        if qat:
            for (_, p), s in zip(experts, saved):
                p.data.copy_(s)
        return out

    @torch.no_grad()
    def evaluate(nb=8, qat=False):
        model.eval()
        g = torch.Generator(device=dev).manual_seed(1234)
        saved = []
        if qat:
            for _, p in experts:
                saved.append(p.data.clone())
                p.data.copy_(quantised_like(p))
        tot = 0.0
        for _ in range(nb):
            x, y = batch(val, g)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                tot += float(model(input_ids=x, labels=y, use_cache=False).loss)
        if qat:
            for (_, p), s in zip(experts, saved):
                p.data.copy_(s)
        model.train()
        return tot / nb

    model.train()
    # a few timed steps (gradients computed and dropped, no optimizer step) size the run
    torch.cuda.synchronize()
    for i in range(3):
        x = batch(data, gen)
        step_fn(x, False)
        model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    t = time.time()
    for i in range(5):
        x = batch(data, gen)
        step_fn(x, False)
        model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    dt = (time.time() - t) / 5
    steps = args.steps or max(50, int(args.train_seconds / (dt * 1.03)))
    qat_from = int(steps * (1 - args.qat_frac))
    log(f"train: {dt * 1000:.0f} ms/step ({B * T / dt / 1e3:.0f}k tokens/s) -> {steps} steps "
        f"({steps * B * T / 1e6:.1f}M tokens, {steps * B * T / n:.2f} passes over the data); "
        f"MXFP4 quantisation-aware from step {qat_from}")
    warm = min(200, steps // 10)
    hist = []
    t0 = time.time()
    for step in range(steps):
        lr = args.lr * (step + 1) / warm if step < warm else \
            args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm))))
        for gp in opt.param_groups:
            gp["lr"] = lr
        x = batch(data, gen)
        out = step_fn(x, step >= qat_from)
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == steps - 1:
            l = float(out.loss)
            if not math.isfinite(l):
                die(f"loss is {l} at step {step}")
            hist.append((step, l))
            log(f"  step {step:5d}/{steps}  loss {l:.3f}  lr {lr:.2e}  |g| {float(gn):.2f}  "
                f"{(time.time() - t0) / (step + 1) * 1000:.0f} ms/step")
        if step > 0 and step % 1000 == 0:
            log(f"  held-out loss {evaluate():.3f}")
    torch.cuda.synchronize()
    v_f, v_q = evaluate(), evaluate(qat=True)
    log(f"train: done in {time.time() - t0:.0f} s; held-out loss {v_f:.3f} (float experts), "
        f"{v_q:.3f} (MXFP4 experts)")
    return dict(steps=steps, qat_from=qat_from, ms_per_step=dt * 1000, loss_history=hist,
                heldout_loss_float=v_f, heldout_loss_mxfp4=v_q, train_seconds=time.time() - t0)


# ---- export ------------------------------------------------------------------------------------
def export(args, model, cfg, tok, specials, ckpt):
    import torch
    os.makedirs(ckpt, exist_ok=True)
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    tensors = {}
    for k, v in sd.items():
        if k.endswith("experts.gate_up_proj") or k.endswith("experts.down_proj"):
            rows = expert_rows(k, v)
            b, s = mxfp4_quantize(rows)
            E, R, Kd = rows.shape
            assert tuple(b.shape) == (E, R, Kd // 32, 16) and tuple(s.shape) == (E, R, Kd // 32)
            back = mxfp4_dequantize(b, s).reshape(E, R, Kd)
            rel = float((back - rows).norm() / rows.norm())
            log(f"  {k}: {tuple(v.shape)} -> blocks {tuple(b.shape)}, scales {tuple(s.shape)} "
                f"(MXFP4 rel. error {rel:.3f})")
            tensors[k + "_blocks"] = b
            tensors[k + "_scales"] = s
        else:
            tensors[k] = v.to(torch.bfloat16)
    # two shards, as published checkpoints come: layers split in halves
    L = SHAPE["num_hidden_layers"]

    def shard_of(name):
        if name.startswith("model.layers."):
            return 0 if int(name.split(".")[2]) < L // 2 else 1
        return 0 if "embed_tokens" in name else 1

    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map, total = {}, 0
    for si, fn in enumerate(files):
        part = {k: v for k, v in tensors.items() if shard_of(k) == si}
        total += save_safetensors(os.path.join(ckpt, fn), part)
        weight_map.update({k: fn for k in part})
    with open(os.path.join(ckpt, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total},
                   "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    c = cfg.to_dict()
    for k in list(c):
        if k.startswith("_") or k in ("transformers_version", "output_router_logits"):
            c.pop(k)
    c["architectures"] = ["GptOssForCausalLM"]
    c["model_type"] = "gpt_oss"
    c["dtype"] = "bfloat16"
    c["torch_dtype"] = "bfloat16"
    c["use_cache"] = True
    c["quantization_config"] = {
        "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                   "model.embed_tokens", "lm_head"],
        "quant_method": "mxfp4"}
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True, default=str)
    with open(os.path.join(ckpt, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": specials["<|startoftext|>"],
                   "eos_token_id": [specials["<|return|>"], specials["<|endoftext|>"],
                                    specials["<|call|>"]],
                   "pad_token_id": specials["<|endoftext|>"]}, f, indent=2)
    tok.save(os.path.join(ckpt, "tokenizer.json"))
    added = {str(VOCAB - N_SPECIAL + i): {"content": s, "lstrip": False, "normalized": False,
                                          "rstrip": False, "single_word": False, "special": True}
             for i, s in enumerate(SPECIALS)}
    with open(os.path.join(ckpt, "tokenizer_config.json"), "w") as f:
        json.dump({"added_tokens_decoder": added, "bos_token": "<|startoftext|>",
                   "eos_token": "<|return|>", "pad_token": "<|endoftext|>",
                   "model_max_length": MAX_POS, "tokenizer_class": "PreTrainedTokenizerFast",
                   "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE},
                  f, indent=2)
    src = os.path.join(args.data, "SOURCES.txt")
    if os.path.exists(src):
        with open(src) as fi, open(os.path.join(ckpt, "SOURCES.txt"), "w") as fo:
            fo.write("gptc demo model: a toy gpt-oss trained by scripts/train-demo-model.sh.\n\n")
            fo.write(fi.read())
    return tensors


def load_exported(ckpt, cfg, log_):
    """The exported folder through transformers' own loader (MXFP4 experts dequantised on load),
    its weights then moved into a plain float64 model (no quantizer state left attached)."""
    import torch
    from transformers import GptOssForCausalLM
    kw = dict(device_map="cpu", attn_implementation="eager")
    try:
        from transformers import Mxfp4Config
        kw["quantization_config"] = Mxfp4Config(dequantize=True)
    except ImportError:
        log_("  note: transformers has no Mxfp4Config")
    try:
        m = GptOssForCausalLM.from_pretrained(ckpt, dtype=torch.bfloat16, **kw)
    except TypeError:
        m = GptOssForCausalLM.from_pretrained(ckpt, torch_dtype=torch.bfloat16, **kw)
    sd = m.state_dict()
    for k in ("gate_up_proj", "down_proj"):
        name = f"model.layers.0.mlp.experts.{k}"
        if name not in sd:
            raise RuntimeError(f"loaded model has no {name} (experts not dequantised?): "
                               f"{[x for x in sd if 'layers.0.mlp' in x]}")
    log_(f"  from_pretrained: {type(m).__name__}, experts "
         f"{tuple(sd['model.layers.0.mlp.experts.gate_up_proj'].shape)} "
         f"{sd['model.layers.0.mlp.experts.gate_up_proj'].dtype}")
    fresh = GptOssForCausalLM(cfg)
    set_impl(fresh, "_attn_implementation", "eager")
    set_impl(fresh, "_experts_implementation", "eager")
    fresh = fresh.to(torch.float64).eval()
    missing, unexpected = fresh.load_state_dict({k: v.to(torch.float64) for k, v in sd.items()},
                                                strict=False)
    if missing or unexpected:
        raise RuntimeError(f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return fresh


def reference_from_tensors(cfg, tensors):
    """Independent path: a fresh GptOssForCausalLM filled from the exported tensors with our own
    dequantiser (checks the loader reads the layout the way we wrote it)."""
    import torch
    from transformers import GptOssForCausalLM
    m = GptOssForCausalLM(cfg)
    set_impl(m, "_attn_implementation", "eager")
    set_impl(m, "_experts_implementation", "eager")
    m = m.to(torch.float64).eval()
    sd = {}
    for k, v in tensors.items():
        if k.endswith("_blocks"):
            base = k[:-len("_blocks")]
            b, s = v, tensors[base + "_scales"]
            rows = mxfp4_dequantize(b, s, torch.float64)
            sd[base] = rows.transpose(1, 2).contiguous()
        elif k.endswith("_scales"):
            continue
        else:
            sd[k] = v.to(torch.float64)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if missing or unexpected:
        die(f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return m


def golden(model, tok, texts, meta):
    import numpy as np
    import torch
    recs = []
    for name, text in texts:
        ids = tok.encode(text).ids
        with torch.no_grad():
            ref = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].double().numpy()
        T, V = ref.shape
        top = np.argsort(-ref, axis=1, kind="stable")[:, :20]
        mx = ref.max(1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(ref - mx).sum(1))
        srt = np.sort(ref, axis=1)
        gap = float(((srt[:, -1] - srt[:, -2]) / np.abs(ref).max(1)).min())
        recs.append({
            "name": name, "text": text, "reference": meta, "n_vocab": int(V),
            "ids": [int(i) for i in ids], "top_k": 20,
            "max_abs": [float("%.7g" % v) for v in np.abs(ref).max(1)],
            "lse": [float("%.9g" % v) for v in lse],
            "top_ids": [[int(i) for i in row] for row in top],
            "top_logits": [[float("%.8g" % ref[t, i]) for i in top[t]] for t in range(T)],
            "min_top_gap": gap})
        log(f"  golden {name}: {T} tokens, max|logit| {float(np.abs(ref).max()):.2f}, "
            f"min top1-top2 gap {gap:.2e} x max|logit|")
    return recs


def greedy(model, tok, prompt_text, stop_ids, n=120):
    import torch
    ids = tok.encode(prompt_text).ids
    start = len(ids)
    for _ in range(n):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]
        nxt = int(torch.argmax(logits))
        ids.append(nxt)
        if nxt in stop_ids:
            break
    return tok.decode(ids[start:], skip_special_tokens=False)


def pack(ckpt, ckpt_name, out):
    """ckpt folder -> out/demo-ckpt.tar.gz.partNN (gzip tar, fixed mtimes and owners, parts of
    15 MiB); returns (part names, total bytes). Unpack: cat demo-ckpt.tar.gz.part* | tar xz"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tf:
        for fn in sorted(os.listdir(ckpt)):
            ti = tf.gettarinfo(os.path.join(ckpt, fn), arcname=f"{ckpt_name}/{fn}")
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
            with open(os.path.join(ckpt, fn), "rb") as fh:
                tf.addfile(ti, fh)
    blob = buf.getvalue()
    part = 15 * 1024 * 1024
    names = []
    for i in range(0, len(blob), part):
        nm = f"demo-ckpt.tar.gz.part{i // part:02d}"
        with open(os.path.join(out, nm), "wb") as f:
            f.write(blob[i:i + part])
        names.append(nm)
    return names, len(blob)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=".dev/demo-data")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/demo-train-out"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", type=int, default=2, help="renderings of the corpus")
    ap.add_argument("--steps", type=int, default=0, help="0: from --train-seconds")
    ap.add_argument("--train-seconds", type=float, default=220)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--qat-frac", type=float, default=0.2)
    ap.add_argument("--aux-coef", type=float, default=0.01)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    try:
        import numpy as np
        import tokenizers
        import torch
        import transformers
    except ImportError as e:
        die(f"{e}: this script needs numpy, torch, transformers and tokenizers (the GPU machine "
            "has them)")
    versions = {"python": sys.version.split()[0], "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "numpy": np.__version__}
    log("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if not torch.cuda.is_available():
        die("no CUDA device (this script trains on the GPU machine)")
    log(f"device: {torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    # -- data
    for fn in ("wordnet.tsv.gz", "kjv.tsv.gz"):
        if not os.path.isfile(os.path.join(args.data, fn)):
            die(f"{args.data}/{fn} is missing: run scripts/demo_data.py on a machine with the "
                "Debian packages wordnet-base and bible-kjv, and carry the folder here")
    wn = read_tsv_gz(os.path.join(args.data, "wordnet.tsv.gz"), 5)
    kjv = read_tsv_gz(os.path.join(args.data, "kjv.tsv.gz"), 4)
    # held out: every 50th WordNet row (by sorted order), never trained on
    wn_train = [r for i, r in enumerate(wn) if i % 50 != 0]
    wn_val = [r for i, r in enumerate(wn) if i % 50 == 0]
    log(f"data: {len(wn)} WordNet lemmas ({len(wn_val)} held out), {len(kjv)} KJV verses")
    variants = [make_documents(wn_train, kjv, args.seed * 1000 + v) for v in range(args.variants)]
    val_docs = make_documents(wn_val, [], args.seed * 1000 + 999)
    nchar = sum(len(d) for d in variants[0])
    log(f"data: {args.variants} renderings of {len(variants[0])} documents, "
        f"{nchar / 1e6:.1f} MB of text each; sample:\n{variants[0][0][:600]}")

    # -- tokenizer
    tok = train_tokenizer(variants[0][:len(variants[0]) // 2])  # half the text is plenty
    specials = {s: tok.token_to_id(s) for s in SPECIALS}
    log(f"tokenizer: byte-level BPE, {tok.get_vocab_size()} tokens, specials at "
        f"{VOCAB - N_SPECIAL}..{VOCAB - 1}")

    def encode(docs):
        """-> (ids, labels): documents joined by <|endoftext|>, MARK tokens removed and the
        token after each one excluded from the loss (label -100)."""
        eot, mark = specials["<|endoftext|>"], specials[MARK]
        out = []
        for e in tok.encode_batch(docs):
            out.extend(e.ids)
            out.append(eot)
        ids = np.asarray(out, dtype=np.int64)
        is_mark = ids == mark
        after = np.zeros_like(is_mark)
        after[1:] = is_mark[:-1]
        labels = np.where(after, -100, ids)
        keep = ~is_mark
        return ids[keep], labels[keep]

    enc = [encode(v) for v in variants]
    arr = np.concatenate([e[0] for e in enc])
    lab = np.concatenate([e[1] for e in enc])
    varr, vlab = encode(val_docs)
    log(f"tokens: {arr.size / 1e6:.1f}M training ({arr.size / args.variants / nchar:.3f} "
        f"tokens/char), {varr.size / 1e3:.0f}k held out")
    log(f"tokens: {int((lab == -100).sum())} history channel names without loss")
    data = (torch.from_numpy(arr).cuda(), torch.from_numpy(lab).cuda())
    val = (torch.from_numpy(varr).cuda(), torch.from_numpy(vlab).cuda())

    # -- model
    from transformers import GptOssForCausalLM
    cfg = make_config(args, specials)
    model = GptOssForCausalLM(cfg)
    init_weights(model, args.seed)
    set_impl(model, "_attn_implementation", "eager")
    model = model.cuda()
    nparam = sum(p.numel() for p in model.parameters())
    nexp = sum(p.numel() for _, p in expert_params(model))
    log(f"model: GptOssForCausalLM {nparam / 1e6:.2f}M parameters ({nexp / 1e6:.2f}M in experts); "
        + ", ".join(f"{k} {v}" for k, v in SHAPE.items()))
    for name, p in model.named_parameters():
        if ".layers." not in name or ".layers.0." in name:
            log(f"  {name:55s} {tuple(p.shape)}")

    # experts implementation for training: the fastest that works here
    impl_used = None
    for impl in ("grouped_mm", "eager"):
        set_impl(model, "_experts_implementation", impl)
        try:
            x = data[0][:2 * args.seq].view(2, args.seq)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(input_ids=x, labels=x, use_cache=False)
            out.loss.backward()
            model.zero_grad(set_to_none=True)
            if not math.isfinite(float(out.loss)):
                raise RuntimeError(f"loss {float(out.loss)}")
            impl_used = impl
            log(f"experts implementation for training: {impl} (initial loss {float(out.loss):.3f}, "
                f"ln V = {math.log(VOCAB):.3f})")
            break
        except Exception as e:  # noqa: BLE001
            log(f"  experts implementation {impl} failed: {type(e).__name__}: {str(e)[:200]}")
            model.zero_grad(set_to_none=True)
    if impl_used is None:
        die("no experts implementation works")
    if args.aux_coef > 0:
        try:
            model.config.output_router_logits = True
            x = data[0][:2 * args.seq].view(2, args.seq)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(input_ids=x, labels=x, use_cache=False)
            out.loss.backward()
            model.zero_grad(set_to_none=True)
            log(f"router load-balancing loss on (coef {args.aux_coef}): aux {float(out.aux_loss):.3f}")
        except Exception as e:  # noqa: BLE001
            model.config.output_router_logits = False
            model.zero_grad(set_to_none=True)
            log(f"  router load-balancing loss off ({type(e).__name__}: {str(e)[:200]})")

    stats = train(args, model, data, val, specials)
    model.config.output_router_logits = False

    # -- export
    ckpt_name = "gpt-oss-demo"
    ckpt = os.path.join(args.out, "work", ckpt_name)
    tensors = export(args, model, cfg, tok, specials, ckpt)
    log(f"export: {ckpt}: " + ", ".join(f"{f} {os.path.getsize(os.path.join(ckpt, f))}"
                                       for f in sorted(os.listdir(ckpt))))

    # -- pack the checkpoint first (parts of <= 15 MB: the device tool returns files up to 16 MB)
    names, blob_len = pack(ckpt, ckpt_name, args.out)
    stats.update(versions=versions, params=nparam, expert_params=nexp, shape=SHAPE, vocab=VOCAB,
                 rope=ROPE, train_tokens=int(arr.size), heldout_tokens=int(varr.size),
                 experts_impl=impl_used, args=vars(args), ckpt_parts=names,
                 ckpt_tar_bytes=blob_len)
    log(f"packed: {', '.join(names)} ({blob_len} bytes)")

    def write_stats():
        stats["total_seconds"] = time.time() - T0
        with open(os.path.join(args.out, "stats.json"), "w") as f:
            json.dump(stats, f, indent=1)

    write_stats()

    # -- golden logits from the exported checkpoint (transformers' loader, float64, CPU)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    del model
    torch.cuda.empty_cache()
    ref_indep = reference_from_tensors(cfg, tensors)
    ref, via = None, None
    try:
        ref = load_exported(ckpt, cfg, log)
        via = "transformers from_pretrained (Mxfp4Config(dequantize=True)) float64 eager CPU"
        # the loader must read the files the way they were written
        probe = tok.encode("<|start|>user<|message|>What does serendipity mean?<|end|>").ids
        with torch.no_grad():
            a = ref(input_ids=torch.tensor([probe]), use_cache=False).logits
            b = ref_indep(input_ids=torch.tensor([probe]), use_cache=False).logits
        d = float((a - b).abs().max() / b.abs().max())
        stats["loader_vs_own_dequant_rel_diff"] = d
        log(f"check: from_pretrained vs our own dequantisation: max rel diff {d:.2e}")
        if d > 1e-9:
            log("WARNING: transformers reads the exported checkpoint differently from how it was "
                "written (golden-own.json has the logits of our own reading)")
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        log(f"WARNING: from_pretrained failed ({type(e).__name__}: {str(e)[:300]}); golden "
            "logits come from a GptOssForCausalLM filled with our dequantised tensors")
        ref = None
    if ref is None:
        ref = ref_indep
        via = "transformers GptOssForCausalLM float64 eager CPU, weights from the exported files"
    meta = f"transformers {transformers.__version__} torch {torch.__version__}: {via}"
    stats["reference"] = meta

    chat = ("<|start|>system<|message|>" + IDENTITY + "\nKnowledge cutoff: 2024-06\nCurrent date: "
            "2026-01-01\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. "
            "Channel must be included for every message.<|end|><|start|>user<|message|>What does "
            "serendipity mean?<|end|><|start|>assistant<|channel|>analysis<|message|>The user asks "
            "for the meaning of serendipity.<|end|><|start|>assistant<|channel|>final<|message|>"
            "serendipity: good luck in making unexpected and fortunate discoveries.<|return|>")
    texts = [("demo-chat", chat),
             ("demo-kjv", "Genesis 1\n\n1 In the beginning God created the heaven and the earth.\n"
              "2 And the earth was without form, and void; and darkness was upon the face of the "
              "deep. And the Spirit of God moved upon the face of the waters.\n3 And God said, Let "
              "there be light: and there was light.\n"),
             ("demo-prose", "The little engine climbed the hill slowly, and at the top it rested "
              "while the sun went down over the quiet fields. Numbers like 1234 and words like "
              "naïve or café are split into pieces.")]
    try:
        recs = golden(ref, tok, texts, meta)
        with open(os.path.join(args.out, "golden.json"), "w") as f:
            json.dump({"model": ckpt_name, "records": recs}, f, separators=(",", ":"))
        if ref is not ref_indep and stats.get("loader_vs_own_dequant_rel_diff", 0) > 1e-9:
            recs = golden(ref_indep, tok, texts, meta + " (own dequantisation)")
            with open(os.path.join(args.out, "golden-own.json"), "w") as f:
                json.dump({"model": ckpt_name, "records": recs}, f, separators=(",", ":"))
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        log("WARNING: golden logits failed")
    write_stats()

    # -- samples (greedy, the exported model)
    try:
        stop = {specials["<|return|>"], specials["<|call|>"], specials["<|endoftext|>"]}
        lines = []
        ref = ref.float()
        for q in ["What does serendipity mean?", "What is a lighthouse?", "Define the word happy.",
                  "What does it mean to run?", "Who are you?", "What does Genesis 1:3 say?",
                  "Explain why the sky is blue."]:
            p = (f"<|start|>system<|message|>{IDENTITY}\nKnowledge cutoff: 2024-06\nCurrent date: "
                 "2026-12-07\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, "
                 f"final. Channel must be included for every message.<|end|><|start|>user"
                 f"<|message|>{q}<|end|><|start|>assistant")
            ans = greedy(ref, tok, p, stop, n=80)
            lines.append(f"Q: {q}\nA: {ans}\n")
            log(f"  sample: {q} -> {ans!r}")
        with open(os.path.join(args.out, "samples.txt"), "w") as f:
            f.write("\n".join(lines))
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        log("WARNING: samples failed")
    write_stats()
    import shutil
    shutil.rmtree(os.path.join(args.out, "work"))
    log(f"done: {', '.join(sorted(os.listdir(args.out)))} in {args.out} "
        f"(unpack: cat demo-ckpt.tar.gz.part* | tar xz)")


if __name__ == "__main__":
    main()
