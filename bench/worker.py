"""Bench worker processes: each side in a process of its own (its own thread pool, its own peak RSS), driven over
JSON lines. `serve` is the worker's loop (`python -m scalezoo.bench --worker jax|torch`); `Worker` is the
driver's handle on one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from typing import Any

from scalezoo.bench import probes


def serve(kind: str) -> None:
  """One JSON command per stdin line -> one JSON reply line. Library chatter goes to stderr."""
  out = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)
  if kind == "jax":
    from scalezoo.bench.jax_side import JaxSide as Side
  elif kind == "loader":
    from scalezoo.bench.loader import LoaderSide as Side
  else:
    from scalezoo.bench.torch_side import TorchSide as Side
  side = Side()
  for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd.pop("op")
    try:
      reply = {"ok": True, **(getattr(side, op)(**cmd) or {})}
    except Exception:  # noqa: BLE001 - reported to the driver, which stops the row
      reply = {"ok": False, "error": traceback.format_exc()[-2000:]}
    reply["peak_rss_mb"] = probes.peak_rss_mb()
    out.write(json.dumps(reply) + "\n")


class Worker:
  def __init__(self, kind: str, env: dict[str, str] | None = None):
    self.kind = kind
    quiet = not os.environ.get("SCALEZOO_BENCH_DEBUG")
    self.p = subprocess.Popen(
      [sys.executable, "-m", "scalezoo.bench", "--worker", kind],
      stdin=subprocess.PIPE,
      stdout=subprocess.PIPE,
      stderr=subprocess.DEVNULL if quiet else None,
      env={**os.environ, **(env or {})},
      text=True,
    )
    self.peak_rss_mb = 0.0

  def __call__(self, op: str, **kw) -> dict[str, Any]:
    self.p.stdin.write(json.dumps({"op": op, **kw}) + "\n")
    self.p.stdin.flush()
    line = self.p.stdout.readline()
    if not line:
      raise RuntimeError(f"bench worker {self.kind} died during {op!r} (exit {self.p.wait()})")
    reply = json.loads(line)
    self.peak_rss_mb = reply["peak_rss_mb"]
    if not reply["ok"]:
      raise RuntimeError(f"bench worker {self.kind}, {op!r}:\n{reply['error']}")
    return reply

  def close(self) -> None:
    if self.p.poll() is None:
      self.p.stdin.close()
      self.p.wait()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


class Workers:
  """Several workers, all closed on exit."""

  def __init__(self, ws: list[Worker]):
    self.ws = ws

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    for w in self.ws:
      w.close()
