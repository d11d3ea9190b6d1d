#!/usr/bin/env python3
"""Writes a random-weight Llama GGUF (Q4_0 linear layers, F16 output/embedding)
of one of rewoo's named shapes, for llama.cpp side-by-side benchmarks.

Needs numpy and llama.cpp's gguf-py (pass --gguf-py DIR; never committed):
  python3 make_gguf_q4_0.py --shape 1b --gguf-py .peers/llama.cpp/gguf-py out.gguf
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

    def f16(rows, cols, amp):
        return (rng.uniform(-amp, amp, size=(rows, cols))).astype(np.float16)

    def q4_0(rows, cols):
        # Block: fp16 scale d, then 16 bytes of nibbles; weight = d * (q - 8).
        nb = cols // 32
        blocks = np.empty((rows, nb, 18), dtype=np.uint8)
        d = np.full((rows, nb), np.sqrt(3.0 / cols) / 8.0, dtype=np.float16)
        blocks[:, :, 0:2] = d.view(np.uint8).reshape(rows, nb, 2)
        blocks[:, :, 2:] = rng.integers(0, 256, size=(rows, nb, 16), dtype=np.uint8)
        return blocks.reshape(rows, nb * 18)

    Q = gguf.GGMLQuantizationType.Q4_0
    w.add_tensor("token_embd.weight", f16(VOCAB, dim, 1.0))
    for l in range(layers):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", np.ones(dim, dtype=np.float32))
        w.add_tensor(p + "ffn_norm.weight", np.ones(dim, dtype=np.float32))
        for name, rows, cols in (("attn_q", dim, dim), ("attn_k", kv * hd, dim), ("attn_v", kv * hd, dim),
                                 ("attn_output", dim, dim), ("ffn_gate", ffn, dim), ("ffn_up", ffn, dim),
                                 ("ffn_down", dim, ffn)):
            w.add_tensor(p + name + ".weight", q4_0(rows, cols), raw_dtype=Q)
    w.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    w.add_tensor("output.weight", f16(VOCAB, dim, np.sqrt(3.0 / dim)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(a.out)


if __name__ == "__main__":
    main()
