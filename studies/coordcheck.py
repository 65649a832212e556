"""The coordinate check (Yang et al. 2022, Fig. 5; microsoft/mup's coord_check): a run config trained for a few
steps at several widths, with the mean |activation| of every layer's output recorded at each step. Under μP the
curves are flat in width; under the standard parametrization the ones the updates feed (logits, attention and MLP
outputs) grow with width after the first steps.

Each step records the forward pass on the batch it then trains on (flax `capture_intermediates`: every module's
output), so step 0 is the init.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo.train import loop
from scalezoo.train import step as S
from scalezoo.train.config import ConfigError, RunConfig
from scalezoo.zoo import mup as zoo_mup
from scalezoo.zoo import registry


def _layers(eng: S.Engine, params, model_state, inputs) -> dict[str, jax.Array]:
  _, state = eng.model.apply(
    {"params": params, **model_state}, *inputs, train=False, capture_intermediates=True, mutable=["intermediates"]
  )
  flat, _ = jax.tree_util.tree_flatten_with_path(state["intermediates"])
  out = {}
  for keys, leaf in flat:
    names = [str(getattr(k, "key", getattr(k, "idx", k))) for k in keys]
    names = [n for n in names if n not in ("__call__", "0")]  # `__call__`/(0,) wrap each captured output
    out["/".join(names) or "output"] = jnp.mean(jnp.abs(leaf.astype(jnp.float32)))
  return out


def widths_of(cfg: RunConfig, widths: list[int]) -> list[RunConfig]:
  if cfg.model not in zoo_mup.MODELS:
    raise ConfigError(f"coordcheck varies the width of {', '.join(zoo_mup.MODELS)}, not {cfg.model!r}")
  family = zoo_mup.MODELS[cfg.model]
  args = registry.resolve(cfg.model, **cfg.model_args)
  out = []
  for w in widths:
    scaled = {k: args[k] * int(w) // args[family.width] for k in family.scaled}  # ViT's mlp_dim grows with d_model
    if any(v * args[family.width] != args[k] * int(w) for k, v in scaled.items()):
      raise ConfigError(f"coordcheck scales {', '.join(scaled)} with the width: width {w} gives no whole value")
    out.append(cfg.replace(model_args={**cfg.model_args, **scaled, family.width: int(w)}))
  return out


def measure(cfg: RunConfig, widths: list[int], steps: int, seeds: int = 1) -> list[dict]:
  """Rows {parametrization, width, step, layer, mean_abs} (mean_abs averaged over `seeds` inits)."""
  if steps < 1 or seeds < 1 or not widths or any(w < 1 for w in widths):
    raise ConfigError(f"coordcheck needs steps >= 1, seeds >= 1 and positive widths, got {steps}, {seeds}, {widths}")
  split = loop.load_split_checked(cfg)
  if split.info.get("stream"):
    raise ConfigError(f"coordcheck needs an in-memory data set, not the token stream of {cfg.data!r}")
  arrays = {k: np.asarray(v) for k, v in split.train.items()}
  b = min(cfg.batch_size, len(arrays["y"]) // steps)
  rows = []
  for wcfg in widths_of(cfg, widths):
    eng = loop.make_engine(wcfg, split)
    record = jax.jit(lambda p, ms, *xs, eng=eng: _layers(eng, p, ms, xs))
    train = jax.jit(lambda st, batch, key, eng=eng: S.train_step(eng, st, batch, eng.cfg.optimizer.lr, key)[0])
    sums: dict[tuple[int, str], float] = {}
    for seed in range(seeds):
      key = jax.random.key(wcfg.seed + seed)
      state = S.init_state(eng, key, arrays, wcfg.optimizer.lr)
      for t in range(steps):
        batch = {k: jnp.asarray(v[t * b : (t + 1) * b]) for k, v in arrays.items()}
        for layer, v in record(state.params, state.model_state, *eng.inputs(batch)).items():
          sums[t, layer] = sums.get((t, layer), 0.0) + float(v) / seeds
        state = train(state, batch, jax.random.fold_in(key, t))
    width = wcfg.model_args[zoo_mup.MODELS[cfg.model].width]
    for (t, layer), v in sums.items():
      rows.append(dict(parametrization=cfg.parametrization, width=width, step=t, layer=layer, mean_abs=v))
  return rows


def spreads(rows: list[dict], step: int | None = None) -> dict[str, float]:
  """Per layer, max / min over widths of mean |activation| at `step` (the last by default)."""
  step = max(r["step"] for r in rows) if step is None else step
  by: dict[str, list[float]] = {}
  for r in rows:
    if r["step"] == step:
      by.setdefault(r["layer"], []).append(r["mean_abs"])
  return {layer: max(v) / max(min(v), 1e-30) for layer, v in by.items()}


def write(rows: list[dict], out: str | Path) -> dict:
  """coordcheck.csv, coordcheck.json (rows and each parametrization's per-layer spreads) and coordcheck.png."""
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  with open(out / "coordcheck.csv", "w", newline="") as f:
    w = csv.DictWriter(f, ["parametrization", "width", "step", "layer", "mean_abs"])
    w.writeheader()
    w.writerows(rows)
  pars = sorted({r["parametrization"] for r in rows}, key=["sp", "mup"].index)
  summary = {p: spreads([r for r in rows if r["parametrization"] == p]) for p in pars}
  (out / "coordcheck.json").write_text(json.dumps({"spread_last_step": summary, "rows": rows}, indent=1))
  figure(rows, out / "coordcheck.png")
  return summary


def figure(rows: list[dict], path: Path):
  import matplotlib
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  from scalezoo.scaling.plots import RC

  pars = sorted({r["parametrization"] for r in rows}, key=["sp", "mup"].index)
  steps = sorted({r["step"] for r in rows})
  layers = sorted({r["layer"] for r in rows})
  with matplotlib.rc_context(RC):
    fig = Figure(figsize=(2.4 * len(steps), 2.3 * len(pars)), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(pars), len(steps), squeeze=False, sharey="row")
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.95, len(layers)))
    for i, p in enumerate(pars):
      for j, t in enumerate(steps):
        ax = axes[i, j]
        for layer, c in zip(layers, colors):
          mine = (r for r in rows if (r["parametrization"], r["step"], r["layer"]) == (p, t, layer))
          pts = sorted((r["width"], r["mean_abs"]) for r in mine)
          if pts:
            ax.plot(*zip(*pts), marker=".", color=c, lw=1, label=layer)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{'μP' if p == 'mup' else 'SP'}, step {t}")
        ax.set_xlabel("width")
      axes[i, 0].set_ylabel("mean |activation|")
    if len(layers) <= 24:
      fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right center", fontsize=6)
    fig.savefig(path)
  return fig
