#!/usr/bin/env python3
"""Trains rewoo's demo model: a small Llama, from scratch, on the demo world's
synthetic data in the seed model's prompt formats (reWOO planner, closed-
context reader, JSON/YAML function calls, chat).

  python3 tests/demo/train_demo_model.py --out OUT_DIR        # the committed model

Writes OUT_DIR/{config.json, model-0000K-of-0000N.safetensors,
model.safetensors.index.json, generation_config.json, train_log.json,
eval.json}: Hugging Face Llama layout (model.layers.N.self_attn.q_proj.weight,
rotate-half RoPE, tied embeddings: no lm_head.weight), fp16, shards under
15 MB. Then `rewoo quantize` makes the 4-bit GPTQ model that is committed.

Needs PyTorch and sentencepiece (the Llama 2 tokenizer from
../shared/data/tokenizers/llama2). Seeded: data, initialisation and batch
order come from --seed. The defaults are the committed model's run: 3008
steps of about 96K (padded) tokens, 4.4 minutes on one H200; --minutes is
only a safety cap. At the end it evaluates the fp16 model on 250 held-out
demo questions in Python (plan -> local search -> solver) into eval.json.
"""
import argparse
import json
import math
import os
import random
import re
import struct
import sys
import time
from multiprocessing import Pool

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import demo_world  # noqa: E402

DEFAULT_TOKENIZER = os.path.join(HERE, "..", "..", "..", "shared", "data", "tokenizers", "llama2",
                                 "tokenizer.model")
BOS, EOS, PAD = 1, 2, 0

# ---- data ---------------------------------------------------------------------------

_sp = None


def _worker_init(tok_path):
    global _sp
    import sentencepiece as spm
    _sp = spm.SentencePieceProcessor(model_file=tok_path)


def _world_examples(args):
    seed, per_world, seq = args
    ex = demo_world.Examples(demo_world.World(seed), random.Random(seed * 31 + 7))
    out = []
    for prompt, completion in ex.generate(per_world):
        p = _sp.encode(prompt)
        full = _sp.encode(prompt + completion)
        n = len(p)
        if full[:n] != p:  # boundary merged into one token: keep the common prefix
            n = next(i for i in range(min(len(p), len(full))) if p[i] != full[i])
        ids = [BOS] + full + [EOS]
        if len(ids) > seq:
            continue
        out.append((np.asarray(ids, dtype=np.int32), n + 1))  # loss from index n+1 on
    return out


def build_dataset(args):
    t0 = time.time()
    jobs = [(s, args.per_world, args.seq) for s in range(args.first_world,
                                                         args.first_world + args.worlds)]
    with Pool(args.workers, initializer=_worker_init, initargs=(args.tokenizer,)) as pool:
        parts = pool.map(_world_examples, jobs, chunksize=1)
    data = [x for part in parts for x in part]
    ntok = sum(len(x[0]) for x in data)
    nloss = sum(len(x[0]) - x[1] for x in data)
    print(f"data: {len(data)} examples, {ntok / 1e6:.1f}M tokens ({nloss / 1e6:.1f}M with loss) "
          f"in {time.time() - t0:.0f} s", flush=True)
    return data


def make_batches(data, batch_tokens, rng):
    """Length-bucketed batches of about batch_tokens (padded) tokens each."""
    order = sorted(range(len(data)), key=lambda i: (len(data[i][0]), rng.random()))
    batches, cur, cur_max = [], [], 0
    for i in order:
        L = len(data[i][0])
        if cur and max(cur_max, L) * (len(cur) + 1) > batch_tokens:
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, L)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(data, idx):
    T = max(len(data[i][0]) for i in idx)
    x = np.full((len(idx), T), PAD, dtype=np.int64)
    y = np.full((len(idx), T), -100, dtype=np.int64)
    for r, i in enumerate(idx):
        ids, start = data[i]
        x[r, :len(ids)] = ids
        # target at position t is ids[t+1]; loss only on completion tokens
        tgt = np.full(len(ids), -100, dtype=np.int64)
        tgt[start - 1:len(ids) - 1] = ids[start:]
        y[r, :len(ids)] = tgt
    return torch.from_numpy(x), torch.from_numpy(y)

