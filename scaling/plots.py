"""Publication-quality figures, drawn on matplotlib Figure objects with the Agg canvas (no pyplot state, no
global backend switch). Each function returns the Figure and, given `path`, writes a PNG there."""

import functools
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import cm, colors, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalezoo.scaling.optimal import compute_optimal

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


class _ReadableLogLocator(ticker.Locator):
  """Major ticks of a log axis, at least three inside the view whatever its span: decades over many decades,
  1-2-5 over about one, plain round numbers (0.3, 0.35, 0.4) over less."""

  def __call__(self):
    return self.tick_values(*self.axis.get_view_interval())

  def tick_values(self, vmin, vmax):
    lo, hi = sorted((float(vmin), float(vmax)))
    if not (lo > 0 and np.isfinite(hi) and hi > lo):
      return ticker.LogLocator(base=10, numticks=8).tick_values(max(lo, 1e-300), max(hi, 1e-300))
    inside = lambda t: t[(t >= lo * (1 - 1e-9)) & (t <= hi * (1 + 1e-9))]
    k0, k1 = int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1
    for subs in ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0, 7.0)):
      t = inside(np.array([m * 10.0**k for k in range(k0, k1 + 1) for m in subs]))
      if subs == (1.0,) and t.size > 8:
        t = t[:: int(np.ceil(t.size / 8))]
      if t.size >= 3:
        return t
    for nbins in (4, 6, 9):
      t = inside(ticker.MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi))
      if t.size >= 3:
        break
    return t[t > 0]


def _log_formatter(axis, minor: bool) -> ticker.Formatter:
  """Major ticks labelled in plain digits (or m×10^k); minor ticks unlabelled, so labels never collide."""
  return ticker.NullFormatter() if minor else ticker.FuncFormatter(lambda v, _pos: _number(v))


def _log(ax, x=True, y=True):
  """Log axes whose ticks stay readable on short ranges (at least three labelled ticks, plain numbers)."""
  for on, axis, setter in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
    if not on:
      continue
    setter("log")
    axis.set_major_locator(_ReadableLogLocator())
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


def _band(ax, fit, key, xs, color, label, *, pad=1.3, n=200, other=None):
  """The fitted law (and its bootstrap band) solid over the data's range of `key` (`xs`: the data), dashed and
  labelled as extrapolation for a factor `pad` beyond each end. `other`: fixed values of the law's other inputs."""
  xs = np.asarray(xs, np.float64)
  lo, hi = xs.min(), xs.max()
  inside = np.exp(np.linspace(np.log(lo), np.log(hi), n))
  X = lambda g: {key: g, **{k: np.full_like(g, v) for k, v in (other or {}).items()}}
  ax.plot(inside, fit.predict(X(inside)), color=color, label=label, zorder=3)
  if fit.theta_samples is not None:
    b_lo, b_hi = fit.predict_interval(X(inside))
    ax.fill_between(inside, b_lo, b_hi, color=color, alpha=0.18, linewidth=0, label=f"{100 * fit.ci:g}% band", zorder=2)
  if pad > 1:
    for i, g in enumerate(
      (np.exp(np.linspace(np.log(lo / pad), np.log(lo), 30)), np.exp(np.linspace(np.log(hi), np.log(hi * pad), 30)))
    ):
      ax.plot(
        g,
        fit.predict(X(g)),
        color=color,
        linestyle=(0, (3, 2)),
        linewidth=1.0,
        zorder=3,
        label="extrapolation" if i == 1 else None,
      )


def _ylim(ax, values, *, log=True, margin=0.08):
  """y limits from what the reader came for (the data, and the fit over the data's range), not from where an
  extrapolated curve or a band wanders: a law shooting to 1e6 past the data must not squash the points."""
  v = np.asarray([x for x in np.ravel(values) if x is not None], np.float64)
  v = v[np.isfinite(v) & ((v > 0) if log else True)]
  if v.size == 0:
    return
  lo, hi = v.min(), v.max()
  if log:
    pad = max(margin * np.log10(hi / lo), 0.02)  # decades
    ax.set_ylim(lo / 10**pad, hi * 10**pad)
  else:
    span = max(hi - lo, 1e-12)
    ax.set_ylim(lo - margin * span, hi + margin * span)


