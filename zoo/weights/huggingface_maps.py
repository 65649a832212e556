"""Maps between Hugging Face transformers' state dicts (transformers 5.18) and the zoo's GPT, BERT and Llama.

GPT: GPT2LMHeadModel's keys (a GPT2Model state dict, without `transformer.`, loads too); lm_head.weight is tied to
the token embedding, as the zoo's output is. BERT without the MLM head: BertModel's keys (a `bert.` prefix, as
BertForPreTraining checkpoints have it, is dropped); with it: BertForMaskedLM's, decoder tied to the embedding.
Llama: LlamaForCausalLM's keys, which Qwen2ForCausalLM (+ q/k/v biases), Qwen3ForCausalLM (+ q_norm, k_norm) and
MistralForCausalLM share; Hugging Face's q/k rows are already in the rotate-half order zoo/rope.py uses (no
permutation); lm_head.weight is tied to the embedding when tie_embeddings is set (absent from Hugging Face's files).
"""

from __future__ import annotations

from typing import Any

from scalezoo.zoo.weights.mapping import Map, Rule


def _linear(t: str, z: str, layout: str = "linear") -> list[Rule]:
  return [(f"{t}.weight", f"params/{z}/kernel", layout), (f"{t}.bias", f"params/{z}/bias", "vec")]


def _norm(t: str, z: str) -> list[Rule]:
  return [(f"{t}.weight", f"params/{z}/scale", "id"), (f"{t}.bias", f"params/{z}/bias", "id")]


def gpt2(cfg: dict[str, Any]) -> Map:
  if cfg.get("scan_layers"):
    raise ValueError("weights for GPT convert with scan_layers=False (the stacked layout is not mapped)")
  rules: list[Rule] = [
    ("transformer.wte.weight", "params/wte/embedding", "id"),
    ("transformer.wpe.weight", "params/wpe", "id"),
  ]
  for i in range(cfg["n_layers"]):
    t, z = f"transformer.h.{i}", f"block_{i}"
    rules += _norm(f"{t}.ln_1", f"{z}/ln_1") + _norm(f"{t}.ln_2", f"{z}/ln_2")
    rules += _linear(f"{t}.attn.c_attn", f"{z}/qkv", "conv1d:1") + _linear(f"{t}.attn.c_proj", f"{z}/proj", "conv1d:2")
    rules += _linear(f"{t}.mlp.c_fc", f"{z}/fc", "conv1d:1") + _linear(f"{t}.mlp.c_proj", f"{z}/fc_proj", "conv1d:1")
  rules += _norm("transformer.ln_f", "ln_f")
  return Map(
    tuple(rules),
    tied={"lm_head.weight": "transformer.wte.weight"},
    ignore=(r"transformer\.h\.\d+\.attn\.(masked_)?bias",),  # causal-mask buffers of older releases
    prefix="transformer.",
  )


def bert(cfg: dict[str, Any]) -> Map:
  mlm = cfg["mlm_head"]
  p = "bert." if mlm else ""
  e = f"{p}embeddings"
  rules: list[Rule] = [
    (f"{e}.word_embeddings.weight", "params/word_embeddings/embedding", "id"),
    (f"{e}.position_embeddings.weight", "params/position_embeddings/embedding", "id"),
    (f"{e}.token_type_embeddings.weight", "params/token_type_embeddings/embedding", "id"),
    *_norm(f"{e}.LayerNorm", "embeddings_ln"),
  ]
  for i in range(cfg["n_layers"]):
    t, z = f"{p}encoder.layer.{i}", f"layer_{i}"
    for q in ("query", "key", "value"):
      rules += _linear(f"{t}.attention.self.{q}", f"{z}/attention/{q}")
    rules += _linear(f"{t}.attention.output.dense", f"{z}/attention/out", "linear:2")
    rules += _norm(f"{t}.attention.output.LayerNorm", f"{z}/attention_ln")
    rules += _linear(f"{t}.intermediate.dense", f"{z}/intermediate")
    rules += _linear(f"{t}.output.dense", f"{z}/output") + _norm(f"{t}.output.LayerNorm", f"{z}/output_ln")
  tied = {}
  if mlm:
    rules += _linear("cls.predictions.transform.dense", "mlm_dense")
    rules += _norm("cls.predictions.transform.LayerNorm", "mlm_ln")
    rules += [("cls.predictions.bias", "params/mlm_bias", "id")]
    tied = {
      "cls.predictions.decoder.weight": f"{e}.word_embeddings.weight",
      "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
  elif cfg["pooler"]:
    rules += _linear("pooler.dense", "pooler")
  return Map(tuple(rules), tied=tied, strip="" if mlm else "bert.")


def llama(cfg: dict[str, Any]) -> Map:
  if cfg.get("scan_layers"):
    raise ValueError("weights for Llama convert with scan_layers=False (zoo.load_pretrained stacks them itself)")
  rules: list[Rule] = [("model.embed_tokens.weight", "params/embed/embedding", "id")]
  for i in range(cfg["n_layers"]):
    t, z = f"model.layers.{i}", f"layer_{i}"
    rules += [(f"{t}.input_layernorm.weight", f"params/{z}/attn_norm/scale", "id")]
    for p in ("q_proj", "k_proj", "v_proj"):
      rules += [(f"{t}.self_attn.{p}.weight", f"params/{z}/{p}/kernel", "linear")]
      if cfg["qkv_bias"]:
        rules += [(f"{t}.self_attn.{p}.bias", f"params/{z}/{p}/bias", "vec")]
    if cfg["qk_norm"]:
      rules += [(f"{t}.self_attn.{p}.weight", f"params/{z}/{p}/scale", "id") for p in ("q_norm", "k_norm")]
    rules += [(f"{t}.self_attn.o_proj.weight", f"params/{z}/o_proj/kernel", "linear:2")]
    rules += [(f"{t}.post_attention_layernorm.weight", f"params/{z}/mlp_norm/scale", "id")]
    rules += [
      (f"{t}.mlp.{p}.weight", f"params/{z}/{p}/kernel", "linear") for p in ("gate_proj", "up_proj", "down_proj")
    ]
  rules += [("model.norm.weight", "params/final_norm/scale", "id")]
  tied = {}
  if cfg["tie_embeddings"]:
    tied = {"lm_head.weight": "model.embed_tokens.weight"}
  else:
    rules += [("lm_head.weight", "params/lm_head/kernel", "linear")]
  return Map(tuple(rules), tied=tied, ignore=(r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",))
