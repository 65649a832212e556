"""The executable cache: a warm process gives the same numbers bit for bit without compiling; concurrent writers,
bad entries and unwritable folders cost speed only; the key tells apart whatever changes a program."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train import config, exec_cache, loop
from train import step as S

ROOT = Path(__file__).resolve().parents[1]
SPEC = {"name": "exec_cache", "base": {"model": "mlp", "data": "digits", "data_args": {"flat": True, "n_train": 256},
                                       "model_args": {"depth": 1}, "steps": 30, "batch_size": 32, "eval_every": 10,
                                       "optimizer": {"name": "adam"}},
        "axes": {"model_args.width": [8, 16], "optimizer.lr": [3e-3, 1e-2], "seed": [0]},
        "sweep": {"checkpoint_every": 0}}
# A fresh process: runs SPEC into argv[1] and prints its executable cache traffic.
SCRIPT = """
import json, sys
from train import exec_cache, sweep
sweep.run(sweep.parse(json.loads(sys.argv[2]), "test"), sys.argv[1], log=lambda s: None, progress=False)
print(json.dumps(exec_cache.stats))
"""


def start(out: Path, cache: Path, **env) -> subprocess.Popen:
  env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PLATFORMS": "cpu", **env}
  env.pop("XLA_FLAGS", None)  # one device, as a sweep on this machine has
  return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), json.dumps(SPEC)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen) -> dict:
  out, err = p.communicate(timeout=600)
  assert p.returncode == 0, err[-2000:]
  return json.loads(out.strip().splitlines()[-1])


def numbers(out: Path) -> dict:
  recs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
  assert len(recs) == 4 and all(r["status"] == "finished" for r in recs)
  keep = ("metrics", "curve", "flops_per_step", "flops_total", "params", "steps_run")
  return {r["run_id"]: json.dumps({k: r[k] for k in keep}, sort_keys=True) for r in recs}


def test_warm_processes_load_every_program_and_give_the_same_numbers_bit_for_bit(tmp_path):
  cache = tmp_path / "cache"
  off = finish(start(tmp_path / "off", cache, SCALEZOO_EXEC_CACHE="0"))  # plain jit (fills JAX's own cache only)
  assert off["compiles"] == off["loads"] == off["writes"] == 0 and not (cache / "executables").exists()
  # two sweeps at once on the empty executable cache: both compile and write the same entries
  cold = [start(tmp_path / f"cold{i}", cache) for i in range(2)]
  cold_stats = [finish(p) for p in cold]
  assert all(s["compiles"] > 0 and s["writes"] > 0 for s in cold_stats)
  warm = finish(start(tmp_path / "warm", cache))
  assert warm["compiles"] == 0 and warm["bad_entries"] == 0 and warm["loads"] >= 6  # 2 groups: chunk, eval, flops
  entries = list((cache / "executables").iterdir())
  assert entries and not [p for p in entries if p.name.endswith(".tmp")]
  ref = numbers(tmp_path / "off")
  for name in ("cold0", "cold1", "warm"):
    assert numbers(tmp_path / name) == ref, name


def _engine(**changes):
  raw = {"model": "mlp", "data": "digits", "data_args": {"flat": True, "n_train": 128}, "model_args": {"width": 8},
         "steps": 10, "batch_size": 32, "devices": 1, **changes}
  cfg = config.parse(raw)
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  return eng, arrays


def _chunk_args(eng, arrays, state=None):
  lr = jnp.float32(3e-3)
  state = S.init_state(eng, jax.random.key(0), arrays, lr) if state is None else jax.tree.map(jnp.copy, state)
  return state, arrays, lr, jax.random.key(1)


def _same(a, b) -> bool:
  return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture
def own_folder(tmp_path, monkeypatch):
  d = tmp_path / "executables"
  monkeypatch.setattr(exec_cache, "folder", lambda: d)
  return d


def _damage_then_run(folder: Path, run, want, foreign: tuple[bytes, bytes], every_kind: bool):
  """Run once (compiles, writes the entry), then for each kind of damage to the entry: run (compiled afresh,
  replaced) and run again (loads the replacement); the outputs always equal `want`."""
  before, others = dict(exec_cache.stats), set(folder.iterdir()) if folder.exists() else set()
  assert _same(run(), want)
  (entry,) = set(folder.iterdir()) - others
  good = entry.read_bytes()  # (not byte-reproducible: programs are compared by their outputs)
  damage = [good[: len(good) // 2], good.replace(*foreign)]  # truncated; a whole entry written for another key
  if every_kind:
    damage += [good[:-1], good[:-100] + bytes(100), b"", os.urandom(1000)]
  for bad in damage:
    entry.write_bytes(bad)
    assert _same(run(), want)
    assert _same(run(), want)
  assert set(folder.iterdir()) == others | {entry}
  got = {k: exec_cache.stats[k] - before[k] for k in ("compiles", "loads", "bad_entries")}
  assert got == {"compiles": 1 + len(damage), "loads": len(damage), "bad_entries": len(damage)}


def test_truncated_corrupt_or_foreign_entries_are_compiled_afresh_and_replaced(own_folder):
  x = jnp.arange(100, dtype=jnp.float32)
  f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x)) * 2)
  run = lambda: exec_cache.Cached(f, {"name": "tiny"})(x)  # a new in-memory table: every call goes to the folder
  _damage_then_run(own_folder, run, f(x), (b'"name": "tiny"', b'"name": "tinx"'), every_kind=True)


def test_a_damaged_train_chunk_entry_is_compiled_afresh_and_replaced(own_folder):
  eng, arrays = _engine()
  want = jax.jit(lambda *a: S.train_chunk(eng, *a, length=5))(*_chunk_args(eng, arrays))
  state = _chunk_args(eng, arrays)[0]  # (its init program is cached too: made once, before the damage trials)
  run = lambda: S.compiled_chunk.__wrapped__(eng, 5, 1)(*_chunk_args(eng, arrays, state))  # donated: a copy each run
  _damage_then_run(own_folder, run, want, (b'"n_train": 128', b'"n_train": 129'), every_kind=False)


def test_an_unwritable_folder_costs_only_speed(tmp_path, monkeypatch):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  monkeypatch.setattr(exec_cache, "folder", lambda: blocker / "executables")
  eng, arrays = _engine()
  want = jax.jit(lambda *a: S.train_chunk(eng, *a, length=5))(*_chunk_args(eng, arrays))
  with pytest.warns(UserWarning, match="cannot write"):
    got = S.compiled_chunk.__wrapped__(eng, 5, 1)(*_chunk_args(eng, arrays))
  assert _same(got, want)


def test_it_lives_beside_jax_cache_and_switches_off(tmp_path, monkeypatch):
  old = jax.config.jax_compilation_cache_dir
  try:
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    assert exec_cache.folder() == tmp_path / "executables"
    for off in ("0", "false", "off"):
      monkeypatch.setenv(exec_cache.ENV, off)
      assert exec_cache.folder() is None
    monkeypatch.setenv(exec_cache.ENV, "1")
    jax.config.update("jax_compilation_cache_dir", None)
    assert exec_cache.folder() is None  # no JAX cache folder, no executable cache
  finally:
    jax.config.update("jax_compilation_cache_dir", old)
  calls = []
  f = exec_cache.Cached(lambda x: calls.append(x) or x + 1, {"name": "off"})
  monkeypatch.setattr(exec_cache, "folder", lambda: None)
  before = dict(exec_cache.stats)
  assert f(1) == 2 and f(2) == 3 and calls == [1, 2]  # off: the jitted function itself, every call
  assert exec_cache.stats == before


def _key_of(eng, args, name="train_chunk", **extra):
  return exec_cache._key({"name": name, "engine": exec_cache.engine_key(eng), **extra}, exec_cache._signature(args))[0]


def test_the_key_changes_with_whatever_changes_the_program(monkeypatch):
  eng, arrays = _engine()
  args = _chunk_args(eng, arrays)
  base = _key_of(eng, args, length=5, group=1)
  assert _key_of(eng, args, length=5, group=1) == base
  # seed and learning rate are arguments of the program, not part of it: runs of one group share it
  assert _key_of(_engine(seed=3, optimizer={"name": "adam", "lr": 0.5})[0], args, length=5, group=1) == base
  different = [_key_of(eng, args, length=6, group=1), _key_of(eng, args, length=5, group=2),
               _key_of(eng, args, "evaluate", length=5, group=1)]
  for changes in [{"model_args": {"width": 16}}, {"data_args": {"flat": True, "n_train": 160}}, {"batch_size": 16},
                  {"optimizer": {"name": "sgd"}}, {"steps": 11}, {"precision": "bf16"}, {"augment": True},
                  {"model_args": {"width": 8, "activation": "tanh"}}, {"model_args": {"width": 8, "depth": 2}}]:
    different.append(_key_of(_engine(**changes)[0], args, length=5, group=1))
  other = jax.tree.map(lambda a: a.astype(jnp.float16) if a.dtype == jnp.float32 else a, arrays)
  different.append(_key_of(eng, (args[0], other, *args[2:]), length=5, group=1))  # other avals
  different.append(_key_of(eng, (args[0], dict(arrays, extra=arrays["y"]), *args[2:]), length=5, group=1))  # tree
  if len(jax.devices()) > 1:  # the same arrays on another device
    different.append(_key_of(eng, jax.device_put(args, jax.devices()[1]), length=5, group=1))
  monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_fast_math=false")
  different.append(_key_of(eng, args, length=5, group=1))
  monkeypatch.undo()
  with jax.default_matmul_precision("highest"):
    different.append(_key_of(eng, args, length=5, group=1))
  with jax.enable_x64(True):
    different.append(_key_of(eng, args, length=5, group=1))
  assert len(set(different)) == len(different) and base not in different
  assert _key_of(eng, args, length=5, group=1) == base  # settings restored: the same key again


def test_the_key_covers_the_source(monkeypatch):
  eng, arrays = _engine()
  args = _chunk_args(eng, arrays)
  base = _key_of(eng, args)
  machine = exec_cache._machine()
  monkeypatch.setattr(exec_cache, "_machine", lambda: {**machine, "source": "edited"})
  assert _key_of(eng, args) != base
  files = {str(p.relative_to(ROOT)) for pkg in exec_cache.SOURCES for p in (ROOT / pkg).rglob("*.py")}
  assert {"train/step.py", "train/loop.py", "zoo/mlp.py", "scaling/fit.py", "train/data/digits.py"} <= files