def sweep_axes(t: dict) -> dict[str, list]:
  """The config keys that vary across the rows of a runs table (its sweep's axes), with their distinct values."""
  out = {}
  for k, v in t.items():
    if not k.startswith("config."):
      continue
    vals = [tuple(x) if isinstance(x, list) else x for x in np.asarray(v, dtype=object).tolist()]
    try:
      distinct = sorted(set(vals), key=lambda x: (str(type(x)), x))
    except TypeError:
      continue
    if len(distinct) > 1:
      out[k.removeprefix("config.")] = distinct
  return out


def _one_to_one(a, b) -> bool:
  h = lambda v: [repr(x) for x in np.asarray(v, dtype=object).tolist()]  # lists and dicts too
  pairs = set(zip(h(a), h(b)))
  return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def _equals(column, value) -> np.ndarray:
  """Rows whose value is `value` (a list in the table equals the tuple sweep_axes made of it)."""
  norm = lambda x: tuple(x) if isinstance(x, list) else x
  return np.array([norm(x) == value for x in np.asarray(column, dtype=object).tolist()], bool)


def hidden_axes(t: dict, shown: list[str]) -> dict[str, list]:
  """The sweep's axes a plot of the columns `shown` does not show: those not in one-to-one correspondence with a
  shown column (model_args.width is shown by N; optimizer.lr and seed are not)."""
  return {
    k: vals
    for k, vals in sweep_axes(t).items()
    if not any(c in t and _one_to_one(t[f"config.{k}"], t[c]) for c in shown)
  }


def _is_seed(axis: str) -> bool:
  return axis == "seed" or axis.endswith("_seed")


def _values(vals) -> str:
  return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals)


def collapsed_note(hidden: dict[str, list], drawn: str | None = None) -> str | None:
  """One line naming the sweep axes a figure does not tell apart (e.g. "not told apart: optimizer.lr {0.003, 0.01,
  0.03}; seed (2 values)"); `drawn`: an axis the figure does show (by marker, say)."""
  axes = sorted((k for k in hidden if k != drawn), key=_is_seed)  # seeds last
  parts = [f"{k} ({len(hidden[k])} values)" if _is_seed(k) else f"{k} {{{_values(hidden[k])}}}" for k in axes]
  return ("not told apart: " + "; ".join(parts)) if parts else None


def _note(fig, text: str | None) -> None:
  """A small grey line under the figure (a figure label, so the constrained layout makes room for it)."""
  if text:
    fig.supxlabel(text, fontsize=6.5, color="0.35", x=0.01, ha="left")


_MARKERS = ("o", "s", "^", "D", "v", "P")


def _grid(v, n=200, pad=1.0):
  v = np.asarray(v, np.float64)
  return np.exp(np.linspace(np.log(v.min()) - np.log(pad), np.log(v.max()) + np.log(pad), n))


