"""The zoo gallery: every model family trained briefly on a task that suits it, with a table and figures.

Supervised runs go through the engine (`loop.fit` on configs/gallery/<name>.toml, each a plain RunConfig that
`scalezoo train` also accepts); the GAN, VAE, DDPM and BERT's masked LM go through `recipes.fit`
(configs/gallery/<name>.toml with `kind = "gan" | "vae" | "ddpm" | "mlm"`). Which entries there are, their order,
figure groups and notes live in configs/gallery/entries.toml. Each finished run is appended to
<out>/runs.jsonl and the table, figures and README are rewritten, so a run that is cut off keeps what it did and
a rerun skips the entries already recorded with the same config.

  scalezoo gallery --out results/zoo_gallery [--quick] [--only name ...]
"""

from __future__ import annotations

import io
import json
import math
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo import data as data_lib
from scalezoo import zoo
from scalezoo.data import atomic
from scalezoo.sweep import store
from scalezoo.train import config as config_lib
from scalezoo.train import eval as E
from scalezoo.train import loop
from scalezoo.train import step as S
from scalezoo.train.recipes import generative as G
from scalezoo.train.recipes import mlm
from scalezoo.train.record import RunRecord

CONFIGS = resources.files("scalezoo.configs") / "gallery"


def entries() -> dict[str, dict[str, str]]:
  """name -> {"group": figure group, "note": what the run shows}, in table order (configs/gallery/entries.toml)."""
  return tomllib.loads((CONFIGS / "entries.toml").read_text())


GENERATIVE_KEYS = {
  "kind",
  "model",
  "data",
  "data_args",
  "model_args",
  "recipe",
  "steps",
  "batch_size",
  "seed",
  "data_seed",
  "eval_every",
  "eval_examples",
  "n_samples",
}
QUICK_STEPS = 4


