"""Where a sweep's groups train: `local` (this process), `process` (a pool of worker processes) or `ray`.

Each executor yields (group, records) as groups end; the driver (sweep.driver.run) alone appends to runs.jsonl.
Every executor trains the same groups with the same code (`sweep.group.run_group`), so they give the same numbers.
Workers get their group as JSON and send records back as JSON: configs are data, never code or pickles.
A worker that dies (killed, out of memory) leaves its group without records: running again retries it from its
checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scalezoo.data.atomic import dumps
from scalezoo.sweep.group import checkpoint_step, run_group, use_compile_cache
from scalezoo.sweep.spec import group_id
from scalezoo.train import config as C
from scalezoo.train import faults
from scalezoo.train.progress import Progress

Result = tuple[list[C.RunConfig], list[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Job:
  groups: list[list[C.RunConfig]]
  out: Path  # absolute: checkpoints go to out/checkpoints/<group id> (shared storage on a cluster)
  settings: dict[str, Any]
  cache: Path
  progress: bool
  log: Callable[[str], None] = print
  links: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # spec.links: branches and parents


def get(name: str) -> Callable[[Job], Iterator[Result]]:
  return {"local": local, "process": process, "ray": ray_cluster}[name]


def _bar(group: list[C.RunConfig], out: Path, enabled: bool):
  step = checkpoint_step(out, group)
  resume = f", resuming from its checkpoint at step {step}" if step else ""
  return Progress(group[0].steps, f"  group {group_id(group)} ({len(group)} runs{resume})", enabled=enabled)


def local(job: Job) -> Iterator[Result]:
  """In this process, one group after another (shape-sharing runs under jax.vmap)."""
  use_compile_cache(job.cache)
  for group in job.groups:
    bar = _bar(group, job.out, job.progress)
    update = lambda d, t, m, bar=bar: bar.update(d, m)
    records = run_group(group, job.out, job.settings["checkpoint_every"], update, job.links.get(group_id(group)))
    bar.close()
    yield group, records


def payload(job: Job, group: list[C.RunConfig]) -> str:
  return json.dumps(
    {
      "configs": [c.to_dict() for c in group],
      "out": str(job.out),
      "cache": str(job.cache),
      "every": job.settings["checkpoint_every"],
      "progress": job.progress,
      "link": job.links.get(group_id(group)),
    }
  )


_DRIVER: int | None = None  # in a `process` worker: the driver's pid


def _worker_start(driver: int) -> None:
  """A `process` worker dies with its driver, so a restarted sweep never races an orphan for a group's checkpoints:
  the kernel kills it (Linux), and `work` checks before every chunk (a task can be read after the driver died)."""
  global _DRIVER
  _DRIVER = driver
  os.setpgrp()  # a terminal's Ctrl-C reaches the driver alone, which passes it on once (a second one would not wait)
  if sys.platform == "linux":
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  _exit_if_orphaned()


def _exit_if_orphaned() -> None:
  if _DRIVER is not None and os.getppid() != _DRIVER:
    os._exit(1)


def work(payload: str) -> str:
  """A worker's whole job: one group from JSON in, its records as JSON out."""
  _exit_if_orphaned()
  p = json.loads(payload)
  group = [C.parse(d, "sweep worker") for d in p["configs"]]
  use_compile_cache(Path(p["cache"]))
  bar = _bar(group, Path(p["out"]), p["progress"])

  def progress(done: int, total: int, msg: str) -> None:
    _exit_if_orphaned()
    bar.update(done, msg)

  with faults.Deferred():
    records = run_group(group, Path(p["out"]), p["every"], progress, p.get("link"))
    faults.take()  # a signal in the group's last chunk: its records are made; the driver, signalled too, stops
  bar.close()
  return "[" + ",".join(dumps(r) for r in records) + "]"


