"""The `scalezoo` command: models, train, sweep, fit, plot, bench, demo.

Exit codes: 0 ok, 1 a run failed, 2 bad input (one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


class UsageError(Exception):
  pass


class _Parser(argparse.ArgumentParser):
  """argparse's errors as the kit's: one line naming what was wrong (and where to look), exit 2."""

  def error(self, message: str):
    self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
  p = _Parser(prog="scalezoo", description="JAX model zoo and scaling-law research kit")
  sub = p.add_subparsers(dest="command", required=True)

  m = sub.add_parser("models", help="list every model with its family, parameter count and input shape")
  m.add_argument("name", nargs="?", help="one model: its options with their defaults, input shape rule and reference")
  m.add_argument("--family", help="only this family")

  t = sub.add_parser("train", help="train one run from a TOML config")
  t.add_argument("config")
  t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
  t.add_argument("--out", required=True, help="run folder: record.json, curve.csv, checkpoints/")
  t.add_argument("--export", help="also write the trained model's inference function here (jax.export)")
  t.add_argument("--quiet", action="store_true")
  t.add_argument("--coordinator", help="many hosts: HOST:PORT of process 0 (or JAX_COORDINATOR_ADDRESS)")
  t.add_argument("--num-processes", type=int, help="many hosts: how many processes (or JAX_NUM_PROCESSES)")
  t.add_argument("--process-id", type=int, help="many hosts: this process's index (or JAX_PROCESS_ID)")

  s = sub.add_parser("sweep", help="run a grid of runs from a sweep spec")
  s.add_argument("spec")
  s.add_argument("--out", required=True, help="results folder: runs.jsonl, spec.toml, checkpoints/")
  s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  s.add_argument("--dry-run", action="store_true", help="print one run id per line and run nothing")
  s.add_argument("--executor", choices=["local", "process", "ray"], help="override sweep.executor")
  s.add_argument("--quiet", action="store_true")

  pn = sub.add_parser("plan", help="a sweep's cost before launch: params, tokens, FLOPs, memory per device, hours")
  pn.add_argument("spec")
  pn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  pn.add_argument("--chip", default="h100", help="h100 (default), a100, v5e, v4, cpu")
  pn.add_argument("--chips", default="1", help="how many chips the mesh spans (default 1)")
  pn.add_argument("--mfu", default="0.4", help="MFU for the hours, in (0, 1] (default 0.4), or a run folder")
  pn.add_argument("--compile", metavar="TOPOLOGY", help="compile every run for v5e:4x4, h100:8, ... (XLA's bytes)")
  pn.add_argument("--json", metavar="FILE", help="with --compile: the report as JSON")

  f = sub.add_parser("fit", help="fit a scaling law to a results folder's runs.jsonl")
  f.add_argument("dir")
  f.add_argument("--law", help="power (default), chinchilla, kaplan, bnsl, bnsl2, ...")
  f.add_argument("--x", help="the input column for one-variable laws (default: params); with --hparam a list, e.g. N,D")
  f.add_argument("--y", default="metrics.test_loss", help="the loss column")
  f.add_argument("--bootstrap", default="200", help="case resamples for the intervals (0 to 10000; default 200)")
  f.add_argument("--method", help="varpro (default for power, chinchilla) or grid; with --hparam: near_optimal, ...")
  f.add_argument("--hparam", help="fit the optimal lr, batch (or any config column) as a power law in --x instead")
  f.add_argument("--point", help="with --hparam: the columns that make one grid (default --x), e.g. N,D")
  f.add_argument("--tol", default="0.0025", help="with --hparam: the near-optimal loss band (default 0.25%%)")
  f.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="hold a parameter, e.g. E=1.69")
  f.add_argument("--recommend", metavar="C", help="also the compute-optimal N and D at this budget (e.g. 1e21)")

  pl = sub.add_parser("plot", help="draw a results folder's figures")
  pl.add_argument("dir")

  b = sub.add_parser("bench", help="benchmark against PyTorch on this machine (needs `make bench`)")
  b.add_argument("--quick", action="store_true")
  b.add_argument("--json", help="write the results here")
  b.add_argument(
    "--rows",
    help="comma-separated rows (default: all): gpt_tiny_step (also gives peak_memory), "
    "resnet20_step, mlp_sweep32, chinchilla_fit, fit_cli, compile_cache, "
    "loader_throughput (also gives loader_peak_rss), fsdp_memory, models_cli, sweep_expand",
  )

  tk = sub.add_parser("tokenize", help="turn a text file or folder into a token corpus (the `tokens` data set)")
  tk.add_argument("src", help="a text file (documents: blank-line-separated blocks) or a folder (documents: files)")
  tk.add_argument("--out", required=True, help="corpus folder: index.json, shard_*.bin, documents.bin, tokenizer")
  tk.add_argument("--tokenizer", choices=["bytes", "bpe"], default="bytes")
  tk.add_argument("--vocab", type=int, help="BPE vocabulary size, EOS included (default 8192)")

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

  cc = sub.add_parser("coordcheck", help="μP's coordinate check: mean |activation| per layer against width")
  cc.add_argument("config")
  cc.add_argument("--widths", default="64,128,256,512", help="comma-separated widths (default 64,128,256,512)")
  cc.add_argument("--steps", default="5", help="training steps recorded (default 5)")
  cc.add_argument("--seeds", default="1", help="inits averaged over (default 1)")
  cc.add_argument("--both", action="store_true", help="measure SP and μP side by side (needs [mup] base)")
  cc.add_argument("--out", required=True, help="folder: coordcheck.csv, coordcheck.json, coordcheck.png")
  cc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
  return p


def cmd_models(args) -> int:
  if args.name:
    from scalezoo import zoo
    from scalezoo.zoo import catalog

    if args.name not in zoo.names():
      raise UsageError(f"unknown model {args.name!r}; known models: {', '.join(zoo.names())}")
    print(catalog.describe(args.name))
    return 0
  table = _catalog()
  rows = []
  for name, row in table.items():
    if args.family and row["family"] != args.family:
      continue
    rows.append((name, row["family"], f"{row['params']:,}", " ".join(row["inputs"]), row["task"]))
  if not rows:
    families = sorted({r["family"] for r in table.values()})
    raise UsageError(f"no models in family {args.family!r}; families: {', '.join(families)}")
  widths = [max(len(r[i]) for r in rows + [("name", "family", "params", "input", "task")]) for i in range(5)]
  head = ("name", "family", "params", "input", "task")
  for r in [head] + rows:
    print("  ".join(c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
  print("(reference configs; `scalezoo models NAME` lists a model's options, e.g. its image or context size)")
  return 0


def _catalog() -> dict:
  """zoo/catalog.json, read without importing the zoo (JAX and Flax alone take 1-2 s to import): the reference
  configs' counts and shapes, which tests/test_zoo_counts.py checks against the registry and eval_shape."""
  import importlib.util
  import json

  where = importlib.util.find_spec("scalezoo.zoo").submodule_search_locations[0]
  return json.loads((Path(where) / "catalog.json").read_text())