# ---- model (Hugging Face Llama layout) -------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * self.weight.float()).to(x.dtype)


def rope_tables(positions, head_dim, theta):
    # HF Llama: rotate_half over [x1, x2] halves; cos/sin repeat the frequencies.
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim))
    freqs = positions.float()[..., None] * inv  # [..., T, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rot * sin


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        d = c["hidden_size"]
        self.q_proj = nn.Linear(d, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.nh // self.nkv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        else:  # torch < 2.0
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            if mask is None:
                mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            s = s.masked_fill(~mask, float("-inf"))
            o = s.softmax(-1) @ v
        return self.o_proj(o.transpose(1, 2).reshape(B, T, self.nh * self.hd))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, h, bias=False)
        self.up_proj = nn.Linear(d, h, bias=False)
        self.down_proj = nn.Linear(h, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = LlamaModel(c)
        std = 0.02
        for n, p in self.named_parameters():
            if p.dim() == 2:
                s = std / math.sqrt(2 * c["num_hidden_layers"]) if n.endswith(("o_proj.weight",
                                                                              "down_proj.weight")) else std
                nn.init.normal_(p, 0.0, s)

    def hidden(self, ids, positions=None, mask=None):
        B, T = ids.shape
        if positions is None:
            positions = torch.arange(T, device=ids.device)
        cos, sin = rope_tables(positions, self.c["head_dim"], self.c["rope_theta"])
        if cos.dim() == 3:  # per-sequence positions: [B, T, hd] -> [B, 1, T, hd]
            cos, sin = cos[:, None], sin[:, None]
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.model.norm(x)

    def logits(self, h):
        return h @ self.model.embed_tokens.weight.t()  # tied embeddings

    def loss(self, ids, targets):
        h = self.hidden(ids)
        sel = targets != -100
        logits = self.logits(h[sel]).float()
        t = targets[sel]
        # Cross-entropy from elementwise ops and reductions only (no scatter in
        # the backward pass), so that deterministic mode has nothing to refuse.
        target_logit = (logits * F.one_hot(t, logits.shape[-1]).to(logits.dtype)).sum(-1)
        return (torch.logsumexp(logits, -1) - target_logit).mean()

# ---- greedy generation for the evaluation ---------------------------------------------


@torch.no_grad()
def generate(model, sp, prompts, max_new, device, stop=("USER:",)):
    """Greedy, batched, left-padded, no KV cache (short outputs)."""
    enc = [[BOS] + sp.encode(p) for p in prompts]
    outs = [[] for _ in prompts]
    done = [False] * len(prompts)
    for _ in range(max_new):
        seqs = [e + o for e, o in zip(enc, outs)]
        T = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), T), PAD, dtype=torch.long)
        valid = torch.zeros((len(seqs), T), dtype=torch.bool)
        for i, s in enumerate(seqs):
            ids[i, T - len(s):] = torch.tensor(s)
            valid[i, T - len(s):] = True
        ids, valid = ids.to(device), valid.to(device)
        pos = (valid.long().cumsum(-1) - 1).clamp(min=0)
        causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
        mask = causal[None, None] & valid[:, None, None, :]
        mask = mask | torch.eye(T, dtype=torch.bool, device=device)[None, None]  # no empty rows
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=device.type == "cuda"):
            h = model.hidden(ids, pos, mask)
        nxt = model.logits(h[:, -1].float()).argmax(-1).tolist()
        for i, t in enumerate(nxt):
            if done[i]:
                continue
            if t == EOS:
                done[i] = True
                continue
            outs[i].append(t)
            text = sp.decode(outs[i])
            if any(s in text for s in stop):
                done[i] = True
        if all(done):
            break
    texts = []
    for o in outs:
        t = sp.decode(o)
        for s in stop:
            t = t.split(s)[0]
        texts.append(t.strip())
    return texts