def load_entry(name: str, quick: bool = False) -> dict[str, Any]:
  """The entry's config: {"kind": "engine", "cfg": RunConfig} or the generative table (validated keys)."""
  path = CONFIGS / f"{name}.toml"
  raw = tomllib.loads(path.read_text())
  if "kind" not in raw:
    if quick:
      raw = {**raw, "steps": QUICK_STEPS, "eval_every": QUICK_STEPS // 2, "eval_examples": 64}
    return {"kind": "engine", "cfg": config_lib.parse(raw, str(path)), "raw": raw}
  unknown = sorted(set(raw) - GENERATIVE_KEYS)
  if unknown or raw["kind"] not in (*G.RECIPES, "mlm"):
    raise config_lib.ConfigError(
      f"{path}: unknown key {unknown[0]!r}"
      if unknown
      else f"{path}: kind must be one of {', '.join([*G.RECIPES, 'mlm'])}"
    )
  if quick:
    raw = {
      **raw,
      "steps": QUICK_STEPS,
      "eval_every": QUICK_STEPS // 2,
      "eval_examples": 64,
      "n_samples": 16,
      "recipe": {**raw.get("recipe", {}), **({"sample_steps": 4} if raw["kind"] == "ddpm" else {})},
    }
  return {**raw, "raw": raw}


# -- engine runs
def _task_metric(task: str) -> tuple[str, str]:
  """(headline metric, its label) for an engine task: accuracy, or bits per byte for language models."""
  return ("test_bits_per_byte", "test bits/byte") if task == "lm" else ("test_accuracy", "test accuracy")


def answer_accuracy(eng: S.Engine, params, model_state, test: dict[str, np.ndarray]) -> float:
  """Token accuracy on the scored positions only (mask == 1). The engine's seq_labeling accuracy counts every
  position with y >= 0, the unscored blanks before the answer included, so it cannot reach 1 on copy tasks."""
  batch = {k: jnp.asarray(v) for k, v in test.items()}
  out, _, _ = S.apply_model(eng, params, model_state, batch, train=False)
  m = test["mask"] > 0
  return float((np.asarray(jnp.argmax(out, -1)) == test["y"])[m].mean())


def before_metrics(cfg: config_lib.RunConfig) -> dict[str, float]:
  """The test metrics of the run's initial parameters: the same init, split and evaluation subset as loop.fit."""
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  state = S.init_state(eng, jax.random.fold_in(jax.random.key(cfg.seed), 0), arrays, cfg.optimizer.lr)
  test = E.eval_subset(split.test, cfg.eval_examples)
  res = E.evaluate_split(eng, 1, state.params, state.model_state, E.eval_sets(cfg, split)["test"])
  out = {"test_loss": float(res["loss"] / max(res["weight"], 1))}
  out.update({f"test_{k}": v for k, v in eng.task.finish(E.task_stats(res)).items() if isinstance(v, float)})
  if split.task == "lm":
    out["test_bits_per_byte"] = out["test_loss"] / math.log(2)
  if split.task == "seq_labeling" and "mask" in test:
    out["test_answer_accuracy"] = answer_accuracy(eng, state.params, state.model_state, test)
  return out


def run_engine(name: str, entry: dict) -> RunRecord:
  cfg = entry["cfg"]
  before = before_metrics(cfg)
  rec, state, eng = loop.fit(cfg)
  rec = rec[0]  # the one run's record
  key, label = _task_metric(rec.data_info["task"])
  if "test_answer_accuracy" in before:
    key, label = "test_answer_accuracy", "test answer accuracy"
    split = loop.load_split(cfg)
    rec.metrics[key] = answer_accuracy(
      eng, state.params, state.model_state, E.eval_subset(split.test, cfg.eval_examples)
    )
  rec.gallery = {
    "name": name,
    "config": entry["raw"],
    "task": rec.data_info["task"],
    "metric": label,
    "before": before.get(key),
    "after": rec.metrics.get(key),
    "loss": "test loss (nats)",
    "loss_before": before["test_loss"],
    "loss_after": rec.metrics.get("test_loss"),
    "metrics_before": before,
    "step_time_timed": rec.step_time,
  }
  return rec


# -- generative and masked-LM runs
GEN_METRICS = {  # kind -> (metric key, label, loss key, loss label)
  "vae": ("sample_mmd", "sample MMD^2 to test", "neg_elbo", "test -ELBO (nats/image)"),
  "gan": ("sample_mmd", "sample MMD^2 to test", "d_loss", "test D loss (nats)"),
  "ddpm": ("sample_mmd", "sample MMD^2 to test", "noise_mse", "test noise MSE"),
  "mlm": ("masked_accuracy", "test masked-byte accuracy", "masked_loss", "test masked loss (nats)"),
}


def run_generative(name: str, e: dict) -> tuple[RunRecord, dict[str, np.ndarray]]:
  kind = e["kind"]
  split = data_lib.load(e["data"], seed=e.get("data_seed", 0), **e.get("data_args", {}))
  x_train, x_test = split.train["x"], split.test["x"]
  k = e.get("eval_examples", 0)
  x_eval = x_test[np.sort(np.random.default_rng(0).permutation(len(x_test))[:k])] if 0 < k < len(x_test) else x_test
  recipe_args = dict(e.get("recipe", {}))
  if kind == "mlm":
    recipe = mlm.mlm(e.get("model_args", {}), steps=e["steps"], **recipe_args)
  else:
    recipe = G.RECIPES[kind](e.get("model_args", {}), **recipe_args)
  _, rec = G.fit(
    recipe,
    x_train,
    x_eval,
    steps=e["steps"],
    batch_size=e.get("batch_size", 64),
    seed=e.get("seed", 0),
    chunk=e.get("eval_every", 0),
    n_samples=e.get("n_samples", 64),
    mmd_real=None if kind == "mlm" else x_test,
  )
  samples = {k: rec[k] for k in ("samples_before", "samples_after")}
  mkey, label, lkey, llabel = GEN_METRICS[kind]
  before, after = rec["metrics_before"], rec["metrics_after"]
  out = RunRecord(
    run_id=_hash(e["raw"]),
    status="finished",
    config=e["raw"],
    metrics=after,
    params=rec["params"],
    data_info={k: v for k, v in split.info.items() if isinstance(v, str | int | float | bool | list | tuple)},
    steps_run=rec["steps_run"],
    wall_time=rec["wall_time"],
    step_time=rec["step_time"],
    compile_time=rec["compile_time"],
    curve=rec["curve"],
    started_at=rec["started_at"],
    ended_at=rec["ended_at"],
    gallery={
      "name": name,
      "config": e["raw"],
      "task": f"generative:{kind}" if kind != "mlm" else "mlm",
      "metric": label,
      "before": before.get(mkey),
      "after": after.get(mkey),
      "loss": llabel,
      "loss_before": before.get(lkey),
      "loss_after": after.get(lkey),
      "metrics_before": before,
      "step_time_timed": rec["step_time"],
    },
  )
  return out, {k: v for k, v in samples.items() if v is not None}


def _hash(raw: dict) -> str:
  import hashlib

  return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:12]


# -- table, figures, README
def row(rec: dict[str, Any]) -> dict[str, Any]:
  g = rec["gallery"]
  c = g["config"]
  model = c.get("model", "")
  if c.get("kind") == "gan":
    model = "dcgan_generator + dcgan_discriminator"  # params: the two networks together
  st = g["step_time_timed"]
  return {
    "name": g["name"],
    "group": entries()[g["name"]]["group"],
    "family": _family(c.get("model", ""), c.get("kind")),
    "model": model,
    "overrides": c.get("model_args", {}),
    "data": c.get("data"),
    "data_args": c.get("data_args", {}),
    "task": g["task"],
    "params": rec["params"],
    "steps": rec["steps_run"],
    "batch_size": c.get("batch_size"),
    "step_time_ms": None if st is None else round(1000 * st, 2),
    "metric": g["metric"],
    "before": g["before"],
    "after": g["after"],
    "loss": g["loss"],
    "loss_before": g["loss_before"],
    "loss_after": g["loss_after"],
    "wall_time_s": round(rec["wall_time"], 1),
  }