def cmd_train(args) -> int:
  import jax

  from scalezoo.train import config, loop
  from scalezoo.train.progress import Progress

  cfg = config.load(args.config, args.set)  # validate fully before anything is written
  split = loop.load_split_checked(cfg)
  loop.check_model_fits(cfg, split.info)
  bar = Progress(cfg.steps, f"train {cfg.model}", enabled=not args.quiet and jax.process_index() == 0)
  rec, state, eng = loop.fit(cfg, out=args.out, split=split, progress=lambda d, t, m: bar.update(d, m))
  rec = rec[0]
  bar.update(cfg.steps if rec.status == "finished" else rec.steps_run, rec.status, force=True)
  bar.close()
  if args.export and rec.status == "finished":
    from scalezoo.train import export

    export.save(args.export, export.export_apply(eng, state, split.test))
  summary = ", ".join(f"{k} {v:.4f}" for k, v in rec.metrics.items() if isinstance(v, float))
  if jax.process_index() == 0:
    print(f"{rec.status}: {rec.run_id} {summary}")
  return 0 if rec.status in ("finished", "diverged") else 1


def cmd_sweep(args) -> int:
  from scalezoo.train import sweep

  spec = sweep.load(args.spec, args.set)  # the whole grid is validated before anything is written
  if args.executor:
    spec.settings["executor"] = args.executor
    sweep.check_settings(spec.settings, args.spec)
  if args.dry_run:  # one run id per line; with branches, what each run is (one write: 10^6 lines)
    stable = {pid for pid, _ in spec.parents.values()}
    lines = []
    for r in spec.runs:
      if r.run_id() in spec.parents:
        pid, step = spec.parents[r.run_id()]
        lines.append(f"{r.run_id()} branch of {pid} at step {step}, cooling down to {r.steps}\n")
      else:
        lines.append(r.run_id() + (f" stable to step {r.steps}" if r.run_id() in stable else "") + "\n")
    sys.stdout.write("".join(lines))
    return 0
  counts = sweep.run(spec, args.out, progress=not args.quiet)
  print("runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
  if counts.get("missing"):
    print("some runs have no record (a worker died); run the same command again to retry them", file=sys.stderr)
  return 1 if counts.get("failed") or counts.get("missing") else 0


def cmd_plan(args) -> int:
  from scalezoo.train import mfu as mfu_lib
  from scalezoo.train import plan, sweep

  try:
    chips, mfu = int(args.chips), None if Path(args.mfu).is_dir() else float(args.mfu)
  except ValueError:
    raise UsageError(f"--chips {args.chips!r} must be an integer and --mfu {args.mfu!r} a number") from None
  mfu = mfu_lib.measured(args.mfu) if mfu is None else mfu  # a run folder: the MFU it measured
  plan.check_args(args.chip, chips, mfu)  # before the spec is read: bad flags answer at once
  if args.compile:  # XLA's word for a target (train/compile_plan.py)
    from scalezoo.train import compile_plan, target

    target.parse(args.compile)
    print(compile_plan.main(sweep.load(args.spec, args.set), args.compile, args.json, mfu)[1])
    return 0
  if args.json:
    raise UsageError("--json goes with --compile TOPOLOGY")
  _, text = plan.plan(sweep.load(args.spec, args.set), args.chip, chips, mfu)
  print(text)
  return 0


def cmd_fit_hparam(args, bootstrap: int) -> int:
  from scalezoo.scaling import hparam_law, report

  for flag, value in (("--law", args.law), ("--fix", args.fix), ("--recommend", args.recommend)):
    if value:
      raise UsageError(f"{flag} fits a loss law; --hparam fits the optimal hyperparameter, not both")
  if args.method not in (None, *hparam_law.METHODS):
    raise UsageError(f"--method {args.method!r} with --hparam: must be one of {', '.join(hparam_law.METHODS)}")
  try:
    tol = float(args.tol)
  except ValueError:
    tol = -1.0
  if not 0 <= tol < 1:
    raise UsageError(f"--tol {args.tol}: must be a relative loss band in [0, 1), e.g. 0.0025")
  split = lambda v: None if v is None else [k.strip() for k in v.split(",") if k.strip()]
  _results_dir(args.dir)
  _, text = report.hparam_dir(
    args.dir, args.hparam, x=split(args.x) or ["N"], point=split(args.point), y=args.y,
    method=args.method or "near_optimal", tol=tol, bootstrap=bootstrap,
  )  # fmt: skip
  print(text)
  return 0


def cmd_fit(args) -> int:
  from scalezoo.scaling import fit as fitting
  from scalezoo.scaling import laws, report

  try:
    bootstrap = int(args.bootstrap)
  except ValueError:
    bootstrap = -1
  if not 0 <= bootstrap <= fitting.MAX_BOOTSTRAP:
    raise UsageError(f"--bootstrap {args.bootstrap}: must be an integer from 0 to {fitting.MAX_BOOTSTRAP}")
  if args.hparam is not None:
    return cmd_fit_hparam(args, bootstrap)
  args.law = args.law or "power"
  try:
    laws.get(args.law)
  except ValueError:
    raise UsageError(
      f"--law {args.law!r} is not a law; laws: {', '.join(laws.names())} (bnsl2, bnsl3, ...: more breaks)"
    ) from None
  if args.method not in (None, *fitting.METHODS):
    raise UsageError(f"--method {args.method!r}: must be one of {', '.join(fitting.METHODS)}")
  fixed = {}
  for item in args.fix:
    name, _, value = item.partition("=")
    try:
      fixed[name.strip()] = float(value)
    except ValueError:
      raise UsageError(f"--fix {item!r}: expected NAME=NUMBER, e.g. E=1.69") from None
  budget = None
  if args.recommend is not None:
    try:
      budget = float(args.recommend)
    except ValueError:
      budget = -1.0
    if not budget > 0 or budget == float("inf"):
      raise UsageError(f"--recommend {args.recommend}: must be a compute budget in FLOPs > 0, e.g. 1e21")
  _results_dir(args.dir)
  import numpy as np

  with np.errstate(all="ignore"):  # bootstrap resamples probe log(0) and inf; the fit reports what it found
    fit, text = report.fit_dir(
      args.dir, args.law, x=args.x, y=args.y, bootstrap=bootstrap, method=args.method, fixed=fixed or None
    )
  print(text)
  if budget is not None:
    print(report.recommend_dir(args.dir, fit, budget).summary())
  return 0


def cmd_plot(args) -> int:
  _results_dir(args.dir)
  import numpy as np

  from scalezoo.scaling import report

  notes = []
  with np.errstate(all="ignore"):  # a fixed E = 0 or a bootstrap's inf bounds: drawn as they are
    paths = report.plot_dir(args.dir, notes=notes)
  for path in paths:
    print(path)
  for note in notes:
    print(note)
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


def cmd_tokenize(args) -> int:
  from scalezoo.train.data.tokenize import tokenize

  try:
    i = tokenize(args.src, args.out, tokenizer=args.tokenizer, vocab=args.vocab)
  except ValueError as e:
    raise UsageError(str(e)) from None
  print(
    f"{args.out}: {i['documents']['count']} documents, {i['tokens']:,} tokens, vocabulary {i['vocab_size']} "
    f"({i['dtype']}), {len(i['shards'])} shard(s)"
  )
  return 0


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


def cmd_coordcheck(args) -> int:
  from scalezoo.train import config, coordcheck

  try:
    widths = [int(w) for w in args.widths.split(",")]
    steps, seeds = int(args.steps), int(args.seeds)
  except ValueError:
    raise UsageError(f"--widths must be comma-separated ints, --steps and --seeds ints; got {args.widths!r}") from None
  cfg = config.load(args.config, args.set)
  pars = ["sp", "mup"] if args.both else [cfg.parametrization]
  cfgs = [config.parse({**cfg.to_dict(), "parametrization": p}, args.config) for p in pars]
  rows = [r for c in cfgs for r in coordcheck.measure(c, widths, steps, seeds)]
  for p, by_layer in coordcheck.write(rows, args.out).items():
    worst = max(by_layer, key=by_layer.get)
    print(f"{p}: largest max/min over widths at step {steps - 1}: {by_layer[worst]:.2f} ({worst})")
  print(f"wrote {args.out}/coordcheck.csv, coordcheck.json, coordcheck.png")
  return 0


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  if args.command == "fit":  # needs neither JAX nor the engine: answers in about a second
    try:
      return cmd_fit(args)
    except (UsageError, ValueError) as e:
      print(f"scalezoo fit: {e}" if isinstance(e, UsageError) else f"scalezoo fit: {args.dir}: {e}", file=sys.stderr)
      return 2
  import threading

  from scalezoo.train import faults

  faults.quiet_library_tracebacks()
  if threading.current_thread() is not threading.main_thread():
    return _run(args)
  old_term = signal.signal(signal.SIGTERM, faults.raise_interrupted)  # a scheduler's stop: like Ctrl-C
  try:
    return _run(args)
  finally:
    signal.signal(signal.SIGTERM, old_term)


def _run(args) -> int:
  from scalezoo.train import faults
  from scalezoo.train.config import ConfigError

  try:
    if args.command == "train":  # many hosts: one process per host joins the others first (train/distributed.py)
      from scalezoo.train import distributed

      distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    if args.command not in ("train", "sweep"):
      return globals()[f"cmd_{args.command}"](args)
    with faults.Deferred():  # SIGINT/SIGTERM: the run in training saves a checkpoint and stops at a chunk's end
      code = globals()[f"cmd_{args.command}"](args)
      if signum := faults.take():
        name = signal.Signals(signum).name
        print(f"scalezoo {args.command}: interrupted ({name}) as it ended: its results are written", file=sys.stderr)
        return 128 + signum
      return code
  except faults.Interrupted as e:
    print(f"scalezoo {args.command}: {e.message()}", file=sys.stderr)
    return e.exit_code
  except faults.ResourceError as e:
    print(f"scalezoo {args.command}: {_line(e)}", file=sys.stderr)
    return 1
  except (ConfigError, UsageError) as e:
    print(f"scalezoo {args.command}: {_line(e)}", file=sys.stderr)
    return 2
  except ValueError as e:  # the scaling package's word on bad data (NaN, too few points, ...)
    if args.command not in ("fit", "plot"):
      raise
    print(f"scalezoo {args.command}: {args.dir}: {e}", file=sys.stderr)
    return 2
  except BrokenPipeError:  # `scalezoo sweep ... --dry-run | head`: the reader has what it wanted
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
  except KeyboardInterrupt:
    print(f"scalezoo {args.command}: interrupted; ended runs are kept, run the same command again", file=sys.stderr)
    return 130
  except Exception as e:  # a resource that ran out deep inside a library (Orbax, XLA): one line, not a result
    if what := faults.resource_problem(e):
      print(f"scalezoo {args.command}: {what} ({_line(e)}); run again once it is back", file=sys.stderr)
      return 1
    raise


def _line(e: BaseException, limit: int = 500) -> str:
  """An error as one line of at most `limit` characters."""
  text = " ".join(str(e).split())
  return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
  sys.exit(main())
