"""Helpers for the CLI: fit a law to a results folder and draw its standard figures."""

import json
from pathlib import Path

import numpy as np

from scalezoo.scaling import laws as _laws
from scalezoo.scaling.best import Best, best_per_point
from scalezoo.scaling.fit import Fit, fit_law
from scalezoo.scaling.optimal import pareto_frontier
from scalezoo.scaling.table import finished, table

X_ALIASES = {"params": "N", "n": "N", "data": "D", "examples": "D", "tokens": "D", "compute": "C", "flops": "C"}
N_COLUMNS = {  # --n: which parameter count is N, for every law
  "params": "runs.jsonl 'params': every trainable parameter, embeddings included",
  "non_embedding": "runs.jsonl 'params_non_embedding': the parameters less the embeddings (Kaplan's count)",
}
SEEDS = {"seed": "config.seed", "data_seed": "config.data_seed"}  # never tuned over: each seed is a point of its own
# the config keys a grid tunes at a point; any other key that differs (a model's or data set's option, n_train at
# equal D, the parametrization, ...) makes another point, so nothing is picked away that was not tuned
TUNING = ("config.optimizer.", "config.schedule.", "config.batch_size", "config.z_loss")


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


def with_n(t: dict, n: str) -> dict:
  """The table with N the `n` count (N_COLUMNS): the fit, its figure and a recommendation all read t["N"]."""
  if n not in N_COLUMNS:
    raise ValueError(f"N {n!r}: must be one of {', '.join(N_COLUMNS)}")
  if n == "params":
    return t
  v = _column(t, "params_non_embedding") if "params_non_embedding" in t else np.full(len(t["N"]), np.nan)
  if not np.isfinite(v).any():
    raise ValueError("N non_embedding: no run records params_non_embedding; refit with N params (the total)")
  return t | {"N": v}


def pick(t: dict, X: dict, L: np.ndarray, all_runs: bool = False) -> tuple[np.ndarray, Best]:
  """The rows to fit (in table order) and what was picked: the best run (lowest finite L) per point, a point
  being (N, D, the law's inputs, the seeds, every config key but the TUNING ones and steps, which D measures), or
  with all_runs every run with a finite L. The TUNING keys that differ within a point are the tuned axes."""
  point = {k: X[k] if k in X else t[k] for k in dict.fromkeys(("N", "D", *X))}
  point |= {k: t[c] for k, c in SEEDS.items() if c in t}
  config = [k for k in t if k.startswith("config.") and k not in (*SEEDS.values(), "config.steps")]
  if rest := [k for k in config if not k.startswith(TUNING)]:
    point["the other config keys"] = np.empty(len(L), object)
    point["the other config keys"][:] = [repr(row) for row in zip(*(t[k] for k in rest))]
  others = {k: t[k] for k in config if k.startswith(TUNING)}
  best = best_per_point(L, point, others)
  return (np.flatnonzero(np.isfinite(L)) if all_runs else np.sort(best.index)), best


def _inputs(t: dict, law: _laws.Law, x: str | None) -> tuple[dict, str]:
  if law.inputs is not None:
    if x is not None and x not in law.inputs:
      raise ValueError(f"law {law.name!r} takes inputs {list(law.inputs)}; x={x!r} does not apply")
    return {k: _column(t, k) for k in law.inputs}, "N"
  x = X_ALIASES.get(x, x) or "N"
  return {x: _column(t, x)}, x


def _fittable(t: dict, X: dict, y: str) -> np.ndarray:
  """y where it and every input are finite and positive, else NaN."""
  L = _column(t, y)
  ok = np.isfinite(L) & (L > 0)
  for v in X.values():
    ok &= np.isfinite(v) & (v > 0)
  return np.where(ok, L, np.nan)


def fit_dir(
  path,
  law,
  *,
  x: str | None = None,
  y: str = "metrics.test_loss",
  bootstrap: int = 200,
  seed: int = 0,
  n: str = "params",
  all_runs: bool = False,
  **fit_kwargs,
) -> tuple[Fit, str]:
  """Fit `law` to the finished runs of a results folder (or runs.jsonl): y against x (one-input laws: N by
  default, or D, C, any numeric column) or against (N, D), N the count `n` names (N_COLUMNS). A grid that tuned a
  hyperparameter (runs that share N, D and seed but differ in config) is fitted at the best run of each point
  (`pick`), or at every run with all_runs. Writes fit_<law>[_<x>][_non_embedding].json into the folder (x when it
  is not N) and returns (fit, printable table)."""
  law = _laws.get(law)
  t = with_n(finished(table(path)), n)
  X, x = _inputs(t, law, x)
  L = _fittable(t, X, y)
  if not np.isfinite(L).any():
    raise ValueError(f"no finished run in {path} has finite positive {y!r} and {sorted(X)}")
  rows, best = pick(t, X, L, all_runs)
  dropped = len(L) - best.runs
  meta = {"x": x, "y": y, "source": str(path), "runs_used": len(rows), "runs_dropped": dropped, "n": n}
  meta |= {"runs": "every run" if all_runs else "best per point", "points": best.points, "tuned": list(best.tuned)}
  runs = f"{len(rows)} finished runs of {path}, final metrics (last step)"
  if best.tuned and not all_runs:
    runs = f"{len(rows)} of {best.runs} finished runs of {path}: each point's best over {', '.join(best.tuned)}, "
    runs += "final metrics (last step)"
  fit = fit_law(
    law, {k: v[rows] for k, v in X.items()}, L[rows], bootstrap=bootstrap, seed=seed, meta=meta,
    conventions=conventions(t, X, y, runs, n=n), **fit_kwargs,
  )  # fmt: skip
  name = f"fit_{law.name}" + ("" if (law.inputs is not None or x == "N") else f"_{x}")
  fit.save(_folder(path) / (name + ("" if n == "params" else f"_{n}") + ".json"))
  text = fit.summary() + f"\nruns used {len(rows)}, dropped {dropped} (non-finite or <= 0)"
  if best.tuned:
    tuned = ", ".join(f"{k} ({m} values)" for k, m in best.tuned.items())
    text += (
      f"\nevery run fitted (--all-runs): {best.runs} runs at {best.points} points that tuned {tuned}" if all_runs
      else f"\n{best.summary()}; --all-runs fits every run"
    )  # fmt: skip
  return fit, text


