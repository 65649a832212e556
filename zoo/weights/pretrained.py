"""Hugging Face model folders in and out: `load_pretrained(folder) -> (model, variables)` and
`save_pretrained(model, variables, folder)` for the zoo's Llama and the families that are it with options (Llama,
Qwen2, Qwen3, Mistral).

A folder is config.json (read and written by huggingface_configs.py) and the weights as one model.safetensors or
shards named by model.safetensors.index.json. Every tensor is checked: a floating dtype (f32, bf16, f16 are widened
to the zoo's f32), its shape against the zoo variable it fills (huggingface_maps.llama, through mapping.py), each
used once; an index that names a tensor its file lacks, or a file with tensors the index does not name, is refused.
Written: f32 (or `dtype="bfloat16"`) safetensors with metadata format "pt", as transformers' own; a tied lm_head is
left out as transformers leaves it out. The folder's tokenizer.json is read with `tokenizers` (load_tokenizer) and
written back when save_pretrained is given one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import ml_dtypes
import numpy as np

from scalezoo.zoo import registry
from scalezoo.zoo.llama import Llama
from scalezoo.zoo.weights import huggingface_configs, huggingface_maps, mapping

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
FLOATS = {"F32": np.float32, "BF16": ml_dtypes.bfloat16, "F16": np.float16}


def _read_file(path: Path, names: set[str] | None = None) -> dict[str, np.ndarray]:
  from safetensors import safe_open

  out = {}
  with safe_open(path, framework="flax") as f:
    keys = set(f.keys())
    if names is not None and keys != names:
      extra, lacking = sorted(keys - names), sorted(names - keys)
      raise ValueError(f"{path}: the index names {lacking[:4]} which the file lacks; the file has {extra[:4]} unnamed")
    for k in sorted(keys):
      dtype = f.get_slice(k).get_dtype()
      if dtype not in FLOATS:
        raise ValueError(f"{path}: tensor {k} has dtype {dtype}; weights are one of {', '.join(FLOATS)}")
      out[k] = np.asarray(f.get_tensor(k))
  return out


def read_weights(folder: str | Path) -> dict[str, np.ndarray]:
  """Every tensor of a folder's model.safetensors, or of the shards its index names."""
  folder = Path(folder)
  if (folder / INDEX).is_file():
    weight_map = json.loads((folder / INDEX).read_text())["weight_map"]
    files: dict[str, set[str]] = {}
    for name, file in weight_map.items():
      files.setdefault(file, set()).add(name)
    state: dict[str, np.ndarray] = {}
    for file, names in sorted(files.items()):
      state.update(_read_file(folder / file, names))
    return state
  if (folder / SINGLE).is_file():
    return _read_file(folder / SINGLE)
  raise ValueError(f"{str(folder)!r}: neither {SINGLE} nor {INDEX} (a Hugging Face folder of safetensors weights)")


def _stack_layers(params: dict, n_layers: int) -> dict:
  """layer_0..layer_{n-1} -> one `layers` tree with a leading layer axis (the nn.scan layout), and back."""
  layers = [params[f"layer_{i}"] for i in range(n_layers)]
  rest = {k: v for k, v in params.items() if not k.startswith("layer_")}
  return {**rest, "layers": jax.tree.map(lambda *xs: np.stack(xs), *layers)}


def _unstack_layers(params: dict, n_layers: int) -> dict:
  rest = {k: v for k, v in params.items() if k != "layers"}
  return {
    **rest,
    **{f"layer_{i}": jax.tree.map(lambda x, i=i: np.asarray(x)[i], params["layers"]) for i in range(n_layers)},
  }


def _map_and_shapes(options: dict[str, Any]):
  flat = {**options, "scan_layers": False}
  return huggingface_maps.llama(registry.resolve("llama", **flat)), registry.abstract_variables("llama", **flat)


