"""Publication-quality figures, drawn on matplotlib Figure objects with the Agg canvas (no pyplot state, no
global backend switch). Each function returns the Figure and, given `path`, writes a PNG there."""

import functools
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import cm, colors, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalezoo.scaling.optimal import compute_optimal, envelope

RC = {
  "font.size": 9,
  "axes.titlesize": 10,
  "axes.labelsize": 9,
  "legend.fontsize": 7.5,
  "xtick.labelsize": 8,
  "ytick.labelsize": 8,
  "lines.linewidth": 1.4,
  "axes.spines.top": False,
  "axes.spines.right": False,
}
LABELS = {
  "N": "parameters N",
  "D": "training examples / tokens D",
  "C": "training compute C (FLOPs)",
  "epochs": "epochs",
}


def _styled(f):
  """Run a plotting function under the house style (rc settings apply to artists made inside)."""

  @functools.wraps(f)
  def wrapped(*args, **kwargs):
    with matplotlib.rc_context(RC):
      return f(*args, **kwargs)

  return wrapped


def _figure(ncols=1, width=4.2, height=3.2):
  fig = Figure(figsize=(width * ncols, height), dpi=150, layout="constrained")
  FigureCanvasAgg(fig)
  return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _number(v: float) -> str:
  """Plain digits where they are short (0.8, 250, 7000), else m×10^k."""
  if v <= 0 or not np.isfinite(v):
    return ""
  if 1e-3 <= v < 1e5:
    return f"{v:g}"
  k = int(np.floor(np.log10(v) + 1e-9))
  m = round(v / 10**k, 1)
  return f"$10^{{{k}}}$" if m == 1 else f"${m:g}\\times10^{{{k}}}$"


def _log_formatter(axis, minor: bool) -> ticker.FuncFormatter:
  """Major ticks always labelled; minor ones (2 and 5, or all) only when the axis spans few decades, so labels
  never collide."""

  def fmt(v, _pos):
    if not minor:
      return _number(v)
    lo, hi = sorted(abs(x) for x in axis.get_view_interval())
    span = np.log10(hi / lo) if lo > 0 else np.inf
    mantissa = round(v / 10 ** np.floor(np.log10(v) + 1e-9))
    if span <= 0.6 or (span <= 1.6 and mantissa in (2, 5)):
      return _number(v)
    return ""

  return ticker.FuncFormatter(fmt)


def _log(ax, x=True, y=True):
  """Log axes whose ticks stay readable on short ranges (plain numbers, minor labels when few decades)."""
  for on, axis, setter in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
    if not on:
      continue
    setter("log")
    axis.set_major_locator(ticker.LogLocator(base=10, numticks=8))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(2, 10) * 0.1, numticks=12))
    axis.set_major_formatter(_log_formatter(axis, minor=False))
    axis.set_minor_formatter(_log_formatter(axis, minor=True))
  ax.grid(True, which="major", alpha=0.25, linewidth=0.6)
  ax.grid(True, which="minor", alpha=0.08, linewidth=0.4)


def save(fig: Figure, path) -> Path | None:
  if path is None:
    return None
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=200, bbox_inches="tight")
  return path


def _cmap(values):
  v = np.asarray(values, np.float64)
  lo, hi = np.nanmin(v), np.nanmax(v)
  norm = colors.LogNorm(lo, hi if hi > lo else lo * 1.0001)
  return cm.ScalarMappable(norm=norm, cmap="viridis")


def _band(ax, fit, key, xs, color, label):
  X = {key: xs}
  ax.plot(xs, fit.predict(X), color=color, label=label, zorder=3)
  if fit.theta_samples is not None:
    lo, hi = fit.predict_interval(X)
    ax.fill_between(xs, lo, hi, color=color, alpha=0.18, linewidth=0, label=f"{100 * fit.ci:g}% band", zorder=2)


def _grid(v, n=200, pad=1.0):
  v = np.asarray(v, np.float64)
  return np.exp(np.linspace(np.log(v.min()) - np.log(pad), np.log(v.max()) + np.log(pad), n))


