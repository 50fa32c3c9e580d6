//! nanoVLM's files, as its own code writes them (github.com/huggingface/nanoVLM, tag v0.1;
//! `VisionLanguageModel.save_pretrained`): `config.json` (its `VLMConfig` fields) and
//! `model.safetensors` (its modules' names). No conversion step: both are read as downloaded.
//!
//! nanoVLM-222M is the lesson's geometry: a SigLIP ViT-B/16 (224x224, 16x16 patches -> [196, 768],
//! no CLS token, LayerNorm eps 1e-6, tanh GELU), a pixel shuffle x2 (each 2x2 block of patches ->
//! one token of 3072) and `Linear(3072, 576, bias=False)` into SmolLM2-135M (Llama layout:
//! RMSNorm, rotary positions with base 100000, SwiGLU 576 -> 1536, 9 query heads sharing 3
//! key/value heads, 30 blocks, tied embeddings, 49,152 tokens). Its preprocessing is
//! `Resize((224, 224))` + `ToTensor()` (no mean/std); its prompt `Question: {q} Answer:`; its
//! answer ends with `<|endoftext|>` (`lm_eos_token_id`).

use candle_core::{bail, Device, Error, Result};
use serde_json::Value;

use crate::model::config::{
    Config, Family, LlmConfig, LlmKind, Preprocess, ProjectorConfig, ProjectorKind, PromptFormat, Resize, Stem, VisionConfig,
};
use crate::model::vlm::Vlm;
use crate::model::weights::{Checkpoint, Stored, TensorFile};

/// The `VLMConfig` fields a forward pass reads, with their defaults at v0.1: nanoVLM builds its
/// config as `VLMConfig(**config_json)`, so a field the file leaves out takes its default, here
/// too. The others (dropout, backbone names, training settings) change nothing here.
const DEFAULTS: [(&str, f64); 20] = [
    ("vit_hidden_dim", 768.0),
    // `4 * vit_hidden_dim`, evaluated once when the class is defined: 3072 whatever the width.
    ("vit_inter_dim", 3072.0),
    ("vit_patch_size", 16.0),
    ("vit_img_size", 224.0),
    ("vit_n_heads", 12.0),
    ("vit_n_blocks", 12.0),
    ("vit_ln_eps", 1e-6),
    ("lm_hidden_dim", 576.0),
    ("lm_inter_dim", 1536.0),
    ("lm_rms_eps", 1e-5),
    ("lm_re_base", 100000.0),
    ("lm_max_position_embeddings", 8192.0),
    ("lm_vocab_size", 49152.0),
    ("lm_n_heads", 9.0),
    ("lm_n_kv_heads", 3.0),
    ("lm_n_blocks", 30.0),
    ("lm_eos_token_id", 0.0),
    ("mp_pixel_shuffle_factor", 2.0),
    ("vit_cls_flag", 0.0),
    ("lm_tie_weights", 1.0),
];

fn default_of(name: &str) -> Value {
    let value = DEFAULTS.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, v)| *v);
    match name {
        "vit_cls_flag" | "lm_tie_weights" => Value::from(value != 0.0),
        _ if value.fract() == 0.0 && value >= 1.0 => Value::from(value as u64),
        _ => Value::from(value),
    }
}

fn field(json: &Value, name: &str) -> Value {
    json.get(name).cloned().unwrap_or_else(|| default_of(name))
}

fn count(json: &Value, name: &str) -> Result<usize> {
    let value = field(json, name);
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Error::Msg(format!("config.json (nanoVLM): `{name}` is {value}, not a whole number")))
}

fn number(json: &Value, name: &str) -> Result<f64> {
    let value = field(json, name);
    value.as_f64().ok_or_else(|| Error::Msg(format!("config.json (nanoVLM): `{name}` is {value}, not a number")))
}

fn flag(json: &Value, name: &str) -> Result<bool> {
    let value = field(json, name);
    value.as_bool().ok_or_else(|| Error::Msg(format!("config.json (nanoVLM): `{name}` is {value}, not true or false")))
}

