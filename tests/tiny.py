"""The tiny run the tests train, written once: an MLP on the digits set (8x8 images, flattened), batch 32.

A test takes a fresh copy with its own changes (`mlp_digits(steps=60, model_args={"width": 16})`: a dict merges
into the table it names) and, where a command reads a file, writes it as TOML (`toml(...)`); a sweep spec is the
same run under `base` (`spec(...)`). Copies never share their tables, so a test may edit what it gets.
"""

from __future__ import annotations

import copy
import json
from typing import Any

MLP_DIGITS: dict[str, Any] = {
  "model": "mlp",
  "data": "digits",
  "batch_size": 32,
  "model_args": {"width": 8},
  "data_args": {"flat": True},
}


def merge(base: dict, changes: dict) -> dict:
  """A deep copy of `base` with `changes` in: a dict merges into the dict it replaces, anything else replaces."""
  out = copy.deepcopy(base)
  for k, v in changes.items():
    out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
  return out


def mlp_digits(**changes: Any) -> dict:
  """The tiny MLP-on-digits run config as a plain dict (what config.parse and a TOML file hold)."""
  return merge(MLP_DIGITS, changes)


def spec(name: str, base: dict, axes: dict | None = None, **tables: Any) -> dict:
  """A sweep spec: `base` the run, `axes` the grid ("optimizer.lr" = [...]), and other tables (sweep, branches)."""
  return {"name": name, "base": base, **({"axes": axes} if axes else {}), **tables}


def _key(k: str) -> str:
  return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _value(v: Any) -> str:
  if isinstance(v, bool):
    return "true" if v else "false"
  if isinstance(v, int | float):
    return repr(v)
  if isinstance(v, str):
    return json.dumps(v)
  if isinstance(v, list | tuple):
    return "[" + ", ".join(_value(x) for x in v) + "]"
  raise TypeError(f"no TOML for {v!r}")


def toml(raw: dict, prefix: str = "") -> str:
  """`raw` as TOML: a table's plain keys (`key = value`, one a line) before its subtables (`[a.b]`)."""
  lines = [f"{_key(k)} = {_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
  for k, v in raw.items():
    if isinstance(v, dict):
      name = f"{prefix}.{_key(k)}" if prefix else _key(k)
      lines += ["", f"[{name}]", toml(v, name).rstrip("\n")] if v else ["", f"[{name}]"]
  return "\n".join(lines).strip("\n") + "\n"
