"""Helpers for the CLI: fit a law to a results folder and draw its standard figures."""

import json
from pathlib import Path

import numpy as np

from scalezoo.scaling import laws as _laws
from scalezoo.scaling.fit import Fit, fit_law
from scalezoo.scaling.optimal import pareto_frontier
from scalezoo.scaling.table import finished, table

X_ALIASES = {"params": "N", "n": "N", "data": "D", "examples": "D", "tokens": "D", "compute": "C", "flops": "C"}


def _folder(path) -> Path:
  p = Path(path)
  return p.parent if p.suffix == ".jsonl" else p


def _column(t: dict, name: str) -> np.ndarray:
  if name not in t:
    numeric = sorted(k for k, v in t.items() if v.dtype.kind in "fiu")
    raise ValueError(f"no column {name!r} in the runs table; numeric columns: {numeric}")
  v = t[name]
  if v.dtype == object:
    v = np.array([np.nan if e is None else e for e in v], np.float64)
  return v.astype(np.float64)


def _inputs(t: dict, law: _laws.Law, x: str | None) -> tuple[dict, str]:
  if law.inputs is not None:
    if x is not None and x not in law.inputs:
      raise ValueError(f"law {law.name!r} takes inputs {list(law.inputs)}; x={x!r} does not apply")
    return {k: _column(t, k) for k in law.inputs}, "N"
  x = X_ALIASES.get(x, x) or "N"
  return {x: _column(t, x)}, x


def fit_dir(
  path, law, *, x: str | None = None, y: str = "metrics.test_loss", bootstrap: int = 200, seed: int = 0, **fit_kwargs
) -> tuple[Fit, str]:
  """Fit `law` to the finished runs of a results folder (or runs.jsonl): y against x (one-input laws: N by
  default, or D, C, any numeric column) or against (N, D). Writes fit_<law>.json into the folder
  (fit_<law>_<x>.json when x is not N) and returns (fit, printable table)."""
  law = _laws.get(law)
  t = finished(table(path))
  X, x = _inputs(t, law, x)
  L = _column(t, y)
  ok = np.isfinite(L) & (L > 0)
  for v in X.values():
    ok &= np.isfinite(v) & (v > 0)
  if not ok.any():
    raise ValueError(f"no finished run in {path} has finite positive {y!r} and {sorted(X)}")
  meta = {"x": x, "y": y, "source": str(path), "runs_used": int(ok.sum()), "runs_dropped": int((~ok).sum())}
  conv = conventions(t, X, y, f"{int(ok.sum())} finished runs of {path}, final metrics (last step)")
  fit = fit_law(
    law, {k: v[ok] for k, v in X.items()}, L[ok], bootstrap=bootstrap, seed=seed, meta=meta, conventions=conv,
    **fit_kwargs,
  )  # fmt: skip
  name = f"fit_{law.name}.json" if (law.inputs is not None or x == "N") else f"fit_{law.name}_{x}.json"
  fit.save(_folder(path) / name)
  text = fit.summary() + f"\nruns used {meta['runs_used']}, dropped {meta['runs_dropped']} (non-finite or <= 0)"
  return fit, text


HPARAM_ALIASES = {"lr": "config.optimizer.lr", "batch": "config.batch_size", "batch_size": "config.batch_size"}


def hparam_dir(
  path, hparam: str, *, x="N", point=None, y: str = "metrics.test_loss", method: str = "near_optimal", **kwargs
):
  """`scaling.fit_hparam_law` on a results folder: the optimal `hparam` (lr, batch or any config column) as a
  power law in x (one or more of N, D, C or numeric columns). Runs that share the point's columns and the
  hyperparameter (seeds) are averaged first, as DeepSeek fits seed-free optima. Writes
  fit_hparam_<hparam>_<x>.json into the folder; returns (law, printable text)."""
  from scalezoo.scaling.hparam_law import fit_hparam_law

  t = finished(table(path))
  h = HPARAM_ALIASES.get(hparam, hparam)
  on = tuple(X_ALIASES.get(k, k) for k in ((x,) if isinstance(x, str) else x))
  point = on if point is None else tuple(X_ALIASES.get(k, k) for k in ((point,) if isinstance(point, str) else point))
  cols = {k: _column(t, k) for k in dict.fromkeys((h, *on, *point))}
  L = _column(t, y)
  cells: dict[tuple, list[int]] = {}  # (point..., hparam) -> the runs (seeds) with a finite loss
  for i, key in enumerate(zip(*(cols[k] for k in (*point, h)))):
    if np.isfinite(L[i]):
      cells.setdefault(key, []).append(i)
  if not cells:
    raise ValueError(f"no finished run in {path} has a finite {y!r}")
  rows = list(cells.values())
  short = {k: k.rsplit(".", 1)[-1] for k in cols}  # config.optimizer.lr -> lr, model_args.d_model -> d_model
  if len(set(short.values())) < len(short):
    short = {k: k for k in cols}
  runs = {short[k]: np.array([v[r[0]] for r in rows]) for k, v in cols.items()}
  runs["loss"] = np.array([np.nanmean(L[r]) for r in rows])
  conv = conventions(t, {k: None for k in on}, y, f"{len(L)} finished runs of {path}, averaged into {len(cells)}")
  conv |= {short[k]: f"runs.jsonl {k!r}" for k in cols if short[k] != k}
  on, point, h = tuple(short[k] for k in on), tuple(short[k] for k in point), short[h]
  law = fit_hparam_law(runs, hparam=h, loss="loss", on=on, point=point, method=method, conventions=conv, **kwargs)
  name = f"fit_hparam_{h}_{'_'.join(on)}.json"
  (_folder(path) / name).write_text(json.dumps(law.to_dict(), indent=1) + "\n")
  return law, law.summary() + f"\nwrote {_folder(path) / name}"


