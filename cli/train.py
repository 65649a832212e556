"""`scalezoo train`: train one run from a TOML config."""

from __future__ import annotations


def add(sub) -> None:
  p = sub.add_parser("train", help="train one run from a TOML config")
  p.add_argument("config")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
  p.add_argument("--out", required=True, help="run folder: record.json, curve.csv, checkpoints/")
  p.add_argument("--export", help="also write the trained model's inference function here (jax.export)")
  p.add_argument("--quiet", action="store_true")
  p.add_argument(
    "--fresh",
    action="store_true",
    help="train from step 0 even if OUT holds this run ended: its checkpoints there are removed first",
  )
  p.add_argument("--coordinator", help="many hosts: HOST:PORT of process 0 (or JAX_COORDINATOR_ADDRESS)")
  p.add_argument("--num-processes", type=int, help="many hosts: how many processes (or JAX_NUM_PROCESSES)")
  p.add_argument("--process-id", type=int, help="many hosts: this process's index (or JAX_PROCESS_ID)")


def run(args) -> int:
  from pathlib import Path

  import jax

  from scalezoo.cli.common import UsageError
  from scalezoo.train import config, loop, memory
  from scalezoo.train.progress import Progress

  cfg = config.load(args.config, args.set)  # validate fully before anything is written
  if not args.fresh and (done := loop.ended_record(Path(args.out), cfg)) is not None:
    if args.export:
      raise UsageError(f"--export: {args.out} holds run {cfg.run_id()}, ended; --fresh trains it again to export")
    if jax.process_index() == 0:
      print(f"{args.out}: run {cfg.run_id()} already {done['status']} here (record.json); not trained again (--fresh)")
      print(f"{done['status']}: {cfg.run_id()} {_summary(done['metrics'])}")
    return 0
  split = loop.load_split_checked(cfg)
  memory.check_model_fits(cfg, split.info)
  bar = Progress(cfg.steps, f"train {cfg.model}", enabled=not args.quiet and jax.process_index() == 0)
  rec, state, eng = loop.fit(
    cfg, out=args.out, split=split, progress=lambda d, t, m: bar.update(d, m), fresh=args.fresh
  )
  rec = rec[0]
  bar.update(cfg.steps if rec.status == "finished" else rec.steps_run, rec.status, force=True)
  bar.close()
  if args.export and rec.status == "finished":
    from scalezoo.train import export

    export.save(args.export, export.export_apply(eng, state, split.test))
  if jax.process_index() == 0:
    print(f"{rec.status}: {rec.run_id} {_summary(rec.metrics)}")
    for w in rec.warnings:
      print(f"warning: {w}")
  return 0 if rec.status in ("finished", "diverged") else 1


def _summary(metrics: dict) -> str:
  return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
