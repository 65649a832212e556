"""Start a run from trained variables (transfer learning, fine-tuning, continued pretraining): `init_from` in a
config names a finished run's folder, a reference's weights file ("weights:...") or a Hugging Face model folder
("pretrained:FOLDER")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from scalezoo.train import step as S


def load_weights_init(spec: str, model: str, model_args: dict[str, Any]) -> dict[str, Any]:
  """`init_from = "weights:[SOURCE:]FILE"`: a reference implementation's weights file (a torchvision or Hugging Face
  state dict, .safetensors or .pt/.pth/.bin) converted to `model`'s variables (zoo/weights). The model must be
  configured as the reference computes (e.g. EfficientNet-B0's torchvision BatchNorm epsilon), else an error says
  which model_args to set."""
  from scalezoo.zoo import weights

  rest = spec.removeprefix("weights:")
  source, _, file = rest.partition(":")
  if source not in weights.SOURCE_NAMES or not file:
    source, file = None, rest
  need = {k: v for k, v in weights.reference_overrides(model).items() if model_args.get(k) != v}
  if need:
    sets = ", ".join(f"{k} = {v!r}" for k, v in need.items())
    raise ValueError(f"init_from {spec!r}: {model} computes the reference's function with model_args {sets}")
  variables = weights.load_weights(model, file, source=source, **model_args)
  model_state = {k: v for k, v in variables.items() if k != "params"}
  return {"params": variables["params"], "model_state": model_state, "step": 0, "path": spec}


# the options that fix a Llama's function and shapes; context is a bound and scan_layers/remat/dtype are how it runs
_FUNCTION_OPTIONS = (
  "vocab", "d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff", "rope_theta", "rope_scaling",
  "norm_eps", "qkv_bias", "qk_norm", "sliding_window", "tie_embeddings", "n_experts",
)  # fmt: skip


def load_pretrained_init(spec: str, model: str, model_args: dict[str, Any]) -> dict[str, Any]:
  """`init_from = "pretrained:FOLDER"`: a Hugging Face model folder of the llama family (zoo.load_pretrained). The
  run's model must be the folder's: every option that fixes the function equal to its config.json's, else an error
  names the model_args to set."""
  from scalezoo.zoo import registry
  from scalezoo.zoo.weights import pretrained

  folder = spec.removeprefix("pretrained:")
  if registry.spec(model).build is not registry.spec("llama").build:
    raise ValueError(f"init_from {spec!r}: a Hugging Face folder starts a llama-family model, not {model!r}")
  built, variables = pretrained.load_pretrained(folder, scan_layers=bool(model_args.get("scan_layers", False)))
  folder_options = pretrained.options_of(built)
  mine, theirs = _function_of(registry.create(model, **model_args)), _function_of(built)
  need = {k: folder_options[k] for k in _FUNCTION_OPTIONS if mine[k] != theirs[k]}
  if need:
    sets = ", ".join(f"{k} = {v!r}" for k, v in need.items())
    raise ValueError(f"init_from {spec!r}: the folder's model has {sets}; set these model_args")
  return {"params": variables["params"], "model_state": {}, "step": 0, "path": spec}


def _function_of(m) -> dict[str, Any]:
  """A built Llama's function options with the 0-means-default ones resolved (n_kv_heads 0 is n_heads, ...)."""
  from scalezoo.zoo.llama import ffn_width

  H, G, K = m.heads
  out = {k: getattr(m, k) for k in _FUNCTION_OPTIONS}
  out.update(n_kv_heads=G, head_dim=K, d_ff=m.d_ff or ffn_width(m.d_model), rope_scaling=tuple(m.rope_scaling))
  return out


def load_init(path: str | Path) -> dict[str, Any]:
  """The trained variables of a finished run, to start another run from: {"params": ..., "model_state": ...}.

  `path` is a run folder (record.json + checkpoints/, as `scalezoo train --out` writes it) or an Orbax checkpoint
  folder; a relative path is taken from the working directory. The newest checkpoint is read (without changing
  it): its state, or its best state when the run used early stopping (the best as of that checkpoint: save at
  the end, e.g. checkpoint_every = steps). A group checkpoint of several runs matches nothing (its leaves carry a
  leading group axis) and is refused by `start_from`.
  """
  import orbax.checkpoint as ocp

  path = Path(path)
  record, run_id = path / "record.json", None
  if record.exists():
    rec = json.loads(record.read_text())
    status, run_id = rec.get("status"), rec.get("run_id")
    if status != "finished":
      raise ValueError(f"init_from {str(path)!r}: that run's status is {status!r}, not 'finished'")
  ckpt_dir = path / "checkpoints" if (path / "checkpoints").is_dir() else path
  if run_id and (ckpt_dir / str(run_id)).is_dir():  # a run folder keeps its checkpoints under its run id
    ckpt_dir = ckpt_dir / str(run_id)
  if not ckpt_dir.is_dir():
    raise ValueError(f"init_from {str(path)!r}: no such folder")
  manager = ocp.CheckpointManager(ckpt_dir.absolute(), options=ocp.CheckpointManagerOptions(read_only=True))
  try:
    step = manager.latest_step()
    if step is None:
      raise ValueError(
        f"init_from {str(path)!r}: no checkpoint in {str(ckpt_dir)!r} (train it with checkpoint_every > 0)"
      )
    got = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
  finally:
    manager.close()
  chosen = got.get("best") or got["state"]
  return {
    "params": chosen["params"],
    "model_state": chosen.get("model_state") or {},
    "step": int(step),
    "path": str(path),
  }


def start_from(eng: S.Engine, state: S.TrainState, source: dict[str, Any], lr) -> tuple[S.TrainState, dict]:
  """`state` with every parameter and batch statistic whose path and shape match `source` (from `load_init`)
  replaced, a fresh optimizer state, and a report of what was restored and what kept its fresh init."""
  from flax import traverse_util

  restored, fresh = [], []

  def merge(tree, src):
    flat, src_flat = traverse_util.flatten_dict(dict(tree), sep="/"), traverse_util.flatten_dict(dict(src), sep="/")
    out = {}
    for k, v in flat.items():
      s = src_flat.get(k)
      if s is not None and tuple(np.shape(s)) == tuple(v.shape):
        out[k] = jnp.asarray(s, v.dtype)
        restored.append(k)
      else:
        out[k] = v
        fresh.append(k)
    return traverse_util.unflatten_dict(out, sep="/")

  params = merge(state.params, source["params"])
  if not restored:
    raise ValueError(
      f"init_from {source['path']!r}: no parameter matches this model by path and shape "
      "(a group checkpoint of several runs cannot be a starting point)"
    )
  model_state = merge(state.model_state, source["model_state"]) if state.model_state else state.model_state
  new = S.TrainState(state.step, params, model_state, eng.tx(lr).init(params))
  report = {
    "from": source["path"],
    "checkpoint_step": source["step"],
    "restored": len(restored),
    "fresh": sorted(fresh),
  }
  return new, report
