#!/usr/bin/env python3
"""Reference outputs of nanoVLM (tag v0.1) for the Rust nanoVLM port.

nanoVLM's own code is imported from a checkout given on the command line; none
of it lives in this repository. The script builds nanoVLM's
`VisionLanguageModel(cfg, load_backbone=False)` with seeded random weights,
saves it with nanoVLM's own `save_pretrained` (config.json + model.safetensors),
runs fixed inputs through nanoVLM's own modules and writes what came out:

    DIR/config.json, DIR/model.safetensors   nanoVLM's save_pretrained
    DIR/reference.safetensors                tensors listed in reference.json
    DIR/reference.json                       ids, margins, versions, how each tensor was made
    DIR/tokenizer.json                       copy of --tokenizer, if one was given

Usage:
    python tests/reference/nanovlm.py --nanovlm /path/to/nanoVLM-v0.1 --size small \
        --out tests/fixtures/nanovlm/small --tokenizer tests/fixtures/nanovlm/small/tokenizer.json
    python tests/reference/nanovlm.py --nanovlm /path/to/nanoVLM-v0.1 --size real --out /tmp/nanovlm-real
"""
import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_IMAGE = os.path.join(REPO, "tests", "fixtures", "nanovlm", "cat.png")
TEMPLATE = "Question: {} Answer:"  # generate.py's prompt template
PROMPT = "What is this?"           # generate.py's default --prompt
# Fixed prompt ids used when no tokenizer is given (any valid ids < 1024).
FIXED_PROMPT_IDS = [17, 301, 42, 88, 555, 7, 1000, 250, 64, 3]
GREEDY_STEPS = 10
REAL_LOGIT_POSITIONS = 4
MARGIN_WARN = 1e-3
# "scaled" init: std of the token embedding (= tied LM head) and the gain on the
# decoder's MLP down_proj. With the MLP dominating the residual stream, the next
# token is a token-dependent function of the context, so greedy decoding moves on
# instead of repeating one token (which would hide a broken generate loop).
EMB_STD = 1.0
MLP_GAIN = 8.0


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nanovlm", required=True, help="checkout of nanoVLM at tag v0.1")
    ap.add_argument("--size", choices=["small", "real"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", help="tokenizer.json used to encode the prompt template")
    ap.add_argument("--image", default=DEFAULT_IMAGE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["scaled", "nanovlm"], default="scaled",
                    help="scaled (default): after nanoVLM's init, redraw weights so activations stay O(1) "
                         "and norm weights/biases are not 1/0; nanovlm: keep nanoVLM's own init")
    return ap.parse_args()


def import_nanovlm(path):
    path = os.path.abspath(path)
    sys.path.insert(0, path)
    from models.config import VLMConfig
    from models.vision_language_model import VisionLanguageModel
    from models.language_model import apply_rotary_pos_embd
    from data.processors import get_image_processor
    rev = None
    try:
        rev = subprocess.run(["git", "-C", path, "describe", "--tags", "--always"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except Exception:
        pass
    # sha256 of the nanoVLM files this script runs, to tie the outputs to the exact code
    import hashlib
    files = {}
    for rel in ["models/config.py", "models/vision_transformer.py", "models/modality_projector.py",
                "models/language_model.py", "models/vision_language_model.py", "data/processors.py"]:
        with open(os.path.join(path, rel), "rb") as f:
            files[rel] = hashlib.sha256(f.read()).hexdigest()
    return VLMConfig, VisionLanguageModel, apply_rotary_pos_embd, get_image_processor, {"describe": rev, "sha256": files}


def make_config(VLMConfig, size, vocab):
    if size == "real":
        return VLMConfig()
    # Lesson geometry (224 px, 16 px patches, 14x14 = 196 patches, shuffle 2 -> 49 tokens), small widths.
    return VLMConfig(
        vit_hidden_dim=32, vit_inter_dim=64, vit_patch_size=16, vit_img_size=224,
        vit_n_heads=2, vit_n_blocks=2,
        lm_hidden_dim=64, lm_inter_dim=128, lm_n_heads=4, lm_n_kv_heads=2, lm_n_blocks=2,
        lm_vocab_size=vocab, lm_tie_weights=True,
        mp_pixel_shuffle_factor=2,
    )


@torch.no_grad()
def scaled_init(model):
    """Redraw weights (seeded global RNG) so every part of the forward matters.

    nanoVLM's own init sets LayerNorm/RMSNorm weights to 1, biases to 0 and
    linear weights to N(0, 0.02), which leaves attention almost uniform and
    would let a port that ignores norm weights or biases pass. Here: linear and
    conv weights N(0, 1/fan_in), the decoder MLPs' down_proj N(0, (MLP_GAIN)^2/fan_in);
    every bias N(0, 0.1^2); norm weights 1 + N(0, 0.1^2); token embedding (tied
    LM head) N(0, EMB_STD^2); ViT position embedding kept as nanoVLM draws it
    (uniform [0, 1)).
    """
    for name, p in model.named_parameters():
        if name.endswith("position_embedding"):
            continue
        if name == "decoder.token_embedding.weight":
            p.normal_(0.0, EMB_STD)
        elif name.endswith("bias"):
            p.normal_(0.0, 0.1)
        elif p.dim() == 1:  # LayerNorm / RMSNorm weight
            p.normal_(1.0, 0.1)
        else:
            fan_in = p[0].numel()
            gain = MLP_GAIN if name.startswith("decoder.") and ".down_proj." in name else 1.0
            p.normal_(0.0, gain / math.sqrt(fan_in))


def safetensors_header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))


def top2_margin(logits_row):
    v = torch.topk(logits_row, 2).values
    return float(v[0] - v[1])


@torch.no_grad()
def vit_attention_layer0(model, pixels):
    """softmax(q k^T / sqrt(d)) of ViT block 0, from nanoVLM's own module weights."""
    ve = model.vision_encoder
    x = ve.patch_embedding(pixels)
    blk = ve.blocks[0]
    h = blk.ln1(x)
    attn = blk.attn
    B, T, C = h.shape
    q, k, v = attn.qkv_proj(h).split(C, dim=2)
    q = q.view(B, T, attn.n_heads, attn.head_dim).transpose(1, 2)
    k = k.view(B, T, attn.n_heads, attn.head_dim).transpose(1, 2)
    v = v.view(B, T, attn.n_heads, attn.head_dim).transpose(1, 2)
    w = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(attn.head_dim), dim=-1)
    # The recomputation must give the module's own output.
    y = attn.out_proj((w @ v).transpose(1, 2).reshape(B, T, C))
    err = float((y - attn(h)).abs().max())
    return w, err


@torch.no_grad()
def decoder_last_block_attention(model, embeds, apply_rotary_pos_embd):
    """Attention of the last position over all positions in the decoder's last block."""
    dec = model.decoder
    B, T, _ = embeds.shape
    pos = torch.arange(T).unsqueeze(0).expand(B, -1)
    cos, sin = dec.rotary_embd(pos)
    x = embeds
    for blk in dec.blocks[:-1]:
        x = blk(x, cos, sin, None)
    last = dec.blocks[-1]
    h = last.norm1(x)
    a = last.attn
    q = a.q_proj(h).view(B, T, a.n_heads, a.head_dim).transpose(1, 2)
    k = a.k_proj(h).view(B, T, a.n_kv_heads, a.head_dim).transpose(1, 2)
    v = a.v_proj(h).view(B, T, a.n_kv_heads, a.head_dim).transpose(1, 2)
    q, k = apply_rotary_pos_embd(q, k, cos, sin)
    k = k.repeat_interleave(a.n_kv_groups, dim=1)
    v = v.repeat_interleave(a.n_kv_groups, dim=1)
    s = (q @ k.transpose(-2, -1)) / math.sqrt(a.head_dim)
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    w = torch.softmax(s, dim=-1)
    y = a.out_proj((w @ v).transpose(1, 2).reshape(B, T, -1))
    err = float((y - a(h, cos, sin, None)).abs().max())
    return w[:, :, -1, :], err


@torch.no_grad()
def independent_checks(model, embeds):
    """Check nanoVLM's RoPE, GQA head mapping and norms against formulas written out here."""
    dec = model.decoder
    a = dec.blocks[-1].attn
    hd, T = a.head_dim, embeds.shape[1]
    out = {}
    # RoPE: inv_freq = 1 / base^(2i/hd), angles = pos * inv_freq, cos/sin = cat([angles, angles]) * attn_scaling
    inv_freq = 1.0 / (float(model.cfg.lm_re_base) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = dec.rotary_embd(torch.arange(T).unsqueeze(0))
    out["rope_inv_freq_max_abs_err"] = float((dec.rotary_embd.inv_freq.double() - inv_freq).abs().max())
    out["rope_cos_max_abs_err"] = float((cos[0].double() - torch.cat([ang, ang], -1).cos() * model.cfg.lm_attn_scaling).abs().max())
    out["rope_sin_max_abs_err"] = float((sin[0].double() - torch.cat([ang, ang], -1).sin() * model.cfg.lm_attn_scaling).abs().max())
    # rotate_half pairs element i with element i + hd/2: q' = q*cos + cat(-q[hd/2:], q[:hd/2])*sin
    q = torch.randn(1, 1, T, hd)
    from models.language_model import apply_rotary_pos_embd
    qr, _ = apply_rotary_pos_embd(q, q, cos, sin)
    half = hd // 2
    want = q * cos[:, None] + torch.cat([-q[..., half:], q[..., :half]], -1) * sin[:, None]
    out["rope_rotate_half_max_abs_err"] = float((qr - want).abs().max())
    # GQA: query head h reads kv head h // (n_heads / n_kv_heads)
    k = torch.randn(1, a.n_kv_heads, T, hd)
    rep = k.repeat_interleave(a.n_kv_groups, dim=1)
    out["gqa_query_head_to_kv_head"] = [h // a.n_kv_groups for h in range(a.n_heads)]
    out["gqa_mapping_equal"] = all(torch.equal(rep[:, h], k[:, h // a.n_kv_groups]) for h in range(a.n_heads))
    # RMSNorm: x * rsqrt(mean(x^2) + eps) * w
    x = embeds
    n = dec.blocks[0].norm1
    out["rmsnorm_max_abs_err"] = float((n(x) - x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + model.cfg.lm_rms_eps) * n.weight).abs().max())
    return out


@torch.no_grad()
def check_pixel_shuffle(model, feats):
    """Check the element order of nanoVLM's pixel shuffle against an explicit formula."""
    mp = model.MP
    s = mp.scale_factor
    got = mp.pixel_shuffle(feats)
    B, N, D = feats.shape
    side = int(round(N ** 0.5))
    out_side = side // s
    want = torch.empty_like(got)
    for r in range(out_side):
        for c in range(out_side):
            parts = [feats[:, (s * r + dr) * side + (s * c + dc), :] for dr in range(s) for dc in range(s)]
            want[:, r * out_side + c, :] = torch.cat(parts, dim=-1)
    return torch.equal(got, want), got


def main():
    args = parse_args()
    t_start = time.time()
    VLMConfig, VisionLanguageModel, apply_rotary_pos_embd, get_image_processor, nanovlm_rev = import_nanovlm(args.nanovlm)

    tok = None
    tok_info = None
    if args.tokenizer:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(args.tokenizer)

    if args.size == "small":
        if tok is None:
            raise SystemExit("--size small needs --tokenizer (its vocabulary sizes the model)")
        vocab = ((tok.get_vocab_size() + 63) // 64) * 64
    else:
        vocab = None

    torch.manual_seed(args.seed)
    cfg = make_config(VLMConfig, args.size, vocab)
    model = VisionLanguageModel(cfg, load_backbone=False)
    if args.init == "scaled":
        scaled_init(model)
    model.eval()
    assert model.decoder.head.weight is model.decoder.token_embedding.weight

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out)
    t_saved = time.time()

    # ---- prompt ids ----
    template = TEMPLATE.format(PROMPT)
    if tok is not None:
        enc = tok.encode(template)  # add_special_tokens=True: the file's post_processor applies
        prompt_ids = enc.ids
        tok_info = {
            "file": os.path.basename(args.tokenizer),
            "vocab_size": tok.get_vocab_size(),
            "template": template,
            "tokens": enc.tokens,
            "post_processor": json.loads(tok.to_str()).get("post_processor"),
            "bos_added": False,
        }
        if prompt_ids and prompt_ids[0] in (0, 1):
            tok_info["bos_added"] = True
        # Cross-check with transformers' fast tokenizer (what generate.py uses via AutoTokenizer).
        try:
            from transformers import PreTrainedTokenizerFast
            hf = PreTrainedTokenizerFast(tokenizer_file=args.tokenizer)
            if hasattr(hf, "batch_encode_plus"):
                hf_ids = hf.batch_encode_plus([template])["input_ids"][0]
                how = "PreTrainedTokenizerFast.batch_encode_plus"
            else:
                hf_ids = hf([template])["input_ids"][0]
                how = "PreTrainedTokenizerFast.__call__ (batch_encode_plus is gone in this transformers)"
            tok_info["transformers_check"] = {"how": how, "ids": list(hf_ids), "equal": list(hf_ids) == prompt_ids}
        except Exception as e:  # transformers is optional for this check
            tok_info["transformers_check"] = {"error": repr(e)}
        if os.path.abspath(args.tokenizer) != os.path.abspath(os.path.join(args.out, "tokenizer.json")):
            shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    else:
        prompt_ids = list(FIXED_PROMPT_IDS)
    assert max(prompt_ids) < cfg.lm_vocab_size
    ids = torch.tensor([prompt_ids], dtype=torch.int64)

    # ---- pixels through nanoVLM's own image processor ----
    img = Image.open(args.image).convert("RGB")
    pixels = get_image_processor(cfg.vit_img_size)(img).unsqueeze(0)
    pixels_u8 = torch.from_numpy(np.array(img.resize((cfg.vit_img_size, cfg.vit_img_size), Image.BILINEAR)))
    pixels_u8 = pixels_u8.permute(2, 0, 1).unsqueeze(0).contiguous()
    pil_equal = torch.equal(pixels, pixels_u8.float().div(255))
    assert pil_equal, "torchvision Resize+ToTensor differs from PIL BILINEAR resize / 255"

    with torch.no_grad():
        patch_embeddings = model.vision_encoder.patch_embedding(pixels)
        patch_features = model.vision_encoder(pixels)
        shuffle_ok, shuffled = check_pixel_shuffle(model, patch_features)
        assert shuffle_ok, "pixel shuffle order differs from the documented formula"
        image_tokens = model.MP(patch_features)
        token_embd = model.decoder.token_embedding(ids)
        embeds = torch.cat((image_tokens, token_embd), dim=1)
        hidden = model.decoder(embeds)
        logits = model.decoder.head(hidden)
        # nanoVLM's forward() gives the same hidden states
        fwd_hidden, _ = model(ids, pixels)
        assert torch.equal(fwd_hidden, hidden)

        vit_attn, vit_attn_err = vit_attention_layer0(model, pixels)
        dec_attn, dec_attn_err = decoder_last_block_attention(model, embeds, apply_rotary_pos_embd)
        indep = independent_checks(model, embeds)

        # Greedy version of VisionLanguageModel.generate: full recompute, no KV cache, argmax.
        outputs = embeds
        greedy, margins = [], []
        for _ in range(GREEDY_STEPS):
            model_out = model.decoder(outputs, None)
            last_logits = model.decoder.head(model_out[:, -1, :])
            margins.append(top2_margin(last_logits[0]))
            next_token = torch.argmax(last_logits, dim=-1, keepdim=True)
            greedy.append(int(next_token))
            outputs = torch.cat((outputs, model.decoder.token_embedding(next_token)), dim=1)
    t_ran = time.time()

    # The saved files load back through nanoVLM's own from_pretrained and give the same logits.
    reloaded = VisionLanguageModel.from_pretrained(args.out).eval()
    with torch.no_grad():
        h2 = reloaded.decoder(torch.cat((reloaded.MP(reloaded.vision_encoder(pixels)),
                                         reloaded.decoder.token_embedding(ids)), dim=1))
        reload_equal = torch.equal(reloaded.decoder.head(h2), logits)
    del reloaded

    T = embeds.shape[1]
    tensors = {
        "pixels_u8": pixels_u8,
        "patch_embeddings": patch_embeddings,
        "patch_features": patch_features,
        "pixel_shuffled": shuffled,
        "image_tokens": image_tokens,
        "prompt_ids": ids,
        "vision_attention_layer0": vit_attn,
        "decoder_attention_last_block_last_position": dec_attn,
        "greedy_ids": torch.tensor([greedy], dtype=torch.int64),
    }
    if args.size == "small":
        tensors["logits"] = logits
        logits_positions = list(range(T))
    else:
        tensors["pixels"] = pixels
        tensors["logits"] = logits[:, -REAL_LOGIT_POSITIONS:, :]
        logits_positions = list(range(T - REAL_LOGIT_POSITIONS, T))
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))

    model_header = safetensors_header(os.path.join(args.out, "model.safetensors"))
    model_meta = model_header.pop("__metadata__", None)
    names = sorted(model_header)
    tied = {
        "decoder.head.weight" in names and "decoder.token_embedding.weight" not in names: "decoder.head.weight only",
        "decoder.token_embedding.weight" in names and "decoder.head.weight" not in names: "decoder.token_embedding.weight only",
        "decoder.head.weight" in names and "decoder.token_embedding.weight" in names: "both",
    }.get(True, "neither")

    nv = sum(p.numel() for p in model.parameters())
    meta = {
        "size": args.size,
        "seed": args.seed,
        "init": {"kind": args.init, "emb_std": EMB_STD, "decoder_mlp_down_proj_gain": MLP_GAIN,
                 "doc": " ".join(scaled_init.__doc__.split())} if args.init == "scaled" else {"kind": "nanovlm"},
        "versions": {
            "nanovlm": nanovlm_rev,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pillow": Image.__version__,
            "torchvision": __import__("torchvision").__version__,
            "safetensors": __import__("safetensors").__version__,
        },
        "parameters": nv,
        "config": json.load(open(os.path.join(args.out, "config.json"))),
        "image": os.path.relpath(os.path.abspath(args.image), REPO) if os.path.abspath(args.image).startswith(REPO) else args.image,
        "preprocess": {
            "pipeline": "data.processors.get_image_processor(224): Resize((224,224)) (bilinear, antialias, "
                        "aspect ratio not kept) then ToTensor (x/255, CHW, RGB); no mean/std normalisation",
            "pixels_is_preprocessed_image": True,
            "pixels_equals_pil_bilinear_resize_u8_div_255": pil_equal,
            "how_to_get_pixels": "pixels = pixels_u8 (uint8, 1x3x224x224) as f32 / 255.0, exactly "
                                 "(this is what ToTensor does, bit for bit)",
        },
        "prompt": {"template": template, "ids": prompt_ids, "tokenizer": tok_info},
        "greedy": {
            "steps": GREEDY_STEPS,
            "ids": greedy,
            "top1_top2_margin_per_step": margins,
            "min_margin": min(margins),
            "initial_forward_last_position_margin": top2_margin(logits[0, -1]),
            "fragile": min(margins) < MARGIN_WARN,
        },
        "checks": {
            "vit_attention_recompute_max_abs_err": vit_attn_err,
            "decoder_attention_recompute_max_abs_err": dec_attn_err,
            "pixel_shuffle_formula_equal": shuffle_ok,
            "forward_equals_manual_path": True,
            "from_pretrained_reload_logits_equal": reload_equal,
            "formulas": indep,
        },
        "tensors": {
            "pixels_u8": "uint8 (1,3,224,224): the test image resized by PIL BILINEAR to 224x224, CHW; "
                         "the model input is pixels_u8/255 (see preprocess)",
            "patch_embeddings": "vision_encoder.patch_embedding(pixels): conv + position embedding, before the blocks",
            "patch_features": "vision_encoder(pixels): (1,196,vit_hidden_dim), after the final LayerNorm",
            "pixel_shuffled": "MP.pixel_shuffle(patch_features): (1,49,4*vit_hidden_dim); token (r,c) = concat over "
                              "(dr,dc) in (0,0),(0,1),(1,0),(1,1) of patch (2r+dr, 2c+dc)",
            "image_tokens": "MP(patch_features): (1,49,lm_hidden_dim)",
            "prompt_ids": "int64 (1,T) prompt token ids",
            "logits": "decoder.head(decoder(cat(image_tokens, decoder.token_embedding(prompt_ids)))): "
                      "(1,P,vocab) for positions " + (
                          "0..49+T-1 (all)" if args.size == "small" else
                          f"{logits_positions[0]}..{logits_positions[-1]} (the last {REAL_LOGIT_POSITIONS})"),
            "vision_attention_layer0": "softmax(q k^T / sqrt(head_dim)) of ViT block 0 on ln1(patch_embeddings), "
                                       "(1,vit_n_heads,196,196), rows = queries",
            "decoder_attention_last_block_last_position": "decoder's last block: attention weights of the last "
                                                          "position over all 49+T positions, after RoPE and GQA "
                                                          "repeat_interleave, (1,lm_n_heads,49+T)",
            "greedy_ids": "int64 (1,10): VisionLanguageModel.generate's loop (full recompute each step, no KV "
                          "cache, no EOS stop) with argmax instead of multinomial",
            "pixels": "f32 (1,3,224,224), real size only: the model input",
        },
        "logits_positions": [logits_positions[0], logits_positions[-1]],
        "model_safetensors": {
            "metadata": model_meta,
            "tied_head_stored_as": tied,
            "tensors": {k: {"dtype": model_header[k]["dtype"], "shape": model_header[k]["shape"]} for k in names},
        },
    }
    timing = {
        "build_and_save": round(t_saved - t_start, 2),
        "forward_and_greedy": round(t_ran - t_saved, 2),
        "total": round(time.time() - t_start, 2),
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")

    print(f"prompt ids {prompt_ids}")
    print(f"greedy ids {greedy}")
    print(f"margins {['%.4g' % m for m in margins]} (min {min(margins):.4g})")
    print(f"tied head stored as: {tied}; metadata {model_meta}")
    print(f"recompute errors: vit {vit_attn_err:.3g}, decoder {dec_attn_err:.3g}; reload equal {reload_equal}")
    print(f"timing (s) {timing}")
    if min(margins) < MARGIN_WARN:
        print(f"WARNING: a greedy margin is below {MARGIN_WARN}; the comparison is fragile, try another --seed")


if __name__ == "__main__":
    main()
