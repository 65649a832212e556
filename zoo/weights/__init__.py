"""Reference weights in and out: torchvision and Hugging Face state dicts <-> zoo variables, by a map per family.

  variables = zoo.load_weights("resnet50", "resnet50.pth")           # torchvision's state dict
  logits = zoo.create("resnet50").apply(variables, x_BxHxWxC)        # NHWC; the reference is NCHW
  zoo.save_weights("gpt2_small", variables, "gpt2.safetensors")      # GPT2LMHeadModel loads it
  model, variables = zoo.load_pretrained("Llama-3.2-1B/")            # a Hugging Face folder (pretrained.py)

A model whose reference computes with other options than the zoo's defaults (torchvision's EfficientNet-B0 keeps
BatchNorm2d's epsilon) names them in `reference_overrides`; load_weights and save_weights apply them to the
shapes they check, and the model must be created with them to compute the reference's function.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from scalezoo.zoo import registry
from scalezoo.zoo.weights import huggingface_maps, io, mapping, torchvision_maps
from scalezoo.zoo.weights.mapping import Map
from scalezoo.zoo.weights.pretrained import load_pretrained, load_tokenizer, save_pretrained  # noqa: F401 (re-exported)

LLAMAS = ("llama", "llama3_2_1b", "llama3_1_8b", "qwen2_5_0_5b", "qwen3_0_6b", "mistral_7b")
# model name -> {source: (map of the resolved config, what the reference is)}
_TV, _HF = "torchvision", "huggingface"
SOURCES: dict[str, dict[str, tuple[Callable[[dict], Map], str]]] = {
  **{n: {_TV: (torchvision_maps.resnet, f"torchvision.models.{n}")} for n in ("resnet18", "resnet34", "resnet50")},
  **{n: {_TV: (torchvision_maps.resnet, f"torchvision.models.{n}")} for n in ("resnet101", "resnet152")},
  **{n: {_TV: (torchvision_maps.vgg, f"torchvision.models.{n}")} for n in ("vgg11", "vgg11_bn", "vgg16", "vgg16_bn")},
  "efficientnet_b0": {_TV: (torchvision_maps.efficientnet, "torchvision.models.efficientnet_b0")},
  "vit_b16": {_TV: (torchvision_maps.vit, "torchvision.models.vit_b_16")},
  "gpt2_small": {_HF: (huggingface_maps.gpt2, "transformers.GPT2LMHeadModel")},
  "gpt": {_HF: (huggingface_maps.gpt2, "transformers.GPT2LMHeadModel")},
  **{n: {_HF: (huggingface_maps.llama, "transformers.LlamaForCausalLM / Qwen2 / Qwen3 / Mistral")} for n in LLAMAS},
  "bert_base": {_HF: (huggingface_maps.bert, "transformers.BertModel (BertForMaskedLM with mlm_head=True)")},
  "bert": {_HF: (huggingface_maps.bert, "transformers.BertForMaskedLM (BertModel with mlm_head=False)")},
}


SOURCE_NAMES = (_TV, _HF)


def sources(name: str) -> list[str]:
  return sorted(SOURCES.get(name, {}))


def reference_overrides(name: str) -> dict[str, Any]:
  """Zoo options under which `name` computes its reference's function (empty where the defaults do)."""
  return dict(torchvision_maps.OVERRIDES.get(name, {}))


def _map(name: str, source: str | None, overrides: dict) -> tuple[Map, dict, str]:
  registry.spec(name)  # unknown model: its own error
  known = SOURCES.get(name)
  if not known:
    have = ", ".join(sorted(SOURCES))
    raise ValueError(f"model {name!r} has no weight converter; models with one: {have}")
  if source is None:
    source = next(iter(known)) if len(known) == 1 else None
  if source not in known:
    raise ValueError(f"model {name!r}: unknown source {source!r}; sources: {', '.join(sorted(known))}")
  overrides = {**reference_overrides(name), **overrides}
  make, _ = known[source]
  abstract = registry.abstract_variables(name, **overrides)
  return make(registry.resolve(name, **overrides)), abstract, f"{name} <- {source}"


def from_state_dict(name: str, state: dict, *, source: str | None = None, **overrides: Any) -> dict[str, Any]:
  """Zoo variables ({"params": ..., "batch_stats": ...}, numpy float32) from a reference state dict."""
  m, abstract, what = _map(name, source, overrides)
  state = {k: io.to_numpy(v) for k, v in state.items()}
  return mapping.load(m, state, abstract, what)


def to_state_dict(name: str, variables: dict, *, target: str | None = None, **overrides: Any) -> dict[str, np.ndarray]:
  """The reference's state dict (numpy arrays) from zoo variables."""
  m, abstract, what = _map(name, target, overrides)
  return mapping.save(m, jax.tree.map(np.asarray, dict(variables)), abstract, what.replace("<-", "->"))


def load_weights(name: str, path: str | Path, *, source: str | None = None, **overrides: Any) -> dict[str, Any]:
  """Zoo variables from a reference weights file (.safetensors, or a PyTorch state dict .pt/.pth/.bin)."""
  return from_state_dict(name, io.read(path), source=source, **overrides)


def save_weights(name: str, variables: dict, path: str | Path, *, target: str | None = None, **overrides) -> None:
  """Write zoo variables as the reference's state dict (.safetensors or .pt/.pth), which the reference loads."""
  io.write(path, to_state_dict(name, variables, target=target, **overrides))
