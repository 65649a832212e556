"""Maps between Hugging Face transformers' state dicts (transformers 5.18) and the zoo's GPT and BERT.

GPT: GPT2LMHeadModel's keys (a GPT2Model state dict, without `transformer.`, loads too); lm_head.weight is tied to
the token embedding, as the zoo's output is. BERT without the MLM head: BertModel's keys (a `bert.` prefix, as
BertForPreTraining checkpoints have it, is dropped); with it: BertForMaskedLM's, decoder tied to the embedding.
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
