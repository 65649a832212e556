"""The `scalezoo` command: one module per subcommand in this folder, each with `add(sub)` (its arguments) and
`run(args) -> int`; here the parser they make up and the one place errors become exit codes.

Exit codes: 0 ok, 1 a run failed, 2 bad input (one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import os
import signal
import sys

from scalezoo.cli import (
  bench,
  convert,
  coordcheck,
  demo,
  export,
  fit,
  gallery,
  generate,
  models,
  plan,
  plot,
  sweep,
  tokenize,
  train,
)
from scalezoo.cli.common import Parser, UsageError

COMMANDS = {
  m.__name__.rsplit(".", 1)[1]: m
  for m in (
    models,
    train,
    sweep,
    plan,
    fit,
    plot,
    bench,
    tokenize,
    gallery,
    convert,
    generate,
    export,
    demo,
    coordcheck,
  )
}


def parser() -> Parser:
  p = Parser(prog="scalezoo", description="JAX model zoo and scaling-law research kit")
  sub = p.add_subparsers(dest="command", required=True)
  for command in COMMANDS.values():
    command.add(sub)
  return p


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  if args.command == "fit":  # needs neither JAX nor the engine: answers in about a second
    try:
      return fit.run(args)
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
      return COMMANDS[args.command].run(args)
    with faults.Deferred():  # SIGINT/SIGTERM: the run in training saves a checkpoint and stops at a chunk's end
      code = COMMANDS[args.command].run(args)
      if signum := faults.take():
        name = signal.Signals(signum).name
        print(f"scalezoo {args.command}: interrupted ({name}) as it ended: its results are written", file=sys.stderr)
        return 128 + signum
      return code
  except faults.Interrupted as e:
    print(f"scalezoo {args.command}: {e.message()}", file=sys.stderr)
    return e.exit_code
  except faults.ResourceError as e:
    print(f"scalezoo {args.command}: {faults.one_line(e, 500)}", file=sys.stderr)
    return 1
  except (ConfigError, UsageError) as e:
    print(f"scalezoo {args.command}: {faults.one_line(e, 500)}", file=sys.stderr)
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
      print(f"scalezoo {args.command}: {what} ({faults.one_line(e, 500)}); run again once it is back", file=sys.stderr)
      return 1
    raise