def _family(model: str, kind: str | None) -> str:
  try:
    return zoo.spec(model).family
  except ValueError:
    return {"gan": "gan", "vae": "autoencoder", "ddpm": "diffusion", "mlm": "transformer"}.get(kind or "", "?")


def _fmt(v, digits=3) -> str:
  if v is None or (isinstance(v, float) and not math.isfinite(v)):
    return "–"
  if isinstance(v, int):
    return f"{v:,}"
  return f"{v:.{digits}g}" if abs(v) < 1e-2 else f"{v:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
  lines = [
    "| family | model | task (data) | params | steps × batch | step time | metric: before → after | "
    "loss: before → after |",
    "|---|---|---|---:|---:|---:|---|---|",
  ]
  for r in rows:
    data = r["data"] + ("" if not r["data_args"] else " " + ",".join(f"{k}={v}" for k, v in r["data_args"].items()))
    st = "–" if r["step_time_ms"] is None else f"{r['step_time_ms']:.1f} ms"
    lines.append(
      f"| {r['family']} | {r['model']} | {r['task']} ({data}) | {r['params']:,} | {r['steps']} × "
      f"{r['batch_size']} | {st} | {r['metric']}: {_fmt(r['before'])} → {_fmt(r['after'])} | "
      f"{r['loss']}: {_fmt(r['loss_before'])} → {_fmt(r['loss_after'])} |"
    )
  return "\n".join(lines)


def _curves(ax, rec: dict) -> None:
  c = rec["curve"]
  if "val_loss" in c:  # an engine record
    ax.plot(c["step"], c["train_loss"], label="train loss")
    ax.plot(c["step"], c["val_loss"], label="val loss")
  else:
    for k, v in c.items():
      if k != "step" and not (k == "train_loss" and "train_g_loss" in c):  # a GAN's loss is its G loss
        ax.plot(c["step"], v, label=k.replace("_", " "))
  g = rec["gallery"]
  ax.set_title(f"{g['name']}\n{g['metric']}: {_fmt(g['before'])} → {_fmt(g['after'])}", fontsize=8)
  ax.set_xlabel("step", fontsize=8)
  ax.tick_params(labelsize=7)
  ax.legend(fontsize=6)


