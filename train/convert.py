"""`scalezoo convert`: reference weights, a Hugging Face folder or a trained run -> reference weights, a Hugging Face
folder or zoo variables.

SRC is a torchvision / Hugging Face state dict (.safetensors, .pt/.pth/.bin), a Hugging Face model folder
(config.json + safetensors: the llama family) or a finished run's folder (its trained variables, as init_from reads
them); DST is a state dict the reference loads (.safetensors, .pt/.pth), the zoo's variables as flax msgpack
(.msgpack), or for the llama family a folder that transformers loads. The model options are a folder's config.json,
else the run's recorded model_args, else the reference's own (zoo.weights.reference_overrides); `--set` overrides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from scalezoo.zoo import weights
from scalezoo.zoo.weights import io


def hf_folder(path: str | Path) -> bool:
  return (Path(path) / "config.json").is_file()


def run_model_args(path: str | Path) -> dict[str, Any]:
  """A run folder's recorded model options (its record.json), {} for anything else."""
  record = Path(path) / "record.json"
  try:
    return dict(json.loads(record.read_text()).get("model_args") or {}) if record.is_file() else {}
  except (OSError, ValueError, AttributeError):
    return {}


def load_run(path: str | Path) -> tuple[Any, dict, dict]:
  """(model, variables, record) of a finished run's folder (record.json + checkpoints/, as `scalezoo train --out`
  writes it): the model its record names, built with its recorded model_args, holding its trained variables."""
  from scalezoo import zoo
  from scalezoo.train.init_from import load_init

  record = Path(path) / "record.json"
  try:
    rec = json.loads(record.read_text())
  except (OSError, ValueError) as e:
    raise ValueError(f"{str(record)!r}: not a run's record ({e})") from None
  got = load_init(path)
  model = zoo.create(rec["config"]["model"], **rec.get("model_args") or {})
  return model, {"params": got["params"], **got["model_state"]}, rec


def read_variables(model: str, src: str | Path, source: str | None, model_args: dict[str, Any]) -> dict:
  src = Path(src)
  if hf_folder(src):
    from scalezoo import zoo

    return jax.tree.map(np.asarray, zoo.load_pretrained(src, scan_layers=model_args.get("scan_layers", False))[1])
  if src.is_dir():
    from scalezoo.train.init_from import load_init

    got = load_init(src)
    return jax.tree.map(np.asarray, {"params": got["params"], **got["model_state"]})
  return weights.load_weights(model, src, source=source, **model_args)


def write_variables(model: str, variables: dict, dst: str | Path, target: str | None, model_args: dict) -> None:
  dst = Path(dst)
  if not dst.suffix and model == "llama":  # a Hugging Face folder
    from scalezoo import zoo

    zoo.save_pretrained(zoo.create(model, **model_args), variables, dst)
  elif dst.suffix == ".msgpack":
    from flax import serialization

    from scalezoo.data import atomic

    atomic.write_atomic(dst, serialization.msgpack_serialize(jax.tree.map(np.asarray, variables)))
  elif dst.suffix in io.SUFFIXES:
    weights.save_weights(model, variables, dst, target=target, **model_args)
  else:
    folder = " or, for llama, a folder (no suffix)"
    raise ValueError(f"{str(dst)!r}: DST ends in .msgpack (zoo variables) or one of {', '.join(io.SUFFIXES)}{folder}")


def convert(model: str, src: str, dst: str, *, source: str | None = None, model_args: dict | None = None) -> str:
  """Convert and write; returns a one-line summary."""
  if hf_folder(src):
    from scalezoo.zoo.weights import pretrained

    if model != "llama":
      raise ValueError(
        f"{src}: a Hugging Face folder of the llama family (llama, qwen2, qwen3, mistral), not {model!r}"
      )
    built, variables = pretrained.load_pretrained(src, scan_layers=(model_args or {}).get("scan_layers", False))
    variables = jax.tree.map(np.asarray, variables)  # the folder read once: its options and its weights
    model_args = {**pretrained.options_of(built), **(model_args or {})}
    source = "huggingface folder"
  else:
    model_args = {**weights.reference_overrides(model), **run_model_args(src), **(model_args or {})}
    variables = read_variables(model, src, source, model_args)
  write_variables(model, variables, dst, source, model_args)
  n = sum(np.size(x) for x in jax.tree.leaves(variables.get("params", {})))
  known = weights.sources(model)
  via = (
    "its run folder" if Path(src).is_dir() and not hf_folder(src) else source or (known[0] if len(known) == 1 else "?")
  )
  return f"{model} <- {via}: {len(jax.tree.leaves(variables))} variables, {n:,} params; wrote {dst}"