def evaluate(model, sp, device, n_questions, batch=64):
    """The demo task end to end in Python: plan -> local search -> solver."""
    world = demo_world.World(0)
    index = demo_world.SearchIndex(world.documents())
    qs = [json.loads(l) for l in open(os.path.join(HERE, "..", "data", "demo", "questions.jsonl"))] \
        if os.path.exists(os.path.join(HERE, "..", "data", "demo", "questions.jsonl")) else None
    if qs is None:
        qs = [{"question": q["question"], "answer": q["answer"]} for q in world.questions()]
    qs = qs[:n_questions]
    tools = [(n, v[0], v[1][0]) for n, v in demo_world.TOOL_VARIANTS.items()]
    plan_re = re.compile(r"^Plan: .+\n:evidence0: = DuckDuckGo\[(.+)\]\n")
    results = []
    for b in range(0, len(qs), batch):
        chunk = qs[b:b + batch]
        plans = generate(model, sp, [demo_world.chat(demo_world.planner_message(tools, q["question"]))
                                     for q in chunk], 96, device)
        prompts = []
        for q, plan in zip(chunk, plans):
            m = plan_re.match(plan + "\n")
            query = m.group(1) if m else q["question"]
            hits = index.search(query, 5)
            text = demo_world.format_local_hits(query, hits)
            ctx = [("evidence", ":evidence0:"), ("tool", "DuckDuckGo")] + (
                [("url", hits[0]["url"])] if hits else [])
            instr = demo_world.fill(demo_world.load_template("solver"), task=q["question"])
            prompts.append(demo_world.chat(demo_world.closed_context_message([(ctx, text)], instr)))
            results.append({"question": q["question"], "answer": q["answer"], "plan": plan,
                            "plan_ok": bool(m), "query": query})
        answers = generate(model, sp, prompts, 48, device)
        for r, a in zip(results[b:], answers):
            r["output"] = a
            r["correct"] = r["answer"].lower() in a.lower()
    n = len(results)
    summary = {"questions": n,
               "plan_format_ok": sum(r["plan_ok"] for r in results) / max(n, 1),
               "answer_accuracy": sum(r["correct"] for r in results) / max(n, 1)}
    return summary, results

# ---- saving -------------------------------------------------------------------------------


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": {torch.float16: "F16", torch.float32: "F32"}[t.dtype],
                        "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_model(model, c, out, shard_bytes=15 * 1000 * 1000):
    os.makedirs(out, exist_ok=True)
    sd = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    shards, cur, size = [], {}, 0
    for k, v in sd.items():
        n = v.numel() * 2
        if cur and size + n > shard_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = v
        size += n
    shards.append(cur)
    weight_map, total = {}, 0
    for i, s in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_safetensors(os.path.join(out, name), s)
        for k, v in s.items():
            weight_map[k] = name
            total += v.numel() * 2
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": c["vocab_size"], "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"], "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"], "hidden_act": "silu",
        "max_position_embeddings": c["max_position_embeddings"], "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"], "tie_word_embeddings": True, "torch_dtype": "float16",
        "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS, "eos_token_id": EOS, "do_sample": False}, f, indent=2)

