"""`scalezoo bench`: benchmark against PyTorch on this machine (needs `make bench`)."""

from __future__ import annotations

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("bench", help="benchmark against PyTorch on this machine (needs `make bench`)")
  p.add_argument("--quick", action="store_true")
  p.add_argument("--json", help="write the results here")
  p.add_argument(
    "--rows",
    help="comma-separated rows (default: all): gpt_tiny_step (also gives peak_memory), "
    "resnet20_step, mlp_sweep32, chinchilla_fit, fit_cli, compile_cache, "
    "loader_throughput (also gives loader_peak_rss), fsdp_memory, models_cli, sweep_expand",
  )


def run(args) -> int:
  from scalezoo.bench import driver as bench

  rows = tuple(r.strip() for r in args.rows.split(",")) if args.rows else bench.ROWS
  if bad := [r for r in rows if r not in bench.ROWS]:
    raise UsageError(f"unknown bench row(s) {', '.join(map(repr, bad))}; rows: {', '.join(bench.ROWS)}")
  return bench.main(quick=args.quick, json_path=args.json, rows=rows)
