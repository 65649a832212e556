"""`scalezoo convert`: a reference weights file or a trained run -> a reference weights file or zoo variables.

SRC is a torchvision / Hugging Face state dict (.safetensors, .pt/.pth/.bin) or a finished run's folder (its
trained variables, as init_from reads them); DST is a state dict the reference loads (.safetensors, .pt/.pth) or
the zoo's variables as flax msgpack (.msgpack). The model options are the run's model_args (`--set width=32`);
the reference's own options (zoo.weights.reference_overrides) are applied unless set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from scalezoo.zoo import weights
from scalezoo.zoo.weights import io


def read_variables(model: str, src: str | Path, source: str | None, model_args: dict[str, Any]) -> dict:
  src = Path(src)
  if src.is_dir():
    from scalezoo.train.init_from import load_init

    got = load_init(src)
    return jax.tree.map(np.asarray, {"params": got["params"], **got["model_state"]})
  return weights.load_weights(model, src, source=source, **model_args)


def write_variables(model: str, variables: dict, dst: str | Path, target: str | None, model_args: dict) -> None:
  dst = Path(dst)
  if dst.suffix == ".msgpack":
    from flax import serialization

    from scalezoo.data import atomic

    atomic.write_atomic(dst, serialization.msgpack_serialize(jax.tree.map(np.asarray, variables)))
  elif dst.suffix in io.SUFFIXES:
    weights.save_weights(model, variables, dst, target=target, **model_args)
  else:
    raise ValueError(f"{str(dst)!r}: DST ends in .msgpack (zoo variables) or one of {', '.join(io.SUFFIXES)}")


def convert(model: str, src: str, dst: str, *, source: str | None = None, model_args: dict | None = None) -> str:
  """Convert and write; returns a one-line summary."""
  model_args = {**weights.reference_overrides(model), **(model_args or {})}
  variables = read_variables(model, src, source, model_args)
  write_variables(model, variables, dst, source, model_args)
  n = sum(np.size(x) for x in jax.tree.leaves(variables.get("params", {})))
  known = weights.sources(model)
  via = source or (known[0] if len(known) == 1 else "?")
  return f"{model} <- {via}: {len(jax.tree.leaves(variables))} variables, {n:,} params; wrote {dst}"