# ---- main -----------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--worlds", type=int, default=320)
    ap.add_argument("--per-world", type=int, default=500)
    ap.add_argument("--first-world", type=int, default=1)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--batch-tokens", type=int, default=96 * 1024)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--steps", type=int, default=None,
                    help="length of the cosine schedule (steps; default: --max-steps, so the "
                         "learning rate decays to a tenth of --lr by the last step)")
    ap.add_argument("--max-steps", type=int, default=3008,
                    help="stop after this many steps (3008: what the committed model got in "
                         "4.4 minutes on one H200)")
    ap.add_argument("--minutes", type=float, default=10.0,
                    help="stop training after this long, whatever the step")
    ap.add_argument("--eval-questions", type=int, default=250)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--nondeterministic", action="store_true",
                    help="allow nondeterministic GPU kernels (faster; by default two runs with "
                         "the same seed on the same GPU type give the same weights)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    t_start = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    deterministic = not args.nondeterministic
    if deterministic:
        # cuBLAS needs a fixed workspace before its first use to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    if args.steps is None:
        args.steps = args.max_steps
    data = build_dataset(args)
    c = {"vocab_size": 32000, "hidden_size": args.dim, "intermediate_size": args.ffn,
         "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
         "num_key_value_heads": args.kv_heads, "head_dim": args.dim // args.heads,
         "max_position_embeddings": args.seq, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
    model = LlamaForCausalLM(c).to(device)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {nparams / 1e6:.2f}M parameters ({c})", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                            **({"fused": True} if device.type == "cuda" else {}))
    loss_fn = model.loss
    if args.compile and hasattr(torch, "compile"):
        loss_fn = torch.compile(model.loss, dynamic=True)

    if deterministic and device.type == "cuda":
        # One forward/backward on a small batch: an op without a deterministic
        # kernel fails here, and the run goes on without the guarantee.
        try:
            bidx = next(iter(make_batches(data, 4096, random.Random(0))))
            x, y = collate(data, bidx)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                loss_fn(x.to(device), y.to(device)).backward()
            torch.cuda.synchronize()
        except torch.cuda.OutOfMemoryError:
            raise
        except RuntimeError as e:
            # PyTorch's refusal reads "... does not have a deterministic
            # implementation ..."; any other error is a real one.
            if "deterministic" not in str(e):
                raise
            print(f"deterministic mode refused an operation, continuing without it: {e}",
                  flush=True)
            torch.use_deterministic_algorithms(False)
            deterministic = False
        opt.zero_grad(set_to_none=True)

    rng = random.Random(args.seed)
    log, step, epoch, tokens = [], 0, 0, 0
    t_train = time.time()
    deadline = t_train + args.minutes * 60
    stop = False
    while not stop:
        for bidx in make_batches(data, args.batch_tokens, rng):
            if step >= min(args.steps, args.max_steps) or time.time() > deadline:
                stop = True
                break
            lr = args.lr * min(1.0, (step + 1) / args.warmup)
            lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps)))
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = collate(data, bidx)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                enabled=device.type == "cuda"):
                loss = loss_fn(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tokens += x.numel()
            if step % 50 == 0:
                lv = loss.item()
                el = time.time() - t_train
                log.append({"step": step, "loss": lv, "lr": lr, "seconds": el, "tokens": tokens})
                print(f"step {step} epoch {epoch} loss {lv:.4f} lr {lr:.2e} {el:.0f}s "
                      f"{tokens / max(el, 1e-9) / 1e3:.0f}k tok/s", flush=True)
            step += 1
        epoch += 1
    train_s = time.time() - t_train
    print(f"trained {step} steps, {tokens / 1e6:.1f}M tokens (padded) in {train_s:.0f} s", flush=True)
    model.eval()
    import hashlib
    digest = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(p.detach().float().cpu().numpy().tobytes())
    weights_sha256 = digest.hexdigest()
    print(f"weights sha256 {weights_sha256} (deterministic: {deterministic})", flush=True)
    save_model(model, c, args.out)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    torch.use_deterministic_algorithms(False)  # greedy evaluation needs no guarantee
    t0 = time.time()
    summary, results = evaluate(model, sp, device, args.eval_questions)
    summary["eval_seconds"] = time.time() - t0
    print("eval:", json.dumps(summary), flush=True)
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump({"summary": summary, "results": results}, f, indent=1)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump({"args": vars(args), "config": c, "parameters": nparams, "steps": step,
                   "deterministic": deterministic, "weights_sha256": weights_sha256,
                   "epochs": epoch, "train_seconds": train_s,
                   "total_seconds": time.time() - t_start, "log": log}, f, indent=1)


if __name__ == "__main__":
    main()
