"""The `scalezoo` command: models, train, sweep, fit, plot, bench, demo.

Exit codes: 0 ok, 1 a run failed, 2 bad input (one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class UsageError(Exception):
  pass


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="scalezoo", description="JAX model zoo and scaling-law research kit")
  sub = p.add_subparsers(dest="command", required=True)

  m = sub.add_parser("models", help="list every model with its family, parameter count and input shape")
  m.add_argument("--family", help="only this family")

  t = sub.add_parser("train", help="train one run from a TOML config")
  t.add_argument("config")
  t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
  t.add_argument("--out", required=True, help="run folder: record.json, curve.csv, checkpoints/")
  t.add_argument("--export", help="also write the trained model's inference function here (jax.export)")
  t.add_argument("--quiet", action="store_true")

  s = sub.add_parser("sweep", help="run a grid of runs from a sweep spec")
  s.add_argument("spec")
  s.add_argument("--out", required=True, help="results folder: runs.jsonl, spec.toml, checkpoints/")
  s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  s.add_argument("--dry-run", action="store_true", help="print one run id per line and run nothing")
  s.add_argument("--executor", choices=["local", "process", "ray"], help="override sweep.executor")
  s.add_argument("--quiet", action="store_true")

  f = sub.add_parser("fit", help="fit a scaling law to a results folder's runs.jsonl")
  f.add_argument("dir")
  f.add_argument("--law", default="power", choices=["power", "chinchilla", "kaplan", "bnsl"])
  f.add_argument("--x", help="the input column for one-variable laws (default: params)")
  f.add_argument("--y", default="metrics.test_loss", help="the loss column")
  f.add_argument("--bootstrap", type=int, default=200)

  pl = sub.add_parser("plot", help="draw a results folder's figures")
  pl.add_argument("dir")

  b = sub.add_parser("bench", help="benchmark against PyTorch on this machine (needs `make bench`)")
  b.add_argument("--quick", action="store_true")
  b.add_argument("--json", help="write the results here")
  b.add_argument(
    "--rows",
    help="comma-separated rows (default: all): gpt_tiny_step (also gives peak_memory), "
    "resnet20_step, mlp_sweep32, chinchilla_fit, compile_cache",
  )

  g = sub.add_parser("gallery", help="train every zoo family on a task that suits it (results/zoo_gallery)")
  g.add_argument("--out", default="results/zoo_gallery")
  g.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run")
  g.add_argument("--only", action="append", help="only this entry (repeatable)")

  c = sub.add_parser("convert", help="reference weights (torchvision, Hugging Face) <-> zoo variables")
  c.add_argument("model")
  c.add_argument("src", help="a .safetensors/.pt/.pth/.bin state dict, or a finished run's folder")
  c.add_argument("dst", help="a state dict the reference loads (.safetensors, .pt, .pth) or zoo variables (.msgpack)")
  c.add_argument("--source", help="torchvision or huggingface (default: the model's one source)")
  c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model option (model_args)")

  x = sub.add_parser("export", help="a model's inference function as one file: ONNX (jax2onnx) or jax.export")
  x.add_argument("model")
  x.add_argument("src", help="a finished run's folder, or a reference weights file (as scalezoo convert reads it)")
  x.add_argument("out")
  x.add_argument("--format", choices=["onnx", "jax"], default="onnx")
  x.add_argument("--source", help="for a weights file: torchvision or huggingface")
  x.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model option (model_args)")

  d = sub.add_parser("demo", help="the main job: an MLP scaling sweep on MNIST-1D, fitted and plotted")
  d.add_argument("--out", default="results/demo")
  d.add_argument("--fresh", action="store_true", help="train every run again (drop OUT's runs.jsonl and checkpoints)")
  d.add_argument("--spec", help="another sweep spec to run, fit and plot the demo's way (default: the packaged demo)")
  d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  d.add_argument("--quiet", action="store_true")
  return p


def cmd_models(args) -> int:
  from scalezoo import zoo

  rows = []
  for name in zoo.names():
    s = zoo.spec(name)
    if args.family and s.family != args.family:
      continue
    shapes = " ".join("x".join(map(str, x.shape[1:])) for x in zoo.example_input(name, 1))
    rows.append((name, s.family, f"{zoo.count_params(name):,}", shapes, s.task))
  if not rows:
    raise UsageError(f"no models in family {args.family!r}")
  widths = [max(len(r[i]) for r in rows + [("name", "family", "params", "input", "task")]) for i in range(5)]
  head = ("name", "family", "params", "input", "task")
  for r in [head] + rows:
    print("  ".join(c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
  return 0


def cmd_train(args) -> int:
  from scalezoo.train import config, loop
  from scalezoo.train.progress import Progress

  cfg = config.load(args.config, args.set)  # validate fully before anything is written
  split = loop.load_split_checked(cfg)
  bar = Progress(cfg.steps, f"train {cfg.model}", enabled=not args.quiet)
  rec, state, eng = loop.fit(cfg, out=args.out, split=split, progress=lambda d, t, m: bar.update(d, m))
  rec = rec[0]
  bar.update(cfg.steps if rec.status == "finished" else rec.steps_run, rec.status, force=True)
  bar.close()
  if args.export and rec.status == "finished":
    from scalezoo.train import export

    export.save(args.export, export.export_apply(eng, state, split.test))
  summary = ", ".join(f"{k} {v:.4f}" for k, v in rec.metrics.items() if isinstance(v, float))
  print(f"{rec.status}: {rec.run_id} {summary}")
  return 0 if rec.status in ("finished", "diverged") else 1


def cmd_sweep(args) -> int:
  from scalezoo.train import sweep

  spec = sweep.load(args.spec, args.set)  # the whole grid is validated before anything is written
  if args.executor:
    spec.settings["executor"] = args.executor
    sweep.check_settings(spec.settings, args.spec)
  if args.dry_run:
    for r in spec.runs:
      print(r.run_id())
    return 0
  counts = sweep.run(spec, args.out, progress=not args.quiet)
  print("runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
  if counts.get("missing"):
    print("some runs have no record (a worker died); run the same command again to retry them", file=sys.stderr)
  return 1 if counts.get("failed") or counts.get("missing") else 0


def cmd_fit(args) -> int:
  _results_dir(args.dir)
  from scalezoo.scaling import report

  _, text = report.fit_dir(args.dir, args.law, x=args.x, y=args.y, bootstrap=args.bootstrap)
  print(text)
  return 0


def cmd_plot(args) -> int:
  _results_dir(args.dir)
  from scalezoo.scaling import report

  for path in report.plot_dir(args.dir):
    print(path)
  return 0


def _results_dir(d: str) -> None:
  if not (Path(d) / "runs.jsonl").is_file():
    raise UsageError(f"{d}: no runs.jsonl here; pass a folder written by `scalezoo sweep`")


def cmd_bench(args) -> int:
  from scalezoo.train.bench import driver as bench

  rows = tuple(r.strip() for r in args.rows.split(",")) if args.rows else bench.ROWS
  if bad := [r for r in rows if r not in bench.ROWS]:
    raise UsageError(f"unknown bench row(s) {', '.join(map(repr, bad))}; rows: {', '.join(bench.ROWS)}")
  return bench.main(quick=args.quick, json_path=args.json, rows=rows)


def cmd_gallery(args) -> int:
  from scalezoo.train.studies import gallery

  return gallery.main(args.out, quick=args.quick, only=args.only)


def cmd_convert(args) -> int:
  from scalezoo.train import config
  from scalezoo.train import convert as C

  model_args: dict = {}
  for a in args.set:
    config.set_key(model_args, a)
  try:
    print(C.convert(args.model, args.src, args.dst, source=args.source, model_args=model_args))
  except ValueError as e:  # a wrong model, source, file or shape: bad input
    raise UsageError(str(e)) from None
  except ImportError as e:  # a .pt/.pth/.bin file needs torch
    raise UsageError(f"{e.name} is not installed: pip install -e '.[reference]' (or use .safetensors files)") from None
  return 0


def cmd_export(args) -> int:
  from scalezoo import zoo
  from scalezoo.train import config, files
  from scalezoo.train import convert as C

  model_args: dict = {}
  for a in args.set:
    config.set_key(model_args, a)
  try:
    model_args = {**zoo.weights.reference_overrides(args.model), **model_args}
    variables = C.read_variables(args.model, args.src, args.source, model_args)
    model, example = zoo.create(args.model, **model_args), zoo.example_input(args.model, 1, **model_args)
  except ValueError as e:
    raise UsageError(str(e)) from None
  except ImportError as e:  # a .pt/.pth/.bin file needs torch
    raise UsageError(f"{e.name} is not installed: pip install -e '.[reference]' (or use .safetensors files)") from None
  if args.format == "onnx":
    from scalezoo.train import onnx_export

    try:
      blob = onnx_export.export_model(model, variables, example, args.model)
    except ImportError as e:
      raise UsageError(f"{e.name} is not installed: the ONNX export needs `make test-ci`'s reference extra") from None
  else:
    from scalezoo.train import export

    blob = export.export_model(model, variables, example)
  files.write_atomic(args.out, blob)
  print(f"{args.model}: wrote {args.out} ({args.format}, {len(blob):,} bytes)")
  return 0


def cmd_demo(args) -> int:
  from scalezoo.train.studies import demo

  return demo.main(Path(args.out), progress=not args.quiet, fresh=args.fresh, spec=args.spec, overrides=args.set)


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  if os.environ.get("SCALEZOO_DISTRIBUTED") == "1":  # many hosts: one process per host, devices=0 spans them all
    import jax

    jax.distributed.initialize()  # coordinator from JAX_COORDINATOR_ADDRESS / SLURM / TPU metadata
  from scalezoo.train.config import ConfigError

  try:
    return globals()[f"cmd_{args.command}"](args)
  except (ConfigError, UsageError) as e:
    print(f"scalezoo {args.command}: {e}", file=sys.stderr)
    return 2
  except ValueError as e:  # the scaling package's word on bad data (NaN, too few points, ...)
    if args.command not in ("fit", "plot"):
      raise
    print(f"scalezoo {args.command}: {args.dir}: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("interrupted; run the same command again to resume", file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
