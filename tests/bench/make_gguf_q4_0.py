#!/usr/bin/env python3
"""Writes a random-weight Llama GGUF (Q4_0 linear layers) of one of rewoo's
named shapes, for llama.cpp side-by-side benchmarks. The token embedding and
the output layer are F16 (as rewoo keeps them), or Q4_0 with --q4-output (as
the GPU table compares). Tensors are written one at a time, so a 34B file
needs little memory.

Needs numpy and llama.cpp's gguf-py (pass --gguf-py DIR; never committed):
  python3 make_gguf_q4_0.py out.gguf --shape 1b --gguf-py .peers/llama.cpp/gguf-py
"""
import argparse
import sys

SHAPES = {  # dim, ffn, layers, heads, kv heads, ctx, rope theta (as rewoo's shape_by_name)
    "tiny": (64, 128, 2, 4, 2, 2048, 10000.0),
    "small": (256, 768, 4, 8, 4, 2048, 10000.0),
    "1b": (2048, 5632, 22, 32, 4, 2048, 10000.0),
    "7b": (4096, 11008, 32, 32, 32, 4096, 10000.0),
    "13b": (5120, 13824, 40, 40, 40, 4096, 10000.0),
    "34b": (8192, 22016, 48, 64, 8, 16384, 1e6),
    "70b": (8192, 28672, 80, 64, 8, 4096, 10000.0),
}
VOCAB = 32000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--shape", default="1b", choices=sorted(SHAPES))
    ap.add_argument("--gguf-py", required=True, help="llama.cpp/gguf-py folder")
    ap.add_argument("--q4-output", action="store_true",
                    help="token embedding and output layer in Q4_0 too (default: F16)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    sys.path.insert(0, a.gguf_py)
    import numpy as np
    import gguf

    dim, ffn, layers, heads, kv, ctx, theta = SHAPES[a.shape]
    hd = dim // heads
    rng = np.random.default_rng(a.seed)
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"random-{a.shape}-q4_0")
    w.add_context_length(ctx)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_rope_dimension_count(hd)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(theta)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    # A placeholder SentencePiece-style vocabulary (benchmarks need no text).
    tokens, scores, types = [], [], []
    for i in range(VOCAB):
        if i == 0:
            t, ty = "<unk>", gguf.TokenType.UNKNOWN
        elif i == 1:
            t, ty = "<s>", gguf.TokenType.CONTROL
        elif i == 2:
            t, ty = "</s>", gguf.TokenType.CONTROL
        elif i < 3 + 256:
            t, ty = f"<0x{i - 3:02X}>", gguf.TokenType.BYTE
        else:
            t, ty = f"\u2581t{i}", gguf.TokenType.NORMAL
        tokens.append(t)
        scores.append(-float(i))
        types.append(ty)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    # Q4_0 block: fp16 scale d, then 16 bytes of nibbles; weight = d * (q - 8).
    # Random nibbles come from one pool of 4M blocks, tiled (generating every
    # byte of a 34B model would take minutes); d = sqrt(3 / cols) / 8 keeps
    # activations in range.
    pool = rng.integers(0, 256, size=((1 << 22), 16), dtype=np.uint8)

    def q4_0(rows, cols):
        nb = rows * (cols // 32)
        reps = -(-nb // len(pool))
        nibbles = np.tile(pool, (reps, 1))[:nb] if reps > 1 else pool[:nb]
        blocks = np.empty((nb, 18), dtype=np.uint8)
        blocks[:, 0:2] = np.float16(np.sqrt(3.0 / cols) / 8.0).reshape(1).view(np.uint8)
        blocks[:, 2:] = nibbles
        return blocks.reshape(rows, (cols // 32) * 18)

    def f16(rows, cols, amp):
        return rng.uniform(-amp, amp, size=(rows, cols)).astype(np.float16)

    # (name, rows, cols, kind): kind "q4", "f16" (amplitude) or "ones" (fp32 norm).
    Q = gguf.GGMLQuantizationType.Q4_0
    tensors = [("token_embd.weight", VOCAB, dim, "q4" if a.q4_output else ("f16", 1.0))]
    for l in range(layers):
        p = f"blk.{l}."
        tensors += [(p + "attn_norm.weight", 1, dim, "ones"), (p + "ffn_norm.weight", 1, dim, "ones")]
        for name, rows, cols in (("attn_q", dim, dim), ("attn_k", kv * hd, dim), ("attn_v", kv * hd, dim),
                                 ("attn_output", dim, dim), ("ffn_gate", ffn, dim), ("ffn_up", ffn, dim),
                                 ("ffn_down", dim, ffn)):
            tensors.append((p + name + ".weight", rows, cols, "q4"))
    tensors.append(("output_norm.weight", 1, dim, "ones"))
    tensors.append(("output.weight", VOCAB, dim, "q4" if a.q4_output else ("f16", np.sqrt(3.0 / dim))))

    for name, rows, cols, kind in tensors:
        if kind == "q4":
            w.add_tensor_info(name, (rows, cols // 32 * 18), np.dtype(np.uint8),
                              rows * cols // 32 * 18, raw_dtype=Q)
        elif kind == "ones":
            w.add_tensor_info(name, (cols,), np.dtype(np.float32), cols * 4)
        else:
            w.add_tensor_info(name, (rows, cols), np.dtype(np.float16), rows * cols * 2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, rows, cols, kind in tensors:
        if kind == "q4":
            w.write_tensor_data(q4_0(rows, cols))
        elif kind == "ones":
            w.write_tensor_data(np.ones(cols, dtype=np.float32))
        else:
            w.write_tensor_data(f16(rows, cols, kind[1]))
    w.close()
    print(a.out)


if __name__ == "__main__":
    main()