def process(job: Job) -> Iterator[Result]:
  """A pool of `sweep.workers` spawned processes, one group each at a time."""
  import concurrent.futures as cf
  import multiprocessing as mp
  from concurrent.futures.process import BrokenProcessPool

  pending, n = list(job.groups), job.settings["workers"]
  while pending:
    # spawn, not fork: fork is unsafe once JAX has threads
    pool = cf.ProcessPoolExecutor(
      n, mp_context=mp.get_context("spawn"), initializer=_worker_start, initargs=(os.getpid(),)
    )
    running: dict[cf.Future, list[C.RunConfig]] = {}
    try:
      while pending or running:
        while pending and len(running) < n:
          group = pending.pop(0)
          running[pool.submit(work, payload(job, group))] = group
        finished, _ = cf.wait(running, timeout=0.25, return_when=cf.FIRST_COMPLETED)
        if signum := faults.take():  # each worker saves at its chunk's end; finished groups are still yielded
          for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(ProcessLookupError):
              os.kill(proc.pid, signum)
          cf.wait(running)
          for f, group in running.items():
            if f.exception() is None:
              yield group, json.loads(f.result())
          raise faults.Interrupted(signum)
        for f in finished:
          group = running.pop(f)
          try:
            yield group, json.loads(f.result())
          except BrokenProcessPool:
            job.log(f"a worker died while training group {group_id(group)}: no record; run again to retry it")
        if any(f.done() and isinstance(f.exception(), BrokenProcessPool) for f in running):
          break  # the pool is broken: start a new one for what is left
    finally:
      for f, group in running.items():
        if f.done() and isinstance(f.exception(), BrokenProcessPool):
          job.log(f"a worker died while training group {group_id(group)}: no record; run again to retry it")
      pool.shutdown(wait=False, cancel_futures=True)


RAY_RETRIES = 3


def ray_work(payload: str) -> str:
  """`work` as a Ray task, first saying in the node's worker log (<temp dir>/session_*/logs/worker-*.out) which
  group it trains and from which step: a retried group on another node shows there where it resumed."""
  p = json.loads(payload)
  group = [C.parse(d, "sweep worker") for d in p["configs"]]
  step = checkpoint_step(Path(p["out"]), group)
  print(
    f"scalezoo: group {group_id(group)} ({len(group)} runs) in pid {os.getpid()}, from step {step or 0}", flush=True
  )
  return work(payload)


def ray_cluster(job: Job) -> Iterator[Result]:
  """Groups as Ray tasks: on the cluster at `sweep.address` (or $RAY_ADDRESS), else on a local one that this
  sweep starts and stops. Workers write checkpoints to `out`, which must be shared storage on a real cluster."""
  import ray

  address = job.settings["address"] or os.environ.get("RAY_ADDRESS", "")
  started = not ray.is_initialized()
  passed = {k: os.environ[k] for k in ("XLA_FLAGS", "JAX_PLATFORMS") if k in os.environ}
  staging = None
  if started and address:  # remote nodes get this package (not site-packages); their Python needs its dependencies
    staging = tempfile.TemporaryDirectory(prefix="scalezoo-ray-")
    env = {"py_modules": [package_copy(Path(staging.name))], "env_vars": passed}
    ray.init(address=address, runtime_env=env, log_to_driver=job.progress)
  elif started:  # a local cluster: its workers run this Python, where scalezoo is installed
    ray.init(
      num_cpus=job.settings["workers"],
      include_dashboard=False,
      log_to_driver=job.progress,
      runtime_env={"env_vars": passed},
    )
  try:
    # A group whose node or worker dies is a system failure: Ray runs the task again on a live node (up to
    # RAY_RETRIES times), where it resumes from the group's last checkpoint on the shared `out`. Exceptions are not
    # retried (run_group turns every failure of the group itself into `failed` records).
    task = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(ray_work)
    refs = {task.remote(payload(job, g)): g for g in job.groups}
    lost: dict[str, int] = {}
    while refs:
      ready, _ = ray.wait(list(refs), num_returns=1)
      group = refs.pop(ready[0])
      try:
        records = json.loads(ray.get(ready[0]))
      except ray.exceptions.RayError as e:
        gid = group_id(group)
        lost[gid] = lost.get(gid, 0) + 1
        if lost[gid] <= RAY_RETRIES:  # a failure Ray itself did not retry (or its retries ran out): once more
          job.log(f"group {gid} was lost on the cluster ({str(e).splitlines()[0][:200]}); submitting it again")
          refs[task.remote(payload(job, group))] = group
          continue
        job.log(
          f"group {group_id(group)} was lost on the cluster ({str(e).splitlines()[0][:200]}): no record; "
          "run again to retry it"
        )
        continue
      yield group, records
  finally:
    if started:
      ray.shutdown()
    if staging is not None:
      staging.cleanup()


def package_copy(into: Path) -> str:
  """The layers a worker runs (zoo, data, scaling, train, sweep, configs) copied from the installed scalezoo package
  to into/scalezoo, for Ray to ship."""
  import shutil

  from scalezoo import configs, data, scaling, sweep, train, zoo

  root = into / "scalezoo"
  for mod in (zoo, data, scaling, train, sweep, configs):
    shutil.copytree(
      Path(mod.__file__).parent,
      root / mod.__name__.split(".")[-1],
      ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
  return str(root)
