"""What the bench reads off the process and the machine: CPU seconds, resident memory, load, CPU model."""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_s() -> float:
  """CPU seconds of this process, all threads: less disturbed than wall time by other processes on the cores."""
  t = os.times()
  return t.user + t.system


def vm_mb() -> dict[str, float]:
  """This process's peak (VmHWM) and current (VmRSS) resident memory, MB: the peak after each setup stage."""
  try:
    with open("/proc/self/status") as f:
      vm = dict(line.split(":", 1) for line in f if line.startswith(("VmHWM", "VmRSS")))
  except OSError:  # not Linux
    return {}
  return {k: int(v.split()[0]) / 1024 for k, v in vm.items()}


def peak_rss_mb() -> float:
  import resource

  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> float:
  return os.getloadavg()[0]


def _cpuinfo() -> dict[str, str]:
  """The first processor's fields of /proc/cpuinfo ("model name", "flags", ...)."""
  try:
    with open("/proc/cpuinfo") as f:
      first = f.read().split("\n\n")[0]
  except OSError:
    return {}
  return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in first.splitlines())}


def machine() -> dict[str, Any]:
  """CPU model (as /proc/cpuinfo and lscpu name it), its vector extensions, cores, memory and versions."""
  info = _cpuinfo()
  flags = set(info.get("flags", "").split())
  try:
    with open("/proc/meminfo") as f:
      mem_gib = int(next(ln.split()[1] for ln in f if ln.startswith("MemTotal"))) / 2**20
  except (OSError, StopIteration):
    mem_gib = None
  import importlib.metadata as md

  versions = {}
  for pkg in ("jax", "jaxlib", "flax", "optax", "torch", "numpy", "scipy"):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  return {
    "cpu": info.get("model name") or platform.processor() or platform.machine(),
    "cpu_flags": sorted(flags & {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16"}),
    "cores": os.cpu_count(),
    "memory_gib": mem_gib,
    "python": platform.python_version(),
    "versions": versions,
    "xla_flags": os.environ.get("XLA_FLAGS", ""),
    "loadavg_start": os.getloadavg(),
  }