def running_min(x, y) -> tuple[np.ndarray, np.ndarray]:
  """The compute frontier: at each x, the lowest y reached at that x or less (x sorted, y non-increasing)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  o = np.argsort(x, kind="stable")
  return x[o], np.minimum.accumulate(y[o])


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
  """Every run's training curve over compute (coloured by N), final losses (a marker per value of a sweep axis
  the colour does not show, e.g. the learning rate), the frontier (the running minimum of the curves over compute:
  the best loss reached with at most C) and `fit`: a power law over C (with its band, dashed past the data) or a
  chinchilla fit (its optimal L(C)). Axes shown by neither are named under the figure."""
  fig, (ax,) = _figure(width=5.2, height=3.6)
  sm = _cmap(t[color_by])
  curves, ys = [], []
  if curve_x in t and curve_y in t:
    for cx, cy, c in zip(t[curve_x], t[curve_y], t[color_by]):
      cx, cy = np.asarray(cx if cx is not None else [], float), np.asarray(cy if cy is not None else [], float)
      ok = np.isfinite(cx) & np.isfinite(cy) & (cx > 0) & (cy > 0)
      if ok.sum() >= 2:
        ax.plot(cx[ok], cy[ok], color=sm.to_rgba(c), alpha=0.55, linewidth=0.9)
        curves.append((cx[ok], cy[ok]))
        ys.append(cy[ok])
  hidden = hidden_axes(t, [color_by]) if any(k.startswith("config.") for k in t) else {}
  by = next((k for k, v in hidden.items() if not _is_seed(k) and len(v) <= len(_MARKERS)), None)
  if loss in t:
    name = loss.split(".")[-1]
    groups = [(None, np.ones(len(t[loss]), bool))]
    if by is not None:
      groups = [(v, _equals(t[f"config.{by}"], v)) for v in hidden[by]]
    for i, (v, m) in enumerate(groups):
      ax.scatter(
        t["C"][m],
        t[loss][m],
        c=sm.to_rgba(t[color_by][m]),
        s=16,
        marker=_MARKERS[i],
        edgecolor="k",
        linewidth=0.3,
        zorder=4,
        label=f"final {name}" + (f", {by.split('.')[-1]}={_values([v])}" if by is not None else ""),
      )
    ys.append(np.asarray(t[loss], float))
  if frontier and len(curves) >= 2:
    fx, fy = running_min(np.concatenate([c[0] for c in curves]), np.concatenate([c[1] for c in curves]))
    ax.step(fx, fy, where="post", color="k", linestyle="--", linewidth=1.2, label="frontier (best so far)", zorder=5)
  if fit is not None and fit.inputs == ("C",):
    _band(
      ax,
      fit,
      "C",
      t["C"][np.isfinite(t["C"]) & (t["C"] > 0)],
      "crimson",
      f"fit: {fit.law_obj.formula.replace('x', 'C')}",
      pad=1.5,
    )
  elif fit is not None and set(fit.inputs) == {"N", "D"}:
    Cs = _grid(t["C"], pad=1.0)
    ax.plot(Cs, compute_optimal(fit, Cs).L_opt, color="crimson", label=f"{fit.law} compute-optimal L(C)")
  _log(ax)
  if ys:
    _ylim(ax, np.concatenate(ys))
  ax.set_xlabel(LABELS["C"])
  ax.set_ylabel(loss.split(".")[-1].replace("_", " "))
  fig.colorbar(sm, ax=ax, label=LABELS.get(color_by, color_by), pad=0.01)
  ax.legend(frameon=False, loc="upper right")
  ax.set_title(title or "loss vs compute")
  _note(fig, collapsed_note(hidden, drawn=by))
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
def fitted_law(
  fit, inputs: dict, loss, *, x: str | None = None, title: str | None = None, note: str | None = None, path=None
) -> Figure:
  """The data and the fitted law with its bootstrap band over the data's range, dashed a little past it (marked
  extrapolation); y limits from the data. Two-input laws: loss vs `x` (default the first input), one curve per
  group of the other input over that group's range, colours by that input. `note`: a line under the figure (what
  the fit collapsed, say). An `x` with a single value is an error: there is nothing to draw a law along."""
  x = x or fit.inputs[0]
  loss = np.asarray(loss, float)
  xs = np.asarray(inputs[x], float)
  if np.unique(xs).size < 2:
    raise ValueError(f"{x} does not vary (every point has {x} = {_number(xs[0]) or xs[0]}); no law to draw along it")
  fig, (ax,) = _figure(width=4.8, height=3.5)
  if len(fit.inputs) == 1:
    ax.scatter(xs, loss, s=16, color="tab:blue", edgecolor="k", linewidth=0.3, zorder=4, label="runs")
    _band(ax, fit, x, xs, "crimson", f"fit: {fit.law_obj.formula}")
    _ylim(ax, np.concatenate([loss, fit.predict({x: _grid(xs, 50)})]))
  else:
    other = [k for k in fit.inputs if k != x][0]
    os_ = np.asarray(inputs[other], float)
    sm = _cmap(os_)
    ax.scatter(xs, loss, c=sm.to_rgba(os_), s=14, edgecolor="k", linewidth=0.3, zorder=4)
    lab, reps = _groups(os_)
    for g, rep in enumerate(reps):
      m = lab == g
      if not m.any():
        continue
      grid = _grid(xs[m], 100)
      ax.plot(grid, fit.predict({x: grid, other: np.full_like(grid, rep)}), color=sm.to_rgba(rep), linewidth=1.1)
    fig.colorbar(sm, ax=ax, label=LABELS.get(other, other), pad=0.01)
    _ylim(ax, loss)
  _log(ax)
  ax.set_xlabel(LABELS.get(x, x))
  ax.set_ylabel("loss")
  params = ", ".join(f"{k}={v:.3g}" for k, v in fit.params.items())
  ax.set_title(title or f"{fit.law} fit: {params}", fontsize=8)
  if len(fit.inputs) == 1:
    ax.legend(frameon=False)
  from scalezoo.scaling.caption import add_caption

  add_caption(fig, fit)  # conventions and warnings travel with the figure
  _note(fig, note)
  save(fig, path)
  return fig


@_styled
def loss_vs_input(t: dict, x: str, loss, *, color_by: str | None = None, title: str | None = None, path=None) -> Figure:
  """Final loss vs `x` (N or D) for every run, no fit: one line per setting of the sweep's other axes (its
  colour and legend name the setting; the line goes through the seed mean, the points are the runs), or, with
  too many settings, points coloured by `color_by`. Axes the figure does not show are named under it."""
  xs, L = np.asarray(t[x], float), np.asarray(loss, float)
  ok = np.isfinite(xs) & (xs > 0) & np.isfinite(L) & (L > 0)
  if np.unique(xs[ok]).size < 2:
    raise ValueError(f"{x} does not vary (every run has {x} = {_number(xs[ok][0]) if ok.any() else 'nothing'})")
  fig, (ax,) = _figure(width=4.8, height=3.5)
  hidden = hidden_axes(t, [x]) if any(k.startswith("config.") for k in t) else {}
  keys = [k for k in hidden if not _is_seed(k)]
  setting = [tuple(v) for v in zip(*(np.asarray(t[f"config.{k}"], dtype=object).tolist() for k in keys))] or [()] * len(
    xs
  )
  order = lambda s: tuple((0, v, "") if isinstance(v, int | float) else (1, 0, str(v)) for v in s)
  settings = sorted({s for s, o in zip(setting, ok) if o}, key=order)
  shown = []
  if 1 < len(settings) <= 8 or (len(settings) == 1 and keys == []):
    palette = cm.viridis(np.linspace(0, 0.9, len(settings)))
    for s_, colour in zip(settings, palette):
      m = ok & np.array([s == s_ for s in setting])
      ux = np.unique(xs[m])
      mean = np.array([L[m][xs[m] == u].mean() for u in ux])
      name = ", ".join(f"{k.split('.')[-1]}={_values([v])}" for k, v in zip(keys, s_)) or "runs"
      ax.scatter(xs[m], L[m], color=colour, s=12, edgecolor="k", linewidth=0.3, zorder=4)
      ax.plot(ux, mean, "-", color=colour, linewidth=1.1, label=name if ux.size > 1 else f"{name} (one {x})")
    shown = keys
    ax.legend(frameon=False, fontsize=7)
  else:
    c = np.asarray(t[color_by], float) if color_by in t else None
    if c is not None and np.all(np.isfinite(c[ok]) & (c[ok] > 0)):
      sm = _cmap(c[ok])
      shown = [k for k in keys if _one_to_one(t[f"config.{k}"], c)]
      by = next((k for k in keys if k not in shown and len(hidden[k]) <= len(_MARKERS)), None)
      for i, v in enumerate(hidden[by] if by else [None]):
        m = ok & _equals(t[f"config.{by}"], v) if by else ok
        name = f"{by.split('.')[-1]}={_values([v])}" if by else None
        ax.scatter(xs[m], L[m], c=sm.to_rgba(c[m]), marker=_MARKERS[i], s=14, edgecolor="k", linewidth=0.3, label=name)
      if by:
        shown.append(by)
        ax.legend(frameon=False, fontsize=7)
      fig.colorbar(sm, ax=ax, label=LABELS.get(color_by, color_by), pad=0.01)
    else:
      ax.scatter(xs[ok], L[ok], color="tab:blue", s=14, edgecolor="k", linewidth=0.3, zorder=4)
  _log(ax)
  _ylim(ax, L[ok])
  ax.set_xlabel(LABELS.get(x, x))
  ax.set_ylabel("loss")
  ax.set_title(title or f"final loss vs {LABELS.get(x, x)}", fontsize=8)
  rest = {k: v for k, v in hidden.items() if k not in shown}
  seeds = [k for k in rest if _is_seed(k)]
  note = collapsed_note({k: v for k, v in rest.items() if not _is_seed(k)})
  if seeds:
    what = "lines: the mean over" if shown or not keys else "points: every run,"
    note = "; ".join(filter(None, [note, f"{what} {' x '.join(f'{len(rest[k])} {k}s' for k in seeds)}"]))
  _note(fig, note)
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