/// nanoVLM's `config.json` as this crate's `Config` (checked by `Config::validate` after).
pub fn config(json: &Value) -> Result<Config> {
    if json.get("lm_use_tokens").and_then(Value::as_bool) == Some(true) {
        bail!("config.json (nanoVLM): `lm_use_tokens` is true, a language model alone: a VLM needs false");
    }
    if flag(json, "vit_cls_flag")? {
        bail!("config.json (nanoVLM): `vit_cls_flag` is true: that vision encoder hands out one CLS vector, not patch features, and nanoVLM's projector needs the patches");
    }
    // nanoVLM ends answers with `lm_eos_token_id` (0, `<|endoftext|>`).
    let eos = u32::try_from(count(json, "lm_eos_token_id")?).map_err(|_| Error::Msg("config.json (nanoVLM): `lm_eos_token_id` is too large".into()))?;
    let mut config = Config {
        name: String::new(),
        family: Family::NanoVlm,
        vision: VisionConfig {
            image_size: count(json, "vit_img_size")?,
            patch_size: count(json, "vit_patch_size")?,
            width: count(json, "vit_hidden_dim")?,
            layers: count(json, "vit_n_blocks")?,
            heads: count(json, "vit_n_heads")?,
            mlp_width: count(json, "vit_inter_dim")?,
            stem: Stem::Linear,
            cls_token: false,
            layer_norm_eps: number(json, "vit_ln_eps")?,
        },
        projector: ProjectorConfig { kind: ProjectorKind::PixelShuffle, factor: count(json, "mp_pixel_shuffle_factor")? },
        llm: LlmConfig {
            kind: LlmKind::Llama,
            vocab_size: count(json, "lm_vocab_size")?,
            width: count(json, "lm_hidden_dim")?,
            layers: count(json, "lm_n_blocks")?,
            heads: count(json, "lm_n_heads")?,
            mlp_width: count(json, "lm_inter_dim")?,
            // nanoVLM rescales its rotary frequencies past this length; the page stops there.
            max_seq_len: count(json, "lm_max_position_embeddings")?,
            kv_heads: Some(count(json, "lm_n_kv_heads")?),
            rope_base: Some(number(json, "lm_re_base")?),
            norm_eps: number(json, "lm_rms_eps")?,
            tie_embeddings: flag(json, "lm_tie_weights")?,
            eos_token_id: Some(eos),
        },
        preprocess: Preprocess { resize: Resize::Squash, mean: [0.0; 3], std: [1.0; 3] },
        prompt: PromptFormat::QuestionAnswer,
    };
    // Named by its size, as nanoVLM's checkpoints are (nanoVLM-222M).
    let c = config.parameter_counts();
    let millions = c.vision_encoder.saturating_add(c.projector).saturating_add(c.llm) as f64 / 1e6;
    config.name = if millions >= 10.0 { format!("nanoVLM-{millions:.0}M") } else { format!("nanoVLM-{millions:.1}M") };
    Ok(config)
}

/// nanoVLM's module names for this crate's tensors.
pub struct Names {
    tied: bool,
    /// Rows of q, k and v (and of gate and up) in a decoder block.
    q_rows: usize,
    kv_rows: usize,
    mlp_rows: usize,
}

/// nanoVLM's buffer of rotary inverse frequencies, saved with the weights.
const INV_FREQ: &str = "decoder.rotary_embd.inv_freq";

impl Names {
    pub fn new(config: &Config) -> Self {
        let l = &config.llm;
        Self { tied: l.tie_embeddings, q_rows: l.heads * l.head_dim(), kv_rows: l.kv_heads() * l.head_dim(), mlp_rows: l.mlp_width }
    }
}

/// `rest` with the first of `renames`' prefixes that starts its block-relative part replaced.
fn renamed(rest: &str, renames: &[(&str, &str)]) -> String {
    // `blocks.N.` stays; what follows is renamed.
    let (head, tail) = match rest.strip_prefix("blocks.") {
        Some(after) => match after.split_once('.') {
            Some((n, tail)) => (format!("blocks.{n}."), tail),
            None => (String::new(), rest),
        },
        None => (String::new(), rest),
    };
    for (ours, theirs) in renames {
        if let Some(end) = tail.strip_prefix(ours) {
            return format!("{head}{theirs}{end}");
        }
    }
    format!("{head}{tail}")
}

