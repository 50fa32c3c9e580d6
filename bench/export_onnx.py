"""Writes the `seed` vision encoder (CLIP ViT-B/16 geometry) as an ONNX graph, for the speed
benchmark's onnxruntime-web side. Nothing is downloaded: the graph is built with the `onnx`
package's helper API, op by op, as src/vision_encoder.rs and src/transformer.rs compute it:

    pixels (1, 3, 224, 224) -> 196 patches of 3 x 16 x 16 (channel, y, x) -> Linear(768, D)
    -> [CLS | patches] + learned positions (1, 197, D)
    -> 12 pre-LN blocks: x + proj(attention(ln_1(x))), x + mlp(ln_2(x))
       attention: one qkv Linear, 12 heads of 64, softmax(q k^T / 8) v, no mask
       mlp: Linear(D, 3072), GELU (tanh approximation, as candle's `gelu`), Linear(3072, D)
    -> ln_post -> patch features (1, 196, D) (the CLS row dropped)

LayerNorm epsilon 1e-5 everywhere. Weights: with --weights, the `vision_encoder.*` tensors of a
model.safetensors (f32, f16 or bf16; widened to f32), so the benchmark can check that both
engines compute the same features; otherwise N(0, 0.02) from numpy, biases 0, LayerNorms 1 and 0
(the crate's seeded initialisation).

    python bench/export_onnx.py OUT.onnx [--config config.json] [--weights model.safetensors]
"""
import argparse
import json
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EPS = 1e-5
# LayerNormalization is opset 17; Gelu with approximate="tanh" is opset 20.
OPSET = 20


