"""Compiled executables on disk, so a second process runs the engine's programs without tracing, lowering or
compiling them again.

JAX's persistent cache (`sweep.use_compile_cache`) skips only XLA's compile: every process still traces and lowers
each program to find its cache key. Here a jitted program is compiled ahead of time for the arguments it is called
with, serialized (jax.experimental.serialize_executable) and kept in <JAX's cache folder>/executables/, one file
per key. The key is everything that determines the program: what it is (the engine's compiled shape, chunk
length, group size), the arguments' tree, avals, shardings and devices, the jax/jaxlib/flax/optax versions, the
backend, devices and CPU, XLA_FLAGS, JAX's config, and a hash of the source of zoo/, train/ and scaling/, so any
code edit misses. An entry that is missing, truncated, corrupt or from another key is compiled afresh (and
replaced); one that cannot be written costs only speed. Entries are written to a temporary file and renamed, so
concurrent sweeps on one folder only ever see whole entries. SCALEZOO_EXEC_CACHE=0 turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import pickle
import platform
import re
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

ENV = "SCALEZOO_EXEC_CACHE"
FORMAT = 1
MAGIC = b"scalezoo-exec\n"
SOURCES = ("zoo", "train", "scaling")
# JAX settings that say where and when JAX caches, or how it logs: they do not change a program.
NOT_PROGRAM = {"jax_compilation_cache_dir", "jax_enable_compilation_cache", "jax_compilation_cache_max_size",
               "jax_persistent_cache_min_compile_time_secs", "jax_persistent_cache_min_entry_size_bytes",
               "jax_raise_persistent_cache_errors", "jax_log_compiles", "jax_logging_level", "jax_debug_log_modules",
               "jax_explain_cache_misses", "jax_pprint_use_color", "jax_traceback_filtering"}

# This process's cache traffic: seconds spent finding and loading entries (load_s) and writing them (write_s).
stats = {"loads": 0, "load_s": 0.0, "compiles": 0, "writes": 0, "write_s": 0.0, "bad_entries": 0}


def folder() -> Path | None:
  """Where entries live, or None when the cache is off (by SCALEZOO_EXEC_CACHE=0 or no local JAX cache folder)."""
  if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
    return None
  d = jax.config.jax_compilation_cache_dir
  if not d or "://" in str(d):
    return None
  return Path(d) / "executables"


def _scrub(text: str) -> str:
  """A repr without memory addresses, which differ from process to process."""
  return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


@functools.cache
def _source_hash() -> str:
  h = hashlib.sha256()
  root = Path(__file__).resolve().parents[1]
  for pkg in SOURCES:
    for p in sorted((root / pkg).rglob("*.py")):
      h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
  return h.hexdigest()


@functools.cache
def _machine() -> dict[str, Any]:
  """What this process compiles for and with; fixed for its lifetime."""
  versions = {}
  for pkg in ("jax", "jaxlib", "flax", "optax", "numpy", "ml_dtypes"):
    try:
      versions[pkg] = importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
      versions[pkg] = None
  cpu = ""
  try:
    cpu = "\n".join(sorted({ln.strip() for ln in open("/proc/cpuinfo") if ln.startswith(("model name", "flags"))}))
  except OSError:
    cpu = platform.processor()
  client = jax.devices()[0].client
  return {"python": sys.version, "versions": versions, "jax_version": jax.__version__, "machine": platform.machine(),
          "cpu": hashlib.sha256(cpu.encode()).hexdigest(), "cpus": os.cpu_count(),
          "backend": [jax.default_backend(), client.platform, client.platform_version],
          "devices": [[d.id, d.device_kind, d.process_index] for d in jax.devices()], "processes": jax.process_count(),
          "source": _source_hash()}


def _settings() -> dict[str, Any]:
  """XLA's flags and JAX's config (read at every key: a process may change them)."""
  env = {k: v for k, v in os.environ.items() if k.startswith(("XLA_", "LIBTPU"))}
  config = {k: _scrub(repr(v)) for k, v in sorted(jax.config.values.items()) if k not in NOT_PROGRAM}
  return {"env": env, "config": config}


def engine_key(eng) -> dict[str, Any]:
  """What fixes an engine's programs (see step.Engine): its config as the group key sees it (seed and learning
  rate are arguments, not part of the program), the model and task as built, classes, data and batch size, mesh."""
  mesh = None if eng.mesh is None else [_scrub(repr(eng.mesh)), [d.id for d in eng.mesh.devices.flat]]
  return {"config": eng.cfg.program().to_dict(), "model": [type(eng.model).__module__, _scrub(repr(eng.model))],
          "task": _scrub(repr(eng.task)), "num_classes": eng.num_classes, "n_train": eng.n_train,
          "batch_size": eng.batch_size, "mesh": mesh}


def _leaf(x) -> tuple:
  aval = jax.typeof(x)
  sharding = x.sharding if isinstance(x, jax.Array) else type(x).__name__
  return aval.shape, str(aval.dtype), aval.weak_type, sharding, getattr(x, "committed", None)


def _describe(leaf: tuple) -> list:
  shape, dtype, weak, sharding, committed = leaf
  devices = sorted(d.id for d in sharding.device_set) if isinstance(sharding, jax.sharding.Sharding) else None
  return [list(shape), dtype, weak, _scrub(repr(sharding)), devices, committed]


def _key(what: dict[str, Any], signature: tuple) -> tuple[str, bytes]:
  tree, leaves = signature
  material = {"format": FORMAT, "what": what, "tree": str(tree), "args": [_describe(x) for x in leaves],
              "machine": _machine(), "settings": _settings()}
  blob = json.dumps(material, sort_keys=True, default=repr).encode()
  return hashlib.sha256(blob).hexdigest(), blob


def _signature(args: tuple) -> tuple:
  leaves, tree = jax.tree.flatten(args)
  return tree, tuple(_leaf(x) for x in leaves)


def _read(path: Path, header: bytes) -> bytes | None:
  """The payload of a whole entry written for exactly this key, else None."""
  try:
    data = path.read_bytes()
  except FileNotFoundError:
    return None
  n = len(MAGIC)
  if data[:n] != MAGIC or len(data) < n + 8:
    raise ValueError("not an entry")
  size, = struct.unpack("<Q", data[n:n + 8])
  got, digest, payload = data[n + 8:n + 8 + size], data[n + 8 + size:n + 40 + size], data[n + 40 + size:]
  if got != header:
    raise ValueError("written for another key")
  if len(digest) != 32 or hashlib.sha256(payload).digest() != digest:
    raise ValueError("truncated or corrupt")
  return payload


def _write(path: Path, header: bytes, payload: bytes) -> None:
  """Atomically: a reader sees the whole entry or none. Failing to write only costs the next process speed."""
  t = time.perf_counter()
  tmp = None
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
      tmp = f.name
      os.fchmod(f.fileno(), 0o644)  # as JAX's own entries (a temporary file starts private)
      f.write(MAGIC + struct.pack("<Q", len(header)) + header + hashlib.sha256(payload).digest() + payload)
    os.replace(tmp, path)
    tmp = None
    stats["writes"] += 1
  except OSError as e:
    warnings.warn(f"executable cache: cannot write {path.parent} ({e.strerror or e}); running without it", stacklevel=3)
  finally:
    if tmp is not None:
      Path(tmp).unlink(missing_ok=True)
    stats["write_s"] += time.perf_counter() - t


def _compile_fresh(lowered) -> tuple[Any, bool]:
  """XLA's compile of `lowered` with JAX's persistent cache bypassed, and whether it was (no cache hit seen): an
  executable loaded from that cache serializes without its kernels (jaxlib 0.10 on CPU: the copy then fails with
  "Function ... not found" when run), so only a fresh compile may be stored here."""
  from jax import monitoring
  from jax.experimental.compilation_cache import compilation_cache

  hits = []
  listen = lambda event, **_: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None
  was = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)
  compilation_cache.reset_cache()  # JAX decides once per process whether to use its cache: make it ask again
  monitoring.register_event_listener(listen)
  try:
    return lowered.compile(), not hits
  finally:
    monitoring.unregister_event_listener(listen)
    jax.config.update("jax_enable_compilation_cache", was)
    compilation_cache.reset_cache()


class Cached:
  """A jitted function whose executable, per argument signature, comes from the cache or is compiled and stored."""

  def __init__(self, jitted, what: dict[str, Any]):
    self.jitted, self.what, self.compiled = jitted, what, {}

  def __call__(self, *args):
    sig = _signature(args)
    fn = self.compiled.get(sig)
    if fn is None:
      d = folder()
      if d is None:
        return self.jitted(*args)
      fn = self.compiled[sig] = self._load_or_compile(d, sig, args)
    return fn(*args)

  def _load_or_compile(self, d: Path, sig: tuple, args: tuple):
    from jax.experimental import serialize_executable as se

    t = time.perf_counter()
    name, header = _key(self.what, sig)
    path = d / f"{name}.exec"
    try:
      payload = _read(path, header)
      if payload is not None:
        blob, in_tree, out_tree, device_ids = pickle.loads(payload)
        by_id = {dev.id: dev for dev in jax.devices()}
        fn = se.deserialize_and_load(blob, in_tree, out_tree, execution_devices=[by_id[i] for i in device_ids])
        stats["loads"] += 1
        return fn
    except Exception:  # noqa: BLE001 - a bad entry is compiled afresh and replaced
      stats["bad_entries"] += 1
    finally:
      stats["load_s"] += time.perf_counter() - t
    fn, fresh = _compile_fresh(self.jitted.lower(*args))
    stats["compiles"] += 1
    if not fresh:
      return fn
    try:
      blob, in_tree, out_tree = se.serialize(fn)
      device_ids = [dev.id for dev in fn._executable._unloaded_executable.device_list]  # where it runs, in order
      payload = pickle.dumps((blob, in_tree, out_tree, device_ids), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - a program that cannot be serialized still runs, uncached
      return fn
    _write(path, header, payload)
    return fn


def cached(jitted, eng, name: str, **extra) -> Cached:
  """`jitted` (a jax.jit of one of `eng`'s programs) with its executables cached; `name` and `extra` say which."""
  return Cached(jitted, {"name": name, "engine": engine_key(eng), **extra})


def value(eng, name: str, args: tuple, compute: Callable[[], float]) -> float:
  """A number derived from one of `eng`'s programs (e.g. XLA's FLOP count), cached under the same key."""
  d = folder()
  if d is None:
    return compute()
  t = time.perf_counter()
  key, header = _key({"name": name, "engine": engine_key(eng)}, _signature(args))
  path = d / f"{key}.value"
  try:
    payload = _read(path, header)
    if payload is not None:
      stats["loads"] += 1
      return float(json.loads(payload))
  except Exception:  # noqa: BLE001 - recomputed and replaced
    stats["bad_entries"] += 1
  finally:
    stats["load_s"] += time.perf_counter() - t
  got = compute()
  _write(path, header, json.dumps(got).encode())
  return got