HPARAM_ALIASES = {"lr": "config.optimizer.lr", "batch": "config.batch_size", "batch_size": "config.batch_size"}


def hparam_dir(
  path,
  hparam,
  *,
  x="N",
  point=None,
  y: str = "metrics.test_loss",
  method: str = "near_optimal",
  n: str = "params",
  **kwargs,
):
  """`scaling.fit_hparam_law` on a results folder: the optimal `hparam` (lr, batch or any config column; or a list
  of them tuned as one joint grid, e.g. ["lr", "batch_size"]) as a power law in x (one or more of N, D, C or
  numeric columns). Runs that share the point's columns and every tuned config key (seeds) are averaged first, as
  DeepSeek fits seed-free optima; a tuned key left out of `hparam` is profiled out (each setting at its best).
  Writes fit_hparam_<hparam>[_<hparam>…]_<x>.json into the folder; returns (law or dict of laws, printable text)."""
  from scalezoo.scaling.hparam_law import fit_hparam_law

  t = with_n(finished(table(path)), n)
  hs = tuple(HPARAM_ALIASES.get(h, h) for h in ((hparam,) if isinstance(hparam, str) else hparam))
  on = tuple(X_ALIASES.get(k, k) for k in ((x,) if isinstance(x, str) else x))
  point = on if point is None else tuple(X_ALIASES.get(k, k) for k in ((point,) if isinstance(point, str) else point))
  cols = {k: _column(t, k) for k in dict.fromkeys((*hs, *on, *point))}
  L = _column(t, y)
  ok = np.isfinite(L)
  # the other keys the grid tuned (a batch axis under an lr law: they differ between runs of one point and
  # setting): never averaged together as if they were seeds
  same: dict[tuple, list[int]] = {}
  for i, key in enumerate(zip(*(cols[k] for k in (*point, *hs)))):
    if ok[i]:
      same.setdefault(key, []).append(i)
  tuned = [
    k
    for k in t
    if k.startswith(TUNING) and k not in cols and any(len({repr(t[k][i]) for i in r}) > 1 for r in same.values())
  ]
  cells: dict[tuple, list[int]] = {}  # (point..., hparams..., other tuned keys...) -> the runs (seeds)
  for i, key in enumerate(zip(*(cols[k] for k in (*point, *hs)), *([repr(v) for v in t[k]] for k in tuned))):
    if ok[i]:
      cells.setdefault(key, []).append(i)
  if not cells:
    raise ValueError(f"no finished run in {path} has a finite {y!r}")
  rows = list(cells.values())
  short = {k: k.rsplit(".", 1)[-1] for k in cols}  # config.optimizer.lr -> lr, model_args.d_model -> d_model
  if len(set(short.values())) < len(short):
    short = {k: k for k in cols}
  runs = {short[k]: np.array([v[r[0]] for r in rows]) for k, v in cols.items()}
  runs["loss"] = np.array([np.mean(L[r]) for r in rows])
  conv = conventions(t, {k: None for k in on}, y, f"{len(L)} finished runs of {path}, averaged into {len(cells)}", n=n)
  conv |= {short[k]: f"runs.jsonl {k!r}" for k in cols if short[k] != k}
  if tuned:
    conv["profiled"] = f"also tuned, not fitted: {', '.join(tuned)} (each setting at its best)"
  on, point, hs = tuple(short[k] for k in on), tuple(short[k] for k in point), tuple(short[h] for h in hs)
  h = hs[0] if len(hs) == 1 else hs
  law = fit_hparam_law(runs, hparam=h, loss="loss", on=on, point=point, method=method, conventions=conv, **kwargs)
  laws = {h: law} if len(hs) == 1 else law
  name = f"fit_hparam_{'_'.join(hs)}_{'_'.join(on)}.json"
  record = law.to_dict() if len(hs) == 1 else {k: v.to_dict() for k, v in laws.items()}
  (_folder(path) / name).write_text(json.dumps(record, indent=1) + "\n")
  text = "\n".join(v.summary() for v in laws.values())
  if tuned:
    text += f"\n{conv['profiled']}"
  return law, text + f"\nwrote {_folder(path) / name}"


