"""A name-and-layout map between a reference state dict and zoo variables, and the two directions it drives.

A Map is data: rules (reference key, zoo path or paths, layout), keys the reference ties to another (checked equal
on load, written as copies on save), keys ignored on load and written with a fixed value on save (BatchNorm's
num_batches_tracked), patterns of buffers ignored on load and not written (Hugging Face's old attention masks), and
two prefixes: `prefix`, which the rules' keys carry and a bare model's state dict lacks (GPT2Model's keys are
GPT2LMHeadModel's without `transformer.`), and `strip`, dropped from a source that has it (BertForPreTraining's
`bert.` for a BertModel map). A rule with several zoo paths splits the
reference tensor into equal parts along its first axis (torch's fused in_proj of q, k, v).

Loading fills every zoo variable exactly once and uses or ignores every reference tensor; anything else is one
error that names the keys.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from scalezoo.zoo.weights import layouts

Rule = tuple[str, str | tuple[str, ...], str]


@dataclasses.dataclass(frozen=True)
class Map:
  rules: tuple[Rule, ...]
  tied: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> the key whose tensor it repeats
  fill: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # ignored on load, written on save
  ignore: tuple[str, ...] = ()  # regexes of buffers ignored on load, not written
  prefix: str = ""  # the rules' keys carry it; a source without it anywhere gets it on load
  strip: str = ""  # dropped on load from the keys that carry it


def _names(keys, limit: int = 8) -> str:
  keys = sorted(keys)
  more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
  return ", ".join(keys[:limit]) + more


def flat_shapes(abstract: dict) -> dict[str, tuple[int, ...]]:
  return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(dict(abstract), sep="/").items()}


def load(m: Map, state: dict[str, np.ndarray], abstract: dict, what: str) -> dict[str, Any]:
  """Zoo variables (nested dicts of numpy arrays, the zoo's dtypes) from the reference's `state`."""
  if m.prefix and not any(k.startswith(m.prefix) for k in state):
    state = {m.prefix + k: v for k, v in state.items()}
  if m.strip:
    state = {k.removeprefix(m.strip): v for k, v in state.items()}
  shapes = flat_shapes(abstract)
  dtypes = {k: v.dtype for k, v in traverse_util.flatten_dict(dict(abstract), sep="/").items()}
  out: dict[str, np.ndarray] = {}
  used, problems = set(), []
  missing, twice, bad = [], [], []
  for src, dst, layout in m.rules:
    if src not in state:
      missing.append(src)
      continue
    used.add(src)
    paths = (dst,) if isinstance(dst, str) else dst
    value = np.asarray(state[src])
    if not jnp.issubdtype(value.dtype, jnp.floating):  # numpy's own test misses bfloat16 (ml_dtypes)
      bad.append(f"{src} has dtype {value.dtype} (weights are floating point)")
      continue
    if not np.isfinite(value).all():  # a NaN or inf would train (and decode) to NaN without a word
      bad.append(f"{src} holds {int((~np.isfinite(value)).sum())} NaN or inf values")
      continue
    parts = np.split(value, len(paths)) if len(paths) > 1 else [value]
    for path, part in zip(paths, parts):
      if path in out:
        twice.append(path)
      if path not in shapes:
        bad.append(f"{src} -> {path} (no such zoo variable)")
        continue
      z = layouts.to_zoo(layout, part, shapes[path])
      if z.shape != shapes[path]:
        bad.append(f"{src} {tuple(part.shape)} -> {path} {shapes[path]}")
        continue
      out[path] = z.astype(dtypes[path])
  for key, target in m.tied.items():
    if key in state:
      used.add(key)
      if target in state and not np.array_equal(np.asarray(state[key]), np.asarray(state[target])):
        bad.append(f"{key} should equal {target} (tied weights)")
  used |= set(m.fill) & set(state)
  used |= {k for k in state if any(re.fullmatch(p, k) for p in m.ignore)}
  if missing:
    problems.append(f"missing in the file: {_names(missing)}")
  if bad:
    problems.append(f"does not fit: {_names(bad)}")
  if twice:
    problems.append(f"zoo variables filled twice: {_names(twice)}")
  unfilled = set(shapes) - set(out)
  if unfilled and not missing:
    problems.append(f"zoo variables nothing fills: {_names(unfilled)}")
  unused = set(state) - used
  if unused:
    problems.append(f"tensors the map does not use: {_names(unused)}")
  if problems:
    raise ValueError(f"{what}: " + "; ".join(problems))
  return traverse_util.unflatten_dict(out, sep="/")


def save(m: Map, variables: dict, abstract: dict, what: str) -> dict[str, np.ndarray]:
  """The reference's state dict (numpy arrays) from zoo `variables`."""
  flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(dict(variables), sep="/").items()}
  shapes = flat_shapes(abstract)
  wrong = [f"{k} {v.shape} (expected {shapes[k]})" for k, v in flat.items() if k in shapes and v.shape != shapes[k]]
  problems = []
  if set(shapes) - set(flat):
    problems.append(f"missing variables: {_names(set(shapes) - set(flat))}")
  if set(flat) - set(shapes):
    problems.append(f"variables this model does not have: {_names(set(flat) - set(shapes))}")
  if wrong:
    problems.append(f"wrong shapes: {_names(wrong)}")
  if problems:
    raise ValueError(f"{what}: " + "; ".join(problems))
  state: dict[str, np.ndarray] = {}
  for src, dst, layout in m.rules:
    paths = (dst,) if isinstance(dst, str) else dst
    parts = [layouts.to_reference(layout, flat[p]) for p in paths]
    state[src] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
  for key, target in m.tied.items():
    state[key] = state[target].copy()
  for key, value in m.fill.items():
    state[key] = np.array(value)
  return state
