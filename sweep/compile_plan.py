"""`scalezoo plan SPEC --compile TOPOLOGY [--json FILE]`: every run of a sweep compiled for the target (compile.py),
XLA's bytes per device beside plan's estimate, and FLOPs per step beside 6ND.

JSON: {"target", "devices", "device_bytes", "runs": [{"name", "compiled": {...}, "estimate": {...}}]}; `compiled`
holds compile.Compiled's fields (peak_bytes, temp_bytes, argument_bytes, device_bytes, fits, flops, seconds, error,
...), `estimate` plan's row for the same mesh (memory per device, FLOPs of the whole run, fits and hours on the
target's devices).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from scalezoo.sweep import plan as plan_lib
from scalezoo.train import compile as C
from scalezoo.train import target as target_lib


def estimate(cfg, tgt: target_lib.Target, mfu: float) -> dict:
  """plan's row for the run on the target's devices; fits and hours against the target's memory and peak."""
  row = plan_lib.plan_run(cfg, "cpu", len(tgt.devices), mfu)  # the chip only sets fits and hours: redone here
  out = dataclasses.asdict(row)
  out["fits"] = row.memory["total"] <= tgt.device_bytes
  out["hours"] = row.flops_xla / (len(tgt.devices) * tgt.peak_flops * mfu) / 3600
  return out


def run(sweep, name: str, mfu: float = 0.4) -> dict:
  tgt = target_lib.get(name)
  runs = []
  for cfg in sweep.runs:
    est = estimate(cfg, tgt, mfu)
    compiled = C.compile_run(cfg, tgt, flops=est["flops_xla"] / cfg.steps)
    said = "fits" if compiled.fits else "does NOT fit"
    print(f"{len(runs) + 1}/{len(sweep.runs)} {cfg.run_id()}: {said} ({compiled.seconds:.0f} s)", file=sys.stderr)
    runs.append({"name": cfg.run_id(), "compiled": compiled.json(), "estimate": est})
  return {"target": name, "devices": len(tgt.devices), "device_bytes": tgt.device_bytes, "runs": runs}


def _gib(x) -> str:
  return "-" if x is None else f"{x / 2**30:.2f}"


def table(report: dict, sweep) -> str:
  head = ("run", "mesh d,f,t", "mb", "remat", "est GiB", "XLA peak", "temp", "args", "fits", "compile s")
  head += ("FLOPs/step", "6ND/step")
  body = []
  for r, cfg in zip(report["runs"], sweep.runs):
    c, e = r["compiled"], r["estimate"]
    body.append(
      (
        r["name"],
        ",".join(map(str, e["mesh"])),
        str(cfg.microbatches),
        cfg.remat,
        _gib(e["memory"]["total"]),
        _gib(c["peak_bytes"]),
        _gib(c["temp_bytes"]),
        _gib(c["argument_bytes"]),
        "yes" if c["fits"] else "NO",
        f"{c['seconds']:.0f}",
        f"{c['flops']:.3g}" if c["flops"] else "-",
        f"{e['flops_6nd'] / cfg.steps:.3g}",
      )
    )
  widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
  fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
  lines = [
    f"{len(body)} runs compiled for {report['target']}, {report['devices']} devices of "
    f"{report['device_bytes'] / 2**30:.2f} GiB: GiB per device, FLOPs per step on all",
    fmt(head),
    *map(fmt, body),
  ]
  for r in report["runs"]:
    if r["compiled"]["error"]:
      lines.append(f"{r['name']}: {r['compiled']['error'][:300]}")
  misfits = sum(not r["compiled"]["fits"] for r in report["runs"])
  lines.append(f"{misfits} run(s) do not fit" if misfits else "every run fits")
  return "\n".join(lines)


def main(sweep, name: str, json_path: str | None, mfu: float) -> tuple[dict, str]:
  """The report and its table; written to `json_path` when given (after every run compiled: nothing half-written)."""
  report = run(sweep, name, mfu)
  if json_path:
    Path(json_path).write_text(json.dumps(report, indent=1) + "\n")
  return report, table(report, sweep)
