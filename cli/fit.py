"""`scalezoo fit`: fit a scaling law to a results folder's runs.jsonl."""

from __future__ import annotations

from scalezoo.cli.common import UsageError, results_dir


def add(sub) -> None:
  p = sub.add_parser("fit", help="fit a scaling law to a results folder's runs.jsonl")
  p.add_argument("dir")
  p.add_argument("--law", help="power (default), chinchilla, kaplan, bnsl, bnsl2, ...")
  p.add_argument("--x", help="the input column for one-variable laws (default: params); with --hparam a list, e.g. N,D")
  p.add_argument("--y", default="metrics.test_loss", help="the loss column")
  p.add_argument("--bootstrap", default="200", help="case resamples for the intervals (0 to 10000; default 200)")
  p.add_argument("--method", help="varpro (default for power, chinchilla) or grid; with --hparam: near_optimal, ...")
  p.add_argument(
    "--hparam", help="fit the optimal lr, batch (or any config column) as a power law in --x instead; several, "
    "e.g. lr,batch_size: one law each from the joint grid's optimum",
  )  # fmt: skip
  p.add_argument("--point", help="with --hparam: the columns that make one grid (default --x), e.g. N,D")
  p.add_argument("--tol", default="0.0025", help="with --hparam: the near-optimal loss band (default 0.25%%)")
  p.add_argument(
    "--critical-batch", metavar="LOSS", help="the critical batch size per --x and as a power law in it, from a sweep "
    "with a batch axis: each run's first step with curve.<--curve> below LOSS (Zhang et al. 2025)",
  )  # fmt: skip
  p.add_argument("--curve", default="val_loss", help="with --critical-batch: the logged curve (default val_loss)")
  p.add_argument("--reference", default="256", help="with --critical-batch: B0 of linear scaling (default 256)")
  p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="hold a parameter, e.g. E=1.69")
  p.add_argument("--recommend", metavar="C", help="also the compute-optimal N and D at this budget (e.g. 1e21)")
  p.add_argument("--n", default="params", help="N for every law: params (all, default) or non_embedding (Kaplan's)")
  p.add_argument(
    "--all-runs", action="store_true",
    help="fit every run; by default a grid that tuned a hyperparameter (e.g. lr) is fitted at each (N, D, seed) "
    "point's best run",
  )  # fmt: skip


def run(args) -> int:
  from scalezoo.scaling import fit as fitting
  from scalezoo.scaling import laws, report

  try:
    bootstrap = int(args.bootstrap)
  except ValueError:
    bootstrap = -1
  if not 0 <= bootstrap <= fitting.MAX_BOOTSTRAP:
    raise UsageError(f"--bootstrap {args.bootstrap}: must be an integer from 0 to {fitting.MAX_BOOTSTRAP}")
  if args.n not in report.N_COLUMNS:
    raise UsageError(f"--n {args.n!r}: must be one of {', '.join(report.N_COLUMNS)}")
  if args.critical_batch is not None:
    return _run_critical_batch(args, bootstrap)
  if args.hparam is not None:
    return _run_hparam(args, bootstrap)
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
  results_dir(args.dir)
  import numpy as np

  with np.errstate(all="ignore"):  # bootstrap resamples probe log(0) and inf; the fit reports what it found
    fit, text = report.fit_dir(
      args.dir, args.law, x=args.x, y=args.y, bootstrap=bootstrap, method=args.method, fixed=fixed or None,
      n=args.n, all_runs=args.all_runs,
    )  # fmt: skip
  print(text)
  if budget is not None:
    print(report.recommend_dir(args.dir, fit, budget).summary())
  return 0


def _run_hparam(args, bootstrap: int) -> int:
  from scalezoo.scaling import hparam_law, report

  for flag, value in (("--law", args.law), ("--fix", args.fix), ("--recommend", args.recommend)):
    if value:
      raise UsageError(f"{flag} fits a loss law; --hparam fits the optimal hyperparameter, not both")
  if args.all_runs:
    raise UsageError("--all-runs: --hparam always reads every run (the optimum is found across them)")
  if args.method not in (None, *hparam_law.METHODS):
    raise UsageError(f"--method {args.method!r} with --hparam: must be one of {', '.join(hparam_law.METHODS)}")
  try:
    tol = float(args.tol)
  except ValueError:
    tol = -1.0
  if not 0 <= tol < 1:
    raise UsageError(f"--tol {args.tol}: must be a relative loss band in [0, 1), e.g. 0.0025")
  split = lambda v: None if v is None else [k.strip() for k in v.split(",") if k.strip()]
  results_dir(args.dir)
  _, text = report.hparam_dir(
    args.dir, split(args.hparam), x=split(args.x) or ["N"], point=split(args.point), y=args.y,
    method=args.method or "near_optimal", tol=tol, bootstrap=bootstrap, n=args.n,
  )  # fmt: skip
  print(text)
  return 0


def _run_critical_batch(args, bootstrap: int) -> int:
  from scalezoo.scaling import report

  for flag, value in (("--law", args.law), ("--hparam", args.hparam), ("--fix", args.fix), ("--method", args.method)):
    if value:
      raise UsageError(f"{flag} does not apply to --critical-batch (steps to a loss against batch size)")
  number = lambda flag, v: _positive(flag, v, "e.g. 3.4" if flag == "--critical-batch" else "e.g. 256")
  target, reference = number("--critical-batch", args.critical_batch), number("--reference", args.reference)
  results_dir(args.dir)
  _, text = report.critical_batch_dir(
    args.dir, target, x=args.x or "N", curve=args.curve, n=args.n, reference=reference, bootstrap=bootstrap
  )
  print(text)
  return 0


def _positive(flag: str, value: str, example: str) -> float:
  try:
    v = float(value)
  except ValueError:
    v = -1.0
  if not 0 < v < float("inf"):
    raise UsageError(f"{flag} {value}: must be a positive number, {example}")
  return v