@_styled
def loss_vs_compute(
  t: dict,
  *,
  loss="metrics.test_loss",
  curve_x="curve.flops",
  curve_y="curve.val_loss",
  fit=None,
  frontier: bool = True,
  color_by: str = "N",
  title: str | None = None,
  path=None,
) -> Figure:
  """Every run's training curve over compute (coloured by N), final losses, the lower envelope (the compute-
  optimal frontier) and `fit`: a power law over C (with its band) or a chinchilla fit (its optimal L(C))."""
  fig, (ax,) = _figure(width=5.2, height=3.6)
  sm = _cmap(t[color_by])
  curves = []
  if curve_x in t and curve_y in t:
    for cx, cy, c in zip(t[curve_x], t[curve_y], t[color_by]):
      cx, cy = np.asarray(cx if cx is not None else [], float), np.asarray(cy if cy is not None else [], float)
      ok = np.isfinite(cx) & np.isfinite(cy) & (cx > 0) & (cy > 0)
      if ok.sum() >= 2:
        ax.plot(cx[ok], cy[ok], color=sm.to_rgba(c), alpha=0.55, linewidth=0.9)
        curves.append((cx[ok], cy[ok]))
  if loss in t:
    ax.scatter(
      t["C"],
      t[loss],
      c=sm.to_rgba(t[color_by]),
      s=14,
      edgecolor="k",
      linewidth=0.3,
      zorder=4,
      label=f"final {loss.split('.')[-1]}",
    )
  if frontier and len(curves) >= 2:
    fr = envelope([c[0] for c in curves], [c[1] for c in curves], np.ones(len(curves)), n_grid=300)
    ax.plot(fr.C, fr.L_opt, color="k", linestyle="--", linewidth=1.2, label="lower envelope", zorder=5)
  if fit is not None and fit.inputs == ("C",):
    _band(ax, fit, "C", _grid(t["C"], pad=1.5), "crimson", f"fit: {fit.law_obj.formula.replace('x', 'C')}")
  elif fit is not None and set(fit.inputs) == {"N", "D"}:
    Cs = _grid(t["C"], pad=1.5)
    ax.plot(Cs, compute_optimal(fit, Cs).L_opt, color="crimson", label=f"{fit.law} compute-optimal L(C)")
  _log(ax)
  ax.set_xlabel(LABELS["C"])
  ax.set_ylabel(loss.split(".")[-1].replace("_", " "))
  fig.colorbar(sm, ax=ax, label=LABELS.get(color_by, color_by), pad=0.01)
  ax.legend(frameon=False, loc="upper right")
  ax.set_title(title or "loss vs compute")
  save(fig, path)
  return fig


def _groups(v, max_groups=8):
  """Labels grouping a variable: its distinct values if few, else log-quantile bins."""
  u = np.unique(v)
  if u.size <= max_groups:
    return np.searchsorted(u, v), u
  edges = np.quantile(np.log(v), np.linspace(0, 1, max_groups + 1))
  lab = np.clip(np.searchsorted(edges, np.log(v), side="right") - 1, 0, max_groups - 1)
  return lab, np.array(
    [np.exp(np.median(np.log(v[lab == g]))) if np.any(lab == g) else np.nan for g in range(max_groups)]
  )


@_styled
def fitted_law(fit, inputs: dict, loss, *, x: str | None = None, title: str | None = None, path=None) -> Figure:
  """The data and the fitted law with its bootstrap band. Two-input laws: loss vs `x` (default the first
  input), one curve per group of the other input, colours by that input."""
  x = x or fit.inputs[0]
  fig, (ax,) = _figure(width=4.8, height=3.5)
  loss = np.asarray(loss, float)
  if len(fit.inputs) == 1:
    xs = np.asarray(inputs[x], float)
    ax.scatter(xs, loss, s=16, color="tab:blue", edgecolor="k", linewidth=0.3, zorder=4, label="runs")
    _band(ax, fit, x, _grid(xs, pad=1.3), "crimson", f"fit: {fit.law_obj.formula}")
  else:
    other = [k for k in fit.inputs if k != x][0]
    xs, os_ = np.asarray(inputs[x], float), np.asarray(inputs[other], float)
    sm = _cmap(os_)
    ax.scatter(xs, loss, c=sm.to_rgba(os_), s=14, edgecolor="k", linewidth=0.3, zorder=4)
    lab, reps = _groups(os_)
    for g, rep in enumerate(reps):
      m = lab == g
      if not m.any():
        continue
      grid = _grid(xs[m], 100, pad=1.2)
      ax.plot(grid, fit.predict({x: grid, other: np.full_like(grid, rep)}), color=sm.to_rgba(rep), linewidth=1.1)
    fig.colorbar(sm, ax=ax, label=LABELS.get(other, other), pad=0.01)
  _log(ax)
  ax.set_xlabel(LABELS.get(x, x))
  ax.set_ylabel("loss")
  params = ", ".join(f"{k}={v:.3g}" for k, v in fit.params.items())
  ax.set_title(title or f"{fit.law} fit: {params}", fontsize=8)
  if len(fit.inputs) == 1:
    ax.legend(frameon=False)
  from scalezoo.scaling.caption import add_caption

  add_caption(fig, fit)  # conventions and warnings travel with the figure
  save(fig, path)
  return fig


