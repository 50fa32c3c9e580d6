"""A nanoVLM checkpoint of the real size (222M values) with random weights, for the speed and
memory benchmark (bench/nanovlm.mjs), made with numpy alone: no torch, no nanoVLM checkout.

It writes what nanoVLM's `save_pretrained` writes (v0.1: config.json, model.safetensors with its
module names, the tied head saved as decoder.head.weight) at VLMConfig's default sizes, and the
small fixture's 1,024-token tokenizer.json (its ids fit the 49,152-token vocabulary). Its
numerics are not a reference: tests/reference/nanovlm.py makes the checked fixtures from
nanoVLM's own code. Only the speed and memory of a file of the real size are measured with it.

    pip install numpy
    python3 bench/random_nanovlm.py [--out bench/out/models/nanovlm]
"""

import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# nanoVLM v0.1's VLMConfig defaults (models/config.py), as its config.json holds them.
CONFIG = {
    "vit_hidden_dim": 768, "vit_inter_dim": 3072, "vit_patch_size": 16, "vit_img_size": 224,
    "vit_n_heads": 12, "vit_dropout": 0.0, "vit_n_blocks": 12, "vit_ln_eps": 1e-06,
    "vit_cls_flag": False, "vit_model_type": "google/siglip-base-patch16-224",
    "lm_hidden_dim": 576, "lm_inter_dim": 1536, "lm_rms_eps": 1e-05, "lm_re_base": 100000,
    "lm_max_position_embeddings": 8192, "lm_vocab_size": 49152, "lm_n_heads": 9,
    "lm_n_kv_heads": 3, "lm_dropout": 0.0, "lm_n_blocks": 30, "lm_attn_scaling": 1.0,
    "lm_max_length": 79, "lm_use_tokens": False, "lm_tie_weights": True,
    "lm_model_type": "HuggingFaceTB/SmolLM2-135M", "lm_tokenizer": "HuggingFaceTB/cosmo2-tokenizer",
    "lm_eos_token_id": 0, "mp_pixel_shuffle_factor": 2, "vlm_load_backbone_weights": True,
    "vlm_checkpoint_path": "checkpoints/nanoVLM-222M",
}


def tensors(c):
    """(name, shape, kind) of every tensor, kind "w" (normal, std 0.02), "one", "zero" or "freq"."""
    v, vi, l, li = c["vit_hidden_dim"], c["vit_inter_dim"], c["lm_hidden_dim"], c["lm_inter_dim"]
    p, n = c["vit_patch_size"], (c["vit_img_size"] // c["vit_patch_size"]) ** 2
    head_dim = l // c["lm_n_heads"]
    kv = head_dim * c["lm_n_kv_heads"]
    f = c["mp_pixel_shuffle_factor"] ** 2
    out = [
        ("vision_encoder.patch_embedding.conv.weight", (v, 3, p, p), "w"),
        ("vision_encoder.patch_embedding.conv.bias", (v,), "zero"),
        ("vision_encoder.patch_embedding.position_embedding", (1, n, v), "w"),
    ]
    for i in range(c["vit_n_blocks"]):
        b = f"vision_encoder.blocks.{i}."
        out += [
            (b + "ln1.weight", (v,), "one"), (b + "ln1.bias", (v,), "zero"),
            (b + "attn.qkv_proj.weight", (3 * v, v), "w"), (b + "attn.qkv_proj.bias", (3 * v,), "zero"),
            (b + "attn.out_proj.weight", (v, v), "w"), (b + "attn.out_proj.bias", (v,), "zero"),
            (b + "ln2.weight", (v,), "one"), (b + "ln2.bias", (v,), "zero"),
            (b + "mlp.fc1.weight", (vi, v), "w"), (b + "mlp.fc1.bias", (vi,), "zero"),
            (b + "mlp.fc2.weight", (v, vi), "w"), (b + "mlp.fc2.bias", (v,), "zero"),
        ]
    out += [("vision_encoder.layer_norm.weight", (v,), "one"), ("vision_encoder.layer_norm.bias", (v,), "zero")]
    out += [("MP.proj.weight", (l, f * v), "w")]
    for i in range(c["lm_n_blocks"]):
        b = f"decoder.blocks.{i}."
        out += [
            (b + "norm1.weight", (l,), "one"),
            (b + "attn.q_proj.weight", (l, l), "w"), (b + "attn.k_proj.weight", (kv, l), "w"),
            (b + "attn.v_proj.weight", (kv, l), "w"), (b + "attn.out_proj.weight", (l, l), "w"),
            (b + "norm2.weight", (l,), "one"),
            (b + "mlp.gate_proj.weight", (li, l), "w"), (b + "mlp.up_proj.weight", (li, l), "w"),
            (b + "mlp.down_proj.weight", (l, li), "w"),
        ]
    out += [
        ("decoder.norm.weight", (l,), "one"),
        ("decoder.head.weight", (c["lm_vocab_size"], l), "w"),
        ("decoder.rotary_embd.inv_freq", (head_dim // 2,), "freq"),
    ]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench/out/models/nanovlm"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    c = CONFIG
    head_dim = c["lm_hidden_dim"] // c["lm_n_heads"]
    header, offset, order = {}, 0, []
    for name, shape, kind in sorted(tensors(c)):
        size = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
        order.append((name, shape, kind))
    meta = json.dumps(header, separators=(",", ":")).encode()
    meta += b" " * (-len(meta) % 8)
    with open(out / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(meta)) + meta)
        for name, shape, kind in order:
            if kind == "w":
                values = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
            elif kind == "one":
                values = np.ones(shape, np.float32)
            elif kind == "zero":
                values = np.zeros(shape, np.float32)
            else:
                i = np.arange(0, head_dim, 2, dtype=np.float64)
                values = (1.0 / c["lm_re_base"] ** (i / head_dim)).astype(np.float32)
            fh.write(values.astype("<f4").tobytes())
    (out / "config.json").write_text(json.dumps(c, indent=4))
    shutil.copy(ROOT / "tests/fixtures/nanovlm/small/tokenizer.json", out / "tokenizer.json")
    total = sum(int(np.prod(s)) for _, s, _ in order)
    print(f"{out}: {total:,} values, model.safetensors {offset / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
