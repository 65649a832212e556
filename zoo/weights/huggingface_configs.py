"""A Hugging Face config.json <-> the zoo's `llama` options, for the model types that are the zoo's Llama with
options: llama, qwen2, qwen3, mistral (transformers 5.18's config classes and their defaults).

`zoo_options(config)` refuses what the zoo does not compute (other activations, biases on o_proj or the MLP, rope
types other than the default and Llama 3's, per-layer sliding windows, partial rotary); `hf_config(options,
model_type)` writes one and checks that reading it back gives the same options, so a folder never claims a model
the zoo did not have. Both the current `rope_parameters` and the older `rope_theta` + `rope_scaling` are read.
"""

from __future__ import annotations

from typing import Any

from scalezoo.zoo.llama import ffn_width

ARCHITECTURES = {
  "llama": "LlamaForCausalLM",
  "qwen2": "Qwen2ForCausalLM",
  "qwen3": "Qwen3ForCausalLM",
  "mistral": "MistralForCausalLM",
}
# (config.json key, zoo option): copied as they are
SAME = (
  ("vocab_size", "vocab"),
  ("max_position_embeddings", "context"),
  ("hidden_size", "d_model"),
  ("num_hidden_layers", "n_layers"),
  ("num_attention_heads", "n_heads"),
  ("intermediate_size", "d_ff"),
  ("rms_norm_eps", "norm_eps"),
)
# transformers' class defaults for keys a config.json may leave out
DEFAULTS = {"rms_norm_eps": 1e-6, "tie_word_embeddings": False, "hidden_act": "silu"}
HEAD_DIM_DEFAULT = {"qwen3": 128}  # the others: hidden_size // num_attention_heads
SLIDING_DEFAULT = {"mistral": 4096}
LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


def _rope(hf: dict[str, Any]) -> tuple[float, tuple]:
  params = hf.get("rope_parameters") or {}
  legacy = hf.get("rope_scaling") or {}
  theta = float(params.get("rope_theta", hf.get("rope_theta", 10000.0)))
  rope = {**legacy, **params}
  kind = rope.get("rope_type", rope.get("type", "default"))
  if kind == "default":
    return theta, ()
  if kind == "llama3":
    return theta, tuple(float(rope[k]) if k != LLAMA3_KEYS[-1] else int(rope[k]) for k in LLAMA3_KEYS)
  raise ValueError(f"config.json: rope type {kind!r} is not supported (the zoo has 'default' and 'llama3')")


def zoo_options(hf: dict[str, Any]) -> dict[str, Any]:
  """The `llama` options of a Hugging Face config.json (as a dict)."""
  model_type = hf.get("model_type")
  if model_type not in ARCHITECTURES:
    raise ValueError(f"config.json: model_type {model_type!r} is not one of {', '.join(ARCHITECTURES)}")
  get = lambda k: hf[k] if hf.get(k) is not None else DEFAULTS[k]
  missing = [k for k, _ in SAME if k not in hf and k not in DEFAULTS]
  if missing:
    raise ValueError(f"config.json ({model_type}): missing {', '.join(missing)}")
  if get("hidden_act") != "silu":
    raise ValueError(f"config.json: hidden_act {hf['hidden_act']!r}; the zoo's SwiGLU uses silu")
  if hf.get("mlp_bias"):
    raise ValueError("config.json: mlp_bias = true is not supported (the zoo's MLP has no biases)")
  if model_type != "qwen2" and hf.get("attention_bias"):
    raise ValueError(f"config.json: attention_bias = true on {model_type} (biases on o_proj too) is not supported")
  if float(hf.get("partial_rotary_factor", 1.0)) != 1.0:
    raise ValueError("config.json: partial_rotary_factor != 1 is not supported")
  window = 0
  if model_type == "mistral":
    window = hf.get("sliding_window", SLIDING_DEFAULT["mistral"]) or 0
  elif hf.get("use_sliding_window") or "sliding_attention" in (hf.get("layer_types") or []):
    raise ValueError(f"config.json: per-layer sliding windows ({model_type}) are not supported")
  out = {z: (float(get(k)) if z == "norm_eps" else int(get(k))) for k, z in SAME}
  theta, scaling = _rope(hf)
  H = out["n_heads"]
  return {
    **out,
    "n_kv_heads": int(hf.get("num_key_value_heads") or H),
    "head_dim": int(hf.get("head_dim") or HEAD_DIM_DEFAULT.get(model_type, out["d_model"] // H)),
    "rope_theta": theta,
    "rope_scaling": scaling,
    "qkv_bias": model_type == "qwen2",
    "qk_norm": model_type == "qwen3",
    "sliding_window": int(window),
    "tie_embeddings": bool(get("tie_word_embeddings")),
  }


def model_type_of(options: dict[str, Any]) -> str:
  """The Hugging Face model type a zoo `llama` is: qwen3 (QK-norm), qwen2 (q/k/v biases), mistral (a sliding
  window), else llama."""
  if options["qk_norm"]:
    return "qwen3"
  if options["qkv_bias"]:
    return "qwen2"
  return "mistral" if options["sliding_window"] else "llama"


def hf_config(options: dict[str, Any], model_type: str | None = None, dtype: str = "float32") -> dict[str, Any]:
  """config.json for a zoo `llama` with these options (resolved), as `model_type` (default: model_type_of)."""
  options = resolved(options)
  if options.get("n_experts"):
    raise ValueError(f"n_experts = {options['n_experts']}: a mixture of experts has no Hugging Face map yet")
  model_type = model_type or model_type_of(options)
  if model_type not in ARCHITECTURES:
    raise ValueError(f"model_type {model_type!r} is not one of {', '.join(ARCHITECTURES)}")
  rope: dict[str, Any] = {"rope_theta": float(options["rope_theta"]), "rope_type": "default"}
  if options["rope_scaling"]:
    rope = {**rope, "rope_type": "llama3", **dict(zip(LLAMA3_KEYS, options["rope_scaling"]))}
  hf: dict[str, Any] = {
    "architectures": [ARCHITECTURES[model_type]],
    "model_type": model_type,
    **{k: options[z] for k, z in SAME},
    "num_key_value_heads": options["n_kv_heads"],
    "head_dim": options["head_dim"],
    "hidden_act": "silu",
    "rope_parameters": rope,
    "tie_word_embeddings": options["tie_embeddings"],
    "attention_bias": False,
    "dtype": dtype,
  }
  if model_type == "mistral":
    hf["sliding_window"] = options["sliding_window"] or None
  if model_type in ("qwen2", "qwen3"):
    hf["use_sliding_window"] = False
  if model_type == "qwen2":
    del hf["attention_bias"], hf["head_dim"]  # Qwen2 always has q/k/v biases; its head width is d_model / n_heads
  back = zoo_options(hf)
  differ = sorted(k for k, v in back.items() if options[k] != v)
  if differ:
    raise ValueError(f"this model is not a {model_type} model: {', '.join(f'{k} = {options[k]!r}' for k in differ)}")
  return hf


def resolved(options: dict[str, Any]) -> dict[str, Any]:
  """The options with their 0 = default values made explicit (n_kv_heads, head_dim, d_ff), rope_scaling a tuple."""
  H, D = options["n_heads"], options["d_model"]
  return {
    **options,
    "n_kv_heads": options["n_kv_heads"] or H,
    "head_dim": options["head_dim"] or D // H,
    "d_ff": options["d_ff"] or ffn_width(D),
    "rope_scaling": tuple(options["rope_scaling"]),
  }