def read_safetensors(path, prefix):
    """The tensors of `path` whose names start with `prefix`, as f32 numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or not name.startswith(prefix):
            continue
        start, end = info["data_offsets"]
        raw = body[start:end]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: tensor `{name}` is {info['dtype']}; expected F32, F16 or BF16")
        out[name[len(prefix) :]] = a.reshape(info["shape"]).astype(np.float32)
    return out


def random_weights(v, patches):
    """N(0, 0.02) weights, zero biases, LayerNorms 1 and 0, named as the crate names them."""
    rng = np.random.default_rng(0)
    w = {}

    def linear(name, n_in, n_out):
        w[f"{name}.weight"] = rng.normal(0, 0.02, (n_out, n_in)).astype(np.float32)
        w[f"{name}.bias"] = np.zeros(n_out, np.float32)

    def layer_norm(name, n):
        w[f"{name}.weight"] = np.ones(n, np.float32)
        w[f"{name}.bias"] = np.zeros(n, np.float32)

    d = v["width"]
    linear("patch_embed", 3 * v["patch_size"] ** 2, d)
    w["cls_token"] = rng.normal(0, 0.02, (1, 1, d)).astype(np.float32)
    w["pos_embed"] = rng.normal(0, 0.02, (1, patches + 1, d)).astype(np.float32)
    for i in range(v["layers"]):
        b = f"blocks.{i}"
        layer_norm(f"{b}.ln_1", d)
        linear(f"{b}.attn.qkv", d, 3 * d)
        linear(f"{b}.attn.proj", d, d)
        layer_norm(f"{b}.ln_2", d)
        linear(f"{b}.mlp.fc", d, v["mlp_width"])
        linear(f"{b}.mlp.proj", v["mlp_width"], d)
    layer_norm("ln_post", d)
    return w


class Graph:
    """Nodes and initializers, with fresh names for intermediate values."""

    def __init__(self, weights):
        self.weights = weights
        self.nodes = []
        self.inits = {}
        self.count = 0

    def const(self, name, array):
        self.inits[name] = numpy_helper.from_array(np.asarray(array), name)
        return name

    def weight(self, name, transpose=False):
        """A weight by its crate name; Linear weights (out, in) are stored as (in, out) for MatMul."""
        key = name + (".T" if transpose else "")
        if key not in self.inits:
            a = self.weights[name]
            self.const(key, np.ascontiguousarray(a.T) if transpose else a)
        return key

    def op(self, op_type, inputs, **attrs):
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def linear(self, x, name):
        """x W^T + b over the last axis, as `transformer::Linear`."""
        return self.op("Add", [self.op("MatMul", [x, self.weight(f"{name}.weight", True)]), self.weight(f"{name}.bias")])

    def layer_norm(self, x, name):
        return self.op("LayerNormalization", [x, self.weight(f"{name}.weight"), self.weight(f"{name}.bias")], axis=-1, epsilon=EPS)


def export(v, weights):
    image, p, d, heads = v["image_size"], v["patch_size"], v["width"], v["heads"]
    side = image // p
    patches, seq, hd = side * side, side * side + 1, d // heads
    g = Graph(weights)
    shape = lambda name, dims: g.const(name, np.array(dims, dtype=np.int64))

    # VisionEncoder::patchify: (1, 3, H, W) -> (1, 3, row, y, col, x) -> (1, row, col, 3, y, x) -> (1, 196, 768)
    x = g.op("Reshape", ["pixels", shape("patch_grid", [1, 3, side, p, side, p])])
    x = g.op("Transpose", [x], perm=[0, 2, 4, 1, 3, 5])
    x = g.op("Reshape", [x, shape("patch_rows", [1, patches, 3 * p * p])])
    x = g.linear(x, "patch_embed")  # (1, 196, D)
    x = g.op("Concat", [g.weight("cls_token"), x], axis=1)
    x = g.op("Add", [x, g.weight("pos_embed")])  # (1, 197, D)

    qkv_shape = shape("qkv_heads", [1, seq, 3, heads, hd])
    merged = shape("merged", [1, seq, d])
    scale = g.const("scale", np.array(1.0 / np.sqrt(hd), np.float32))
    split = g.const("split_one", np.array([1, 1, 1], np.int64))
    axis0 = g.const("axis0", np.array([0], np.int64))
    for i in range(v["layers"]):
        b = f"blocks.{i}"
        # Attention::forward: (1, 197, 3D) -> (3, 1, heads, 197, hd)
        qkv = g.op("Reshape", [g.linear(g.layer_norm(x, f"{b}.ln_1"), f"{b}.attn.qkv"), qkv_shape])
        qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])
        parts = [f"{b}.{n}" for n in "qkv"]
        g.nodes.append(helper.make_node("Split", [qkv, split], parts, axis=0))
        q, k, val = (g.op("Squeeze", [t, axis0]) for t in parts)  # (1, heads, 197, hd) each
        scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])  # (1, heads, 197, 197)
        y = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), val])  # (1, heads, 197, hd)
        y = g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), merged])
        x = g.op("Add", [x, g.linear(y, f"{b}.attn.proj")])
        # Mlp::forward: Linear, GELU (tanh), Linear
        h = g.op("Gelu", [g.linear(g.layer_norm(x, f"{b}.ln_2"), f"{b}.mlp.fc")], approximate="tanh")
        x = g.op("Add", [x, g.linear(h, f"{b}.mlp.proj")])
    x = g.layer_norm(x, "ln_post")
    starts, ends, axes = (g.const(n, np.array([a], np.int64)) for n, a in (("starts", 1), ("ends", seq), ("axes", 1)))
    g.nodes.append(helper.make_node("Slice", [x, starts, ends, axes], ["patch_features"]))

    graph = helper.make_graph(
        g.nodes,
        "seed_vision_encoder",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, image, image])],
        [helper.make_tensor_value_info("patch_features", TensorProto.FLOAT, [1, patches, d])],
        list(g.inits.values()),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vlm-explainer bench/export_onnx.py")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


SEED_VISION = {"image_size": 224, "patch_size": 16, "width": 768, "layers": 12, "heads": 12, "mlp_width": 3072}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--config", help="config.json whose `vision` section to build (default: the seed preset's)")
    parser.add_argument("--weights", help="model.safetensors to take the vision_encoder.* tensors from")
    args = parser.parse_args()
    v = json.load(open(args.config))["vision"] if args.config else SEED_VISION
    patches = (v["image_size"] // v["patch_size"]) ** 2
    weights = read_safetensors(args.weights, "vision_encoder.") if args.weights else random_weights(v, patches)
    model = export(v, weights)
    onnx.save(model, args.out)
    values = sum(int(np.prod(w.shape)) for w in weights.values())
    print(f"[export_onnx] {args.out}: ViT {v['width']} x {v['layers']} layers, {values / 1e6:.1f}M values, {len(model.graph.node)} nodes")


if __name__ == "__main__":
    main()
