#!/usr/bin/env python3
"""Writes a random-weight Llama model as a Q4_0 GGUF for llama.cpp, in the
shapes rewoo's benchmarks use (7b = Llama-2-7B, 34b = CodeLlama-34B).

    PYTHONPATH=<llama.cpp>/gguf-py python3 make_q4_0_gguf.py 34b out.gguf

Every 2-D weight (token_embd and output too) is Q4_0 with random 4-bit
values and a small fixed scale; norms are fp32 ones. The vocabulary is 32000
placeholder pieces (llama-bench and llama-batched-bench feed token ids).
"""
import sys

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType, TokenType

SHAPES = {  # dim, ffn, layers, heads, kv heads, rope theta
    "tiny": (256, 768, 2, 8, 4, 10000.0),
    "7b": (4096, 11008, 32, 32, 32, 10000.0),
    "34b": (8192, 22016, 48, 64, 8, 1000000.0),
}
VOCAB = 32000


def main() -> None:
    name, path = sys.argv[1], sys.argv[2]
    dim, ffn, layers, heads, kv, theta = SHAPES[name]
    hd = dim // heads
    w = GGUFWriter(path, "llama")
    w.add_context_length(16384 if name == "34b" else 4096)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(theta)
    w.add_rope_dimension_count(hd)
    w.add_vocab_size(VOCAB)
    w.add_file_type(2)  # MOSTLY_Q4_0
    w.add_tokenizer_model("llama")
    toks = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, VOCAB)]
    w.add_token_list(toks)
    w.add_token_scores([0.0] * VOCAB)
    w.add_token_types([TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] +
                      [TokenType.NORMAL] * (VOCAB - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    tensors = [("token_embd.weight", (VOCAB, dim), True)]
    for i in range(layers):
        b = f"blk.{i}."
        tensors += [(b + "attn_norm.weight", (dim,), False),
                    (b + "attn_q.weight", (dim, dim), True),
                    (b + "attn_k.weight", (kv * hd, dim), True),
                    (b + "attn_v.weight", (kv * hd, dim), True),
                    (b + "attn_output.weight", (dim, dim), True),
                    (b + "ffn_norm.weight", (dim,), False),
                    (b + "ffn_gate.weight", (ffn, dim), True),
                    (b + "ffn_up.weight", (ffn, dim), True),
                    (b + "ffn_down.weight", (dim, ffn), True)]
    tensors += [("output_norm.weight", (dim,), False), ("output.weight", (VOCAB, dim), True)]

    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, size=(1 << 22) * 18, dtype=np.uint8)  # 4M blocks
    scale = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    pool.reshape(-1, 18)[:, 0:2] = scale

    def q4_0(shape):
        rows, cols = shape
        n = rows * cols // 32 * 18
        reps = -(-n // pool.size)
        data = np.tile(pool, reps)[:n] if reps > 1 else pool[:n]
        return data.reshape(rows, cols // 32 * 18)

    for name_, shape, quant in tensors:
        if quant:
            w.add_tensor_info(name_, (shape[0], shape[1] // 32 * 18), np.dtype(np.uint8),
                              shape[0] * shape[1] // 32 * 18, raw_dtype=GGMLQuantizationType.Q4_0)
        else:
            w.add_tensor_info(name_, shape, np.dtype(np.float32), shape[0] * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name_, shape, quant in tensors:
        w.write_tensor_data(q4_0(shape) if quant else np.ones(shape, dtype=np.float32))
    w.close()


if __name__ == "__main__":
    main()