impl Checkpoint for Names {
    fn stored(&self, name: &str) -> Stored {
        if let Some(rest) = name.strip_prefix("vision_encoder.") {
            let file = match rest {
                // A 16x16 stride-16 convolution's kernel (D, 3, 16, 16) is the linear map (D, 768)
                // of a patch's values laid out channel, y, x: what `patchify` makes.
                "patch_embed.weight" => return Stored::Reshaped("vision_encoder.patch_embedding.conv.weight".into()),
                "patch_embed.bias" => "patch_embedding.conv.bias".into(),
                "pos_embed" => "patch_embedding.position_embedding".into(),
                _ => renamed(
                    rest,
                    &[
                        ("ln_1.", "ln1."),
                        ("ln_2.", "ln2."),
                        ("attn.qkv.", "attn.qkv_proj."),
                        ("attn.proj.", "attn.out_proj."),
                        ("mlp.fc.", "mlp.fc1."),
                        ("mlp.proj.", "mlp.fc2."),
                        ("ln_post.", "layer_norm."),
                    ],
                ),
            };
            return Stored::One(format!("vision_encoder.{file}"));
        }
        if name == "projector.linear.weight" {
            return Stored::One("MP.proj.weight".into());
        }
        if let Some(rest) = name.strip_prefix("llm.") {
            let decoder = |s: &str| format!("decoder.{s}");
            match rest {
                // nanoVLM ties `head.weight` to `token_embedding.weight`; safetensors keeps one name
                // of a shared tensor (v0.1's files: `decoder.head.weight` only).
                "wte.weight" if self.tied => {
                    return Stored::FirstOf(vec![decoder("token_embedding.weight"), decoder("head.weight")])
                }
                "wte.weight" => return Stored::One(decoder("token_embedding.weight")),
                "lm_head.weight" => return Stored::One(decoder("head.weight")),
                "ln_f.weight" => return Stored::One(decoder("norm.weight")),
                _ => {}
            }
            let block = renamed(rest, &[]);
            if let Some(prefix) = block.strip_suffix("attn.qkv.weight") {
                let part = |p: &str, rows| (decoder(&format!("{prefix}attn.{p}_proj.weight")), rows);
                return Stored::Stacked(vec![part("q", self.q_rows), part("k", self.kv_rows), part("v", self.kv_rows)]);
            }
            if let Some(prefix) = block.strip_suffix("mlp.fc.weight") {
                let part = |p: &str| (decoder(&format!("{prefix}mlp.{p}_proj.weight")), self.mlp_rows);
                return Stored::Stacked(vec![part("gate"), part("up")]);
            }
            let block = renamed(rest, &[("ln_1.", "norm1."), ("ln_2.", "norm2."), ("attn.proj.", "attn.out_proj."), ("mlp.proj.", "mlp.down_proj.")]);
            return Stored::One(decoder(&block));
        }
        Stored::One(name.to_string())
    }

    fn carried(&self, file_name: &str) -> bool {
        file_name == INV_FREQ
            || (self.tied && matches!(file_name, "decoder.head.weight" | "decoder.token_embedding.weight"))
    }

    /// The rotary frequencies nanoVLM saved must be those of config.json's `lm_re_base`.
    fn check(&self, vlm: &Vlm, file: &TensorFile) -> Result<()> {
        let (Some(ours), Some(saved)) = (vlm.llm.rope_inv_freq(), file.read_f32(INV_FREQ, &Device::Cpu)?) else {
            return Ok(());
        };
        let saved = saved.flatten_all()?.to_vec1::<f32>()?;
        // Within 1%: a checkpoint saved in f16 or bf16 keeps its buffer so; another base moves
        // every frequency but the first by a factor.
        let off = saved.len() != ours.len() || saved.iter().zip(ours).any(|(a, b)| (a - b).abs() > 1e-2 * b.abs());
        if off {
            bail!(
                "model.safetensors: `{INV_FREQ}` holds {} rotary frequencies that config.json's `lm_re_base` {} and head width do not give: the two files come from different models",
                saved.len(),
                vlm.config.llm.rope_base.unwrap_or_default()
            );
        }
        Ok(())
    }
}