def load_pretrained(folder: str | Path, **overrides: Any) -> tuple[Llama, dict]:
  """(model, variables) from a Hugging Face folder; `overrides` are zoo options that do not change the function's
  shapes (dtype="bfloat16", scan_layers, remat)."""
  folder = Path(folder)
  if not (folder / "config.json").is_file():
    raise ValueError(f"{str(folder)!r}: no config.json (a Hugging Face model folder has one)")
  config = json.loads((folder / "config.json").read_text())
  options = huggingface_configs.zoo_options(config)
  m, abstract = _map_and_shapes(options)
  variables = mapping.load(m, read_weights(folder), abstract, f"{folder} ({config['model_type']}) -> llama")
  model = registry.create("llama", **{**options, **overrides})
  if model.scan_layers:
    variables = {"params": _stack_layers(variables["params"], model.n_layers)}
  return model, variables


def load_tokenizer(folder: str | Path):
  """The folder's tokenizer.json as a `tokenizers.Tokenizer` (encode(text).ids, decode(ids))."""
  from tokenizers import Tokenizer

  path = Path(folder) / "tokenizer.json"
  if not path.is_file():
    raise ValueError(f"{str(folder)!r}: no tokenizer.json (a Hugging Face folder's fast tokenizer)")
  return Tokenizer.from_file(str(path))


def options_of(model: Llama) -> dict[str, Any]:
  """The zoo options a built Llama was made with."""
  if not isinstance(model, Llama):
    raise ValueError(f"save_pretrained writes the llama family, not {type(model).__name__}")
  return {k: getattr(model, k) for k in registry.spec("llama").defaults if k != "dtype"}


def save_pretrained(
  model: Llama,
  variables: dict,
  folder: str | Path,
  *,
  model_type: str | None = None,
  dtype: str = "float32",
  max_shard_bytes: int | None = None,
  tokenizer=None,
) -> Path:
  """Write config.json and the weights (one file, or shards of at most `max_shard_bytes` and an index) into a new
  or empty `folder`, as the Hugging Face `model_type` (default: what the options make it; see
  huggingface_configs.model_type_of). transformers.AutoModelForCausalLM.from_pretrained(folder) loads it."""
  from safetensors.numpy import save_file

  folder = Path(folder)
  if folder.exists() and any(folder.iterdir()):
    raise ValueError(f"{str(folder)!r} is not empty: save_pretrained writes a new folder")
  if dtype not in ("float32", "bfloat16"):
    raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
  options = options_of(model)
  config = huggingface_configs.hf_config(options, model_type, dtype)
  params = jax.tree.map(np.asarray, dict(variables["params"]))
  if model.scan_layers:
    params = _unstack_layers(params, model.n_layers)
  m, abstract = _map_and_shapes(options)
  state = mapping.save(m, {"params": params}, {"params": abstract["params"]}, f"llama -> {folder}")
  for key in m.tied:  # transformers ties them itself and leaves them out of its files
    state.pop(key)
  np_dtype = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}[dtype]
  state = {k: np.ascontiguousarray(v.astype(np_dtype)) for k, v in state.items()}
  folder.mkdir(parents=True, exist_ok=True)
  (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
  if tokenizer is not None:  # a tokenizers.Tokenizer, e.g. load_tokenizer's
    tokenizer.save(str(folder / "tokenizer.json"))
  meta = {"format": "pt"}
  if max_shard_bytes is None:
    save_file(state, folder / SINGLE, metadata=meta)
    return folder
  shards: list[dict[str, np.ndarray]] = [{}]
  for k in sorted(state):
    if shards[-1] and sum(v.nbytes for v in shards[-1].values()) + state[k].nbytes > max_shard_bytes:
      shards.append({})
    shards[-1][k] = state[k]
  n = len(shards)
  weight_map = {}
  for i, shard in enumerate(shards):
    name = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
    save_file(shard, folder / name, metadata=meta)
    weight_map.update({k: name for k in shard})
  index = {"metadata": {"total_size": int(sum(v.nbytes for v in state.values()))}, "weight_map": weight_map}
  (folder / INDEX).write_text(json.dumps(index, indent=2) + "\n")
  return folder