def figures(out: Path, recs: list[dict], samples: dict[str, dict]) -> list[str]:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  written = []
  groups: dict[str, list] = {}
  for r in recs:
    groups.setdefault(entries()[r["gallery"]["name"]]["group"], []).append(r)
  for group, rs in groups.items():
    fig, axes = plt.subplots(1, len(rs), figsize=(3.2 * len(rs), 2.9), squeeze=False)
    for ax, r in zip(axes[0], rs):
      _curves(ax, r)
    fig.tight_layout()
    fig.savefig(out / f"curves_{group}.png", dpi=110)
    plt.close(fig)
    written.append(f"curves_{group}.png")
  gen = [n for n in entries() if n in samples]
  if gen:
    fig, axes = plt.subplots(len(gen), 2, figsize=(6, 3.1 * len(gen)), squeeze=False)
    by_name = {r["gallery"]["name"]: r for r in recs}
    for row_axes, n in zip(axes, gen):
      g = by_name[n]["gallery"]
      for ax, when in zip(row_axes, ("before", "after")):
        ax.imshow(_grid(samples[n][f"samples_{when}"]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{n}, {when} training\nMMD^2 {_fmt(g[when])}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "samples_generative.png", dpi=110)
    plt.close(fig)
    written.append("samples_generative.png")
  return written


def _grid(x_NxHxWx1: np.ndarray, cols: int = 8) -> np.ndarray:
  n, h, w = x_NxHxWx1.shape[:3]
  rows = math.ceil(n / cols)
  g = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1), np.float32)
  for i in range(n):
    r, c = divmod(i, cols)
    g[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = x_NxHxWx1[i, ..., 0]
  return g


def readme(rows: list[dict], figs: list[str], seconds: float, command: str, pending: list[str]) -> str:
  notes = "\n".join(f"- **{r['name']}**: {entries()[r['name']]['note']}" for r in rows)
  todo = f"\n\nNot run yet: {', '.join(pending)}." if pending else ""
  return f"""# Zoo gallery

Every model family of the zoo trained briefly on a task that suits it: a few hundred steps each, to show the
model learns there (this is a gallery, not a benchmark). Overrides that shrink a reference configuration are in
configs/gallery/<name>.toml and stated below; parameters are the trained model's.

{markdown_table(rows)}

Metric and loss are on each data set's test split (before: the initial parameters, same init as the run; after:
the final ones). Step time is the mean wall time of one optimizer step in the chunks that did not compile, on a
2-core CPU machine shared with other jobs (this gallery ran at nice 10): read it as an upper bound.
Engine runs: `loop.fit` records in runs.jsonl. Generative runs (and BERT's masked LM): `recipes.fit`.
The MMD^2 (Gaussian kernel, median-distance bandwidth on the test images) compares 64 samples with the test
images' pixels: lower is closer, about 0 is indistinguishable to this kernel; `test D loss` is the
discriminator's loss on test images and fresh samples.

## What each run shows

{notes}

## Caveats

- Copy tasks: the engine's `seq_labeling` accuracy (`metrics.test_accuracy` in runs.jsonl) counts every position,
  the unscored blanks before the answer included, so it stays near 0.5 on a solved task; the table's answer
  accuracy scores the answer positions only (the positions the loss is on).
- Karate's test split has 6 nodes and the block-model graph's 18: their accuracies move in steps of 1/6 and 1/18;
  the test loss says more.
- The GAN's discriminator loss is no progress measure (it stays near 2 log 2 when the two networks keep pace); the
  samples and their MMD^2 are.
- runs.jsonl is append-only: an entry run again with a changed config keeps its older records above the newer
  (copy tasks first at 500 steps, block-model graphs at 300, EfficientNet at 120, ResNet-20 at width 8); the
  table and figures use the last record of each entry.

## Figures

{chr(10).join(f"- `{f}`" for f in figs)}

`curves_<group>.png`: training curves (engine runs: train and val loss per evaluation; the rest: their own
training and test metrics). `samples_generative.png`: 64 samples of each generative model before and after
training, at the data's 8x8 resolution.

## Reproduce

```
{command}
```

took {seconds / 60:.1f} minutes of wall time (the sum of the recorded runs' wall times, compile included), on the
shared machine described above.{todo}
"""


def main(out: str | Path, quick: bool = False, only: list[str] | None = None) -> int:
  out = Path(out)
  known = entries()
  names = list(only or known)
  unknown = [n for n in names if n not in known]
  if unknown:
    raise config_lib.ConfigError(f"unknown gallery entries: {', '.join(unknown)}; known: {', '.join(known)}")
  loaded = {n: load_entry(n, quick) for n in names}  # every config checked before anything is written
  (out / "samples").mkdir(parents=True, exist_ok=True)
  done = {r["gallery"]["name"]: r for r in store.read(out) if "gallery" in r}
  failed = []
  for n in names:
    e = loaded[n]
    if n in done and done[n]["gallery"]["config"] == e["raw"]:
      print(f"{n}: recorded, skipped", flush=True)
      continue
    t0 = time.perf_counter()
    print(f"{n}: training", flush=True)
    try:
      if e["kind"] == "engine":
        rec = run_engine(n, e)
      else:
        rec, samples = run_generative(n, e)
        if samples:
          buf = io.BytesIO()
          np.savez_compressed(buf, **samples)
          atomic.write_atomic(out / "samples" / f"{n}.npz", buf.getvalue())
    except Exception as err:  # one family failing does not stop the gallery
      print(f"{n}: FAILED {type(err).__name__}: {err}", flush=True)
      failed.append(n)
      continue
    rec = rec.to_dict()
    store.append(out / "runs.jsonl", rec)
    done[n] = rec
    g = rec["gallery"]
    print(
      f"{n}: {g['metric']} {_fmt(g['before'])} -> {_fmt(g['after'])} in {time.perf_counter() - t0:.0f}s", flush=True
    )
    write_summary(out, done, quick)
  write_summary(out, done, quick)
  return 1 if failed else 0


def write_summary(out: Path, done: dict, quick: bool) -> None:
  """Table, figures and README over every entry recorded in `out` (not only this call's)."""
  names = list(entries())
  recs = [done[n] for n in names if n in done]
  rows = [row(r) for r in recs]
  samples = {}
  for n in names:
    p = out / "samples" / f"{n}.npz"
    if p.exists() and n in done:
      with np.load(p) as z:
        samples[n] = dict(z)
  figs = figures(out, recs, samples) if recs else []
  seconds = sum(r["wall_time"] for r in recs)
  cmd = f"nohup nice -n 10 .venv/bin/scalezoo gallery --out {out}" + (" --quick" if quick else "")
  pending = [n for n in names if n not in done]
  atomic.write_json(
    out / "summary.json",
    {"rows": rows, "seconds": round(seconds, 1), "command": cmd, "quick": quick, "pending": pending, "figures": figs},
  )
  atomic.write_atomic(out / "README.md", readme(rows, figs, seconds, cmd, pending))
