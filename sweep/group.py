"""One group of a sweep trained where an executor put it: into out/checkpoints/<group id>, resumable, and every
failure turned into `failed` records (a sweep goes on past a failed group)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scalezoo.sweep.spec import checkpoint_cadence, group_id
from scalezoo.train import config as C
from scalezoo.train import faults
from scalezoo.train.loop import fit_group
from scalezoo.train.record import RunRecord, now
from scalezoo.train.resume import Branch
from scalezoo.train.writers import open_writers


def run_group(
  cfgs: list[C.RunConfig],
  out: Path,
  every: int | None,
  progress: Callable[[int, int, str], None] | None = None,
  link: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
  """Train one group into out/checkpoints/<group id>; a failure becomes a `failed` record per run, never a raise.

  The checkpoint cadence is a sweep setting, not part of a run's config: the records keep the spec's config
  and run id, so they match `scalezoo train` on the same config. `link` (spec.links): a stable group keeps its
  checkpoints at the branch points; a branch group starts from its stable group's checkpoint.
  """
  faults.quiet_library_tracebacks()  # a worker process's Orbax threads too
  link = link or {}
  branch = None
  if "parent" in link:
    branch = Branch(out / "checkpoints" / link["parent"], tuple(link["parents"]), link["step"])
  n, started = checkpoint_cadence(cfgs[0], every), now()
  writers = []
  try:
    writers = [open_writers(c.log, out, c.run_id(), c.to_dict()) for c in cfgs]  # the spec's ids and configs
    records = fit_group(
      [c.replace(checkpoint_every=n) for c in cfgs],
      checkpoint_dir=out / "checkpoints" / group_id(cfgs),
      progress=progress,
      writers=writers,
      keep_steps=link.get("keep", ()),
      branch=branch,
    ).records
  except (C.ConfigError, faults.ResourceError):
    raise  # bad input or a resource that ran out: not the runs' result; the command ends, the group can rerun
  except Exception as e:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
    if what := faults.resource_problem(e):
      raise faults.ResourceError(
        f"group {group_id(cfgs)}: {what} ({faults.one_line(e)}); nothing recorded for its runs: run again once it "
        "is back"
      ) from None
    error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    records = [RunRecord.failed(c.run_id(), c.to_dict(), error, started) for c in cfgs]
  finally:
    for w in writers:
      w.close()
  for rec, cfg in zip(records, cfgs):
    rec.run_id, rec.config = cfg.run_id(), cfg.to_dict()
  return [r.to_dict() for r in records]


def checkpoint_step(out: Path, group: list[C.RunConfig]) -> int | None:
  """The newest checkpoint's step of a group that was cut off, if any."""
  d = out / "checkpoints" / group_id(group)
  steps = [int(p.name) for p in d.iterdir() if p.name.isdigit()] if d.is_dir() else []
  return max(steps, default=None)


def compile_cache_dir(out: Path) -> Path:
  """out/.cache/jax, or $JAX_COMPILATION_CACHE_DIR to share one cache across sweeps."""
  return Path(os.environ.get("JAX_COMPILATION_CACHE_DIR") or out / ".cache" / "jax").absolute()


def trusted(folder: Path) -> bool:
  """Whether only this user can write `folder` (and each existing folder above it up to the first one owned by
  someone else's sticky /tmp): JAX's cache holds compiled machine code that this process runs."""
  try:
    st = folder.stat()
  except FileNotFoundError:
    return trusted(folder.parent) if folder.parent != folder else False
  except OSError:
    return False
  return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _no_cache() -> None:
  """No persistent cache in this process: JAX took $JAX_COMPILATION_CACHE_DIR as its setting when it started, so a
  refused folder is cleared from JAX's config, not only skipped here."""
  import jax
  from jax.experimental.compilation_cache import compilation_cache

  if jax.config.jax_compilation_cache_dir is not None:
    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()


def use_compile_cache(cache: Path) -> None:
  """JAX's persistent compilation cache: a repeated or resumed sweep, and every worker process, loads compiled
  programs from here instead of compiling them again. A cache folder that others can write is not used (its
  entries are programs this process would run), nor one holding a link or a special file: the sweep compiles
  instead, with a warning."""
  import jax
  from jax.experimental.compilation_cache import compilation_cache

  if not trusted(cache):
    logging.getLogger(__name__).warning(
      "%s: others can write this folder, so its compiled programs are not used; compiling instead", cache
    )
    return _no_cache()
  odd = (
    next((p for p in cache.iterdir() if p.is_symlink() or not (p.is_file() or p.is_dir())), None)
    if cache.is_dir()
    else None
  )
  if odd is not None:  # JAX reads an entry whole: a link to /dev/zero would fill the memory
    logging.getLogger(__name__).warning(
      "%s: holds a link or a special file (%s), so the cache is not used; compiling instead", cache, odd.name
    )
    return _no_cache()

  if jax.config.jax_compilation_cache_dir != str(cache):
    jax.config.update("jax_compilation_cache_dir", str(cache))
    compilation_cache.reset_cache()  # JAX reads the setting once per process; a new folder needs a reset
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
