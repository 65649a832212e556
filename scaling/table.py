"""table(path): a results folder's runs.jsonl as columns (name -> numpy array), nested keys flattened with dots.

N, D and C are added for scaling fits: N = params, D = tokens_seen when recorded else examples_seen,
C = flops_total. Curve columns (curve.step, curve.val_loss, …) stay object arrays of lists.
"""

import json
import warnings
from numbers import Number
from pathlib import Path

import numpy as np

ALIASES = {"N": "params", "D": ("tokens_seen", "examples_seen"), "C": "flops_total"}


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict) and v:
      out |= _flatten(v, key + ".")
    else:
      out[key] = v
  return out


def _column(values: list) -> np.ndarray:
  present = [v for v in values if v is not None]
  if present and all(isinstance(v, bool) for v in present) and len(present) == len(values):
    return np.array(values, bool)
  if present and all(isinstance(v, Number) and not isinstance(v, bool) for v in present):
    if len(present) == len(values) and all(isinstance(v, int) for v in present):
      return np.array(values, np.int64)
    return np.array([np.nan if v is None else v for v in values], np.float64)
  if present and all(isinstance(v, str) for v in present) and len(present) == len(values):
    return np.array(values, str)
  col = np.empty(len(values), object)
  col[:] = values
  return col


def read_rows(path) -> list[dict]:
  """The records of runs.jsonl (or of the file itself): the one reader, used by the sweep's store too.

  A torn last line (no newline at the end: a writer killed mid-append) is ignored, with a warning, and the next
  append cuts it off; any other line that is not a JSON object, or has no run_id, or repeats one, raises ValueError
  naming the file and line."""
  p = Path(path)
  if p.is_dir():
    p = p / "runs.jsonl"
  if not p.exists():
    raise ValueError(f"no results file at {p}")
  *lines, tail = p.read_bytes().split(b"\n")  # tail: what follows the last newline, b"" unless torn
  if tail.strip():
    warnings.warn(f"{p}: ignored a torn last line ({len(tail)} bytes, no newline)", stacklevel=2)
  rows, first = [], {}
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      why = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8"
      raise ValueError(f"{p}:{i + 1}: not valid JSON ({why}); only a torn last line (no newline) is ignored") from None
    if not isinstance(row, dict):
      raise ValueError(f"{p}:{i + 1}: expected a JSON object, got {type(row).__name__}")
    rows.append((i + 1, row))
  for n, row in rows:  # after every line parsed, so a garbled line is named first
    rid = row.get("run_id")
    if not isinstance(rid, str) or not rid:
      raise ValueError(f"{p}:{n}: a record without a run_id")
    if rid in first:
      raise ValueError(f"{p}:{n}: run {rid[:40]} again (first at line {first[rid]}); each run appears once")
    first[rid] = n
  return [row for _, row in rows]


def table(path) -> dict[str, np.ndarray]:
  """One row per run: dict column -> array. Missing values are NaN (numbers) or None (others)."""
  rows = [_flatten(r) for r in read_rows(path)]
  keys = list(dict.fromkeys(k for r in rows for k in r))
  t = {k: _column([r.get(k) for r in rows]) for k in keys}
  n = len(rows)
  for alias, src in ALIASES.items():
    srcs = (src,) if isinstance(src, str) else src
    col = np.full(n, np.nan)
    for s in reversed(srcs):  # the first listed source wins where it has a value
      if s in t and t[s].dtype != object:
        v = t[s].astype(np.float64)
        col = np.where(np.isfinite(v), v, col)
      elif s in t:
        v = np.array([np.nan if x is None else float(x) for x in t[s]])
        col = np.where(np.isfinite(v), v, col)
    if alias not in t:
      t[alias] = col
  return t


def select(t: dict, mask) -> dict[str, np.ndarray]:
  """The rows of table `t` where mask is true (every column)."""
  mask = np.asarray(mask, bool)
  return {k: v[mask] for k, v in t.items()}


def finished(t: dict) -> dict[str, np.ndarray]:
  """Only the runs with status 'finished' (all rows if there is no status column)."""
  return select(t, t["status"] == "finished") if "status" in t else t


def error_curves(t: dict, x_key: str, *, seed_key: str = "config.seed", metric: str = "accuracy"):
  """Train and test error (1 - metric) of the finished runs as seeds x values of `x_key`.

  Returns (x_N, seeds_S, train_SxN, test_SxN); every (seed, x) needs exactly one finished run.
  """
  t = finished(t)
  for k in (x_key, seed_key, f"metrics.train_{metric}", f"metrics.test_{metric}"):
    if k not in t:
      raise ValueError(f"the table has no column {k!r}")
  x, seeds = np.unique(t[x_key]), np.unique(t[seed_key])
  train_SxN, test_SxN = np.full((2, len(seeds), len(x)), np.nan)
  for i, s in enumerate(seeds):
    for j, v in enumerate(x):
      m = (t[seed_key] == s) & (t[x_key] == v)
      if m.sum() != 1:
        raise ValueError(f"want one finished run for {seed_key}={s}, {x_key}={v}; found {int(m.sum())}")
      train_SxN[i, j] = 1 - t[f"metrics.train_{metric}"][m][0]
      test_SxN[i, j] = 1 - t[f"metrics.test_{metric}"][m][0]
  return x, seeds, train_SxN, test_SxN