@_styled
def isoflop_profiles(N, C, L, fr, *, path=None) -> Figure:
  """Approach 2: loss vs N per compute budget with its parabola and minimum; N_opt(C) with its power law."""
  fig, (ax, bx) = _figure(ncols=2, width=4.0, height=3.3)
  N, C, L = (np.asarray(a, float) for a in (N, C, L))
  labels = fr.detail["labels"]
  sm = _cmap(fr.C)
  for (Cg, Nopt, Lopt), (p2, p1, p0) in zip(zip(fr.C, fr.N_opt, fr.L_opt), fr.detail["parabola"]):
    g = labels[np.argmin(np.abs(np.log(C) - np.log(Cg)))]
    m = labels == g
    col = sm.to_rgba(Cg)
    ax.scatter(N[m], L[m], color=col, s=12, edgecolor="k", linewidth=0.3, zorder=3)
    ns = _grid(N[m], 100, pad=1.1)
    ax.plot(ns, p0 + p1 * np.log(ns) + p2 * np.log(ns) ** 2, color=col, linewidth=1.0)
    ax.scatter([Nopt], [Lopt], marker="*", s=60, color=col, edgecolor="k", linewidth=0.5, zorder=5)
  _log(ax)
  ax.set_xlabel(LABELS["N"])
  ax.set_ylabel("loss")
  ax.set_title("IsoFLOP profiles")
  fig.colorbar(sm, ax=ax, label=LABELS["C"], pad=0.01)
  bx.scatter(fr.C, fr.N_opt, color="k", s=16, zorder=3, label="parabola minima")
  cs = _grid(fr.C, 100, pad=2.0)
  ab = f"a={fr.a:.3f}" + (f" [{fr.intervals['a'][0]:.3f}, {fr.intervals['a'][1]:.3f}]" if "a" in fr.intervals else "")
  bx.plot(cs, fr.N_at(cs), color="crimson", label=f"N_opt ∝ C^a, {ab}")
  _log(bx)
  bx.set_xlabel(LABELS["C"])
  bx.set_ylabel("compute-optimal N")
  bx.legend(frameon=False)
  bx.set_title("optimal model size")
  save(fig, path)
  return fig


@_styled
def extrapolation(ex, *, xlabel: str = "C", path=None) -> Figure:
  """Extrapolation check: fitted runs, held-out runs and the law's predictions; relative errors beside."""
  fig, (ax, bx) = _figure(ncols=2, width=4.0, height=3.2)
  tr = ex.train
  ax.scatter(ex.by[tr], ex.loss[tr], s=14, color="tab:blue", edgecolor="k", linewidth=0.3, label="fitted runs")
  ax.scatter(
    ex.by[~tr], ex.loss[~tr], s=22, color="tab:orange", edgecolor="k", linewidth=0.3, marker="D", label="held-out runs"
  )
  o = np.argsort(ex.by)
  if ex.fit.theta_samples is not None:
    lo, hi = ex.fit.predict_interval({k: v[o] for k, v in ex.inputs.items()})
    ax.fill_between(ex.by[o], lo, hi, color="crimson", alpha=0.15, linewidth=0)
  ax.plot(ex.by[o], ex.predicted[o], color="crimson", linewidth=0.9, label="prediction", zorder=1)
  ax.axvline(ex.cut, color="gray", linestyle=":", linewidth=1, label="cut")
  _log(ax)
  ax.set_xlabel(LABELS.get(xlabel, xlabel))
  ax.set_ylabel("loss")
  ax.legend(frameon=False)
  ax.set_title(f"{ex.fit.law} fitted below the cut")
  bx.scatter(ex.by[~tr], 100 * ex.rel_err, color="tab:orange", edgecolor="k", linewidth=0.3, s=22, marker="D")
  bx.axhline(0, color="k", linewidth=0.8)
  _log(bx, y=False)
  bx.set_xlabel(LABELS.get(xlabel, xlabel))
  bx.set_ylabel("relative error of prediction (%)")
  bx.set_title(f"mean |err| {100 * np.mean(np.abs(ex.rel_err)):.2f}%")
  save(fig, path)
  return fig


@_styled
def double_descent(x, y, res, *, y_runs=None, train_error=None, xlabel: str = "N", path=None) -> Figure:
  """The test-error curve (seed band if given), the peak, the minima around it, the interpolation threshold."""
  fig, (ax,) = _figure(width=4.8, height=3.4)
  o = np.argsort(x)
  x, y = np.asarray(x, float)[o], np.asarray(y, float)[o]
  if y_runs is not None:
    yr = np.asarray(y_runs, float)[:, o]
    ax.fill_between(x, yr.min(0), yr.max(0), color="tab:blue", alpha=0.18, linewidth=0, label="seed range")
  ax.plot(x, y, "o-", color="tab:blue", markersize=3, label="test error")
  if train_error is not None:
    ax.plot(x, np.asarray(train_error, float)[o], "s--", color="tab:gray", markersize=2.5, label="train error")
  if res.peak_x is not None:
    style = {"color": "crimson" if res.found else "gray", "zorder": 5}
    ax.scatter([res.peak_x], [res.peak_y], marker="^", s=60, label=f"peak (p={res.p_value:.2g})", **style)
    ax.scatter(
      [res.min_before_x, res.min_after_x],
      [res.min_before_y, res.min_after_y],
      marker="v",
      s=40,
      color="tab:green",
      zorder=5,
      label="minima",
    )
  if res.interpolation_threshold is not None:
    ax.axvline(res.interpolation_threshold, color="k", linestyle=":", linewidth=1, label="interpolation threshold")
  _log(ax, y=False)
  ax.set_xlabel(LABELS.get(xlabel, xlabel))
  ax.set_ylabel("error")
  ax.set_title("double descent: " + ("found" if res.found else "not found"))
  ax.legend(frameon=False, fontsize=7)
  save(fig, path)
  return fig