def conventions(t: dict, X: dict, y: str, runs: str) -> dict:
  """What the columns of a runs table mean, for a fit's record (Li et al. 2025's checklist)."""
  out = {}
  if "N" in X:
    out["N"] = "runs.jsonl 'params': every trainable parameter, embeddings included"
  if "D" in X:
    tok = "tokens_seen" in t and np.any(np.isfinite(_column(t, "tokens_seen")))
    out["D"] = (
      "runs.jsonl 'tokens_seen' (tokens trained on)" if tok else "runs.jsonl 'examples_seen' (examples trained on)"
    )
  if "C" in X:
    out["C"] = "runs.jsonl 'flops_total': XLA's FLOP count of the training steps"
  split = next((s for s in ("test", "val", "train") if s in y.split(".")[-1]), "unknown")
  out |= {"loss": f"'{y}'", "split": split, "runs": runs}
  return out


def recommend_dir(path, fit: Fit, C: float):
  """`scaling.recommend` for a fit of a results folder: its configs (model and model_args) as the ladder."""
  from scalezoo.scaling.recommendation import recommend

  t = finished(table(path))
  names = [_config_name(t, i) for i in range(len(t["N"]))]
  ladder = {nm: float(n) for nm, n in zip(names, t["N"]) if np.isfinite(n)}
  rng = {k: (float(np.nanmin(t[k])), float(np.nanmax(t[k]))) for k in fit.inputs if k in t}
  return recommend(fit, C, ladder=ladder, fit_range=rng)


def _config_name(t: dict, i: int) -> str:
  model = t["config.model"][i] if "config.model" in t else "run"
  args = sorted(k for k in t if k.startswith("config.model_args."))
  return f"{model}(" + ", ".join(f"{k.rsplit('.', 1)[1]}={t[k][i]}" for k in args if t[k][i] is not None) + ")"


def plot_dir(path, *, y: str = "metrics.test_loss", notes: list[str] | None = None) -> list[Path]:
  """Standard figures for a results folder: loss vs compute (curves, frontier, power law fitted to the compute
  frontier), the final loss vs N and vs D (the data, no fit), and one figure per fit_*.json found there (the fit
  over its data). A figure whose x does not vary is not drawn; `notes` gets a line saying so."""
  from scalezoo.scaling import plots  # matplotlib: only for figures

  folder = _folder(path)
  t = finished(table(path))
  notes = [] if notes is None else notes
  out = []
  L = _column(t, y) if y in t else None
  if L is not None and not np.any(np.isfinite(L) & (L > 0)):  # log axes need positive losses: refuse, draw nothing
    raise ValueError(f"no run has a positive, finite {y!r}: nothing to draw on log axes")
  cfit = None
  if L is not None:
    ok = np.isfinite(L) & (L > 0) & np.isfinite(t["C"]) & (t["C"] > 0)
    front = np.flatnonzero(ok)[pareto_frontier(t["C"][ok], L[ok])]
    if front.size >= 4:
      cfit = fit_law("power", {"C": t["C"][front]}, L[front], bootstrap=64, meta={"x": "C", "y": y, "frontier": True})
  curve_y = "curve.val_loss" if "curve.val_loss" in t else "curve.train_loss"
  fig = plots.loss_vs_compute(t, loss=y, curve_y=curve_y, fit=cfit, path=folder / "loss_vs_compute.png")
  out.append(folder / "loss_vs_compute.png")
  del fig
  if L is not None:
    for x, other in (("N", "D"), ("D", "N")):
      name = f"loss_vs_{'params' if x == 'N' else 'data'}.png"
      if not np.all(np.isfinite(t[x])):
        continue
      if (why := _constant(t[x], x)) is not None:
        notes.append(f"{name} not drawn: {why}")
        continue
      plots.loss_vs_input(t, x, L, color_by=other, path=folder / name)
      out.append(folder / name)
  for fpath in sorted(folder.glob("fit_*.json")):
    fit = Fit.load(fpath)
    if fit.meta.get("y") is None or fit.meta["y"] not in t:
      continue
    Ly = _column(t, fit.meta["y"])
    X = {k: t[k] if k in t else _column(t, k) for k in fit.inputs}
    ok = np.isfinite(Ly) & (Ly > 0)
    for v in X.values():
      ok &= np.isfinite(v) & (v > 0)
    x, n = fit.inputs[0], int(fit.stats.get("n", ok.sum()))
    if n != ok.sum():  # e.g. the demo's fits, each along one edge of its grid: drawn by the demo itself
      notes.append(
        f"{fpath.with_suffix('.png').name} not drawn: the fit used {n} points, this folder has {ok.sum()} runs"
      )
      continue
    if (why := _constant(X[x][ok], x)) is not None:
      notes.append(f"{fpath.with_suffix('.png').name} not drawn: {why}")
      continue
    shown = [c for c in fit.inputs if c in t]
    note = plots.collapsed_note(plots.hidden_axes({k: v[ok] for k, v in t.items()}, shown))
    note = note and f"the fit's points: every run; {note}"
    plots.fitted_law(fit, {k: v[ok] for k, v in X.items()}, Ly[ok], note=note, path=fpath.with_suffix(".png"))
    out.append(fpath.with_suffix(".png"))
  return out


def _constant(v, x: str) -> str | None:
  """Why a figure along x cannot be drawn (x takes a single value), or None."""
  u = np.unique(np.asarray(v, np.float64))
  return f"{x} does not vary (every run has {x} = {u[0]:g})" if u.size == 1 else None