def critical_batch_dir(path, target: float, *, x: str = "N", curve: str = "val_loss", n: str = "params", **kwargs):
  """`scaling.fit_critical_batch` on a results folder whose sweep has a batch axis: each run's steps to `target`
  (the first logged step of curve.<curve> below it), the fewest over the runs at each (x, batch) (their learning
  rates and seeds: Zhang et al. take the best run). Writes fit_critical_batch_<x>.json; returns (fit, text)."""
  from scalezoo.scaling.critical_batch import fit_critical_batch, steps_to_target

  t = with_n(table(path), n)
  x = X_ALIASES.get(x, x)
  X, B = _column(t, x), _column(t, "config.batch_size")
  if f"curve.{curve}" not in t:
    raise ValueError(
      f"no run in {path} logged curve.{curve}; curves: {sorted(k[6:] for k in t if k.startswith('curve.'))}"
    )
  lists = lambda col: [c if isinstance(c, list) else [] for c in t[col]]  # a run without a curve: none reached
  S = np.array([steps_to_target(s, v, target) for s, v in zip(lists("curve.step"), lists(f"curve.{curve}"))])
  best: dict[tuple, float] = {}
  for xi, bi, si in zip(X, B, S):
    if np.isfinite(si):
      best[(xi, bi)] = min(si, best.get((xi, bi), np.inf))
  cells = {(xi, bi) for xi, bi in zip(X, B) if np.isfinite(xi) and np.isfinite(bi)}
  if not best:
    raise ValueError(f"no run in {path} reached {curve} < {target:g}; a higher target, or longer runs")
  (Xs, Bs), Ss = np.array(list(best)).T, np.array(list(best.values()))
  missed = [(float(a), float(b)) for a, b in sorted(cells - set(best))]
  runs = f"{len(S)} runs of {path}: each (x, batch)'s fewest steps to {curve} < {target:g} over its runs"
  conv = {x: f"runs.jsonl {x!r}", "batch": "config.batch_size", "steps": runs, "missed": [list(c) for c in missed]}
  fit = fit_critical_batch({x: Xs, "batch": Bs, "steps": Ss}, on=x, conventions=conv, **kwargs)
  name = _folder(path) / f"fit_critical_batch_{x}.json"
  name.write_text(json.dumps(fit.to_dict(), indent=1) + "\n")
  text = fit.summary() + (f"\n{len(missed)} (x, batch) cells never reached the target: {missed}" if missed else "")
  return fit, text + f"\nwrote {name}"


def conventions(t: dict, X: dict, y: str, runs: str, n: str = "params") -> dict:
  """What the columns of a runs table mean, for a fit's record (Li et al. 2025's checklist)."""
  out = {}
  if "N" in X:
    out["N"] = N_COLUMNS[n]
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
  """`scaling.recommend` for a fit of a results folder: its configs (model and model_args) as the ladder, N the
  fit's count."""
  from scalezoo.scaling.recommendation import recommend

  t = with_n(finished(table(path)), fit.meta.get("n", "params"))
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
    tf = with_n(t, fit.meta.get("n", "params"))
    X = {k: tf[k] if k in tf else _column(tf, k) for k in fit.inputs}
    Ly = _fittable(tf, X, fit.meta["y"])
    ok = np.zeros(len(Ly), bool)
    ok[pick(tf, X, Ly, all_runs=fit.meta.get("runs") != "best per point")[0]] = True  # the runs the fit used
    x, n = fit.inputs[0], int(fit.stats.get("n", ok.sum()))
    if n != ok.sum():  # e.g. the demo's fits, each along one edge of its grid: drawn by the demo itself
      notes.append(
        f"{fpath.with_suffix('.png').name} not drawn: the fit used {n} points, this folder has {ok.sum()} runs"
      )
      continue
    if (why := _constant(X[x][ok], x)) is not None:
      notes.append(f"{fpath.with_suffix('.png').name} not drawn: {why}")
      continue
    shown = [c for c in fit.inputs if c in tf]
    note = plots.collapsed_note(plots.hidden_axes({k: v[ok] for k, v in tf.items()}, shown))
    note = note and f"the fit's points: {fit.meta.get('runs', 'every run')}; {note}"
    plots.fitted_law(fit, {k: v[ok] for k, v in X.items()}, Ly[ok], note=note, path=fpath.with_suffix(".png"))
    out.append(fpath.with_suffix(".png"))
  return out


def _constant(v, x: str) -> str | None:
  """Why a figure along x cannot be drawn (x takes a single value), or None."""
  u = np.unique(np.asarray(v, np.float64))
  return f"{x} does not vary (every run has {x} = {u[0]:g})" if u.size == 1 else None
