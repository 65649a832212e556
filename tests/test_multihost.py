"""Two processes x 2 CPU devices on localhost (gloo collectives) train one run: equal to one 4-device process;
SIGKILL mid-run and restart both: the record ends bit for bit where an uninterrupted 2-process run does."""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scalezoo.train import config, loop

pytestmark = pytest.mark.ci

RUN = """model = "gpt"
data = "pycode"
steps = 8
batch_size = 8
eval_every = 2
eval_examples = 32
checkpoint_every = 2
mesh = {data = 2, fsdp = 2}
[model_args]
d_model = 32
n_layers = 2
n_heads = 4
context = 32
[data_args]
context = 32
"""


def _port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(cfg: Path, out: Path) -> list[subprocess.Popen]:
  port = _port()
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
  cmd = [sys.executable, "-m", "scalezoo.cli", "train", str(cfg), "--out", str(out), "--quiet"]
  return [
    subprocess.Popen(
      [*cmd, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]


def finish(procs, timeout=900):
  outs = [p.communicate(timeout=timeout) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return outs


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  d = tmp_path_factory.mktemp("two")
  (d / "run.toml").write_text(RUN)
  finish(launch(d / "run.toml", d / "out"))
  return d


def test_two_processes_equal_one_process_with_four_devices(uninterrupted):
  two = json.loads((uninterrupted / "out" / "record.json").read_text())
  one = loop.fit(config.load(uninterrupted / "run.toml")).record  # this process: 4 devices, the same mesh
  assert two["config"]["mesh"] == {"data": 2, "fsdp": 2} and two["provenance"]["devices"]["processes"] == 2
  np.testing.assert_allclose(two["curve"]["train_loss"], one.curve["train_loss"], rtol=1e-5)
  np.testing.assert_allclose(two["curve"]["val_loss"], one.curve["val_loss"], rtol=1e-5)
  np.testing.assert_allclose(two["metrics"]["test_loss"], one.metrics["test_loss"], rtol=1e-5)
  # both processes wrote their shards of the checkpoint
  written = {p.name for p in (uninterrupted / "out" / "checkpoints").rglob("*")}
  assert any("process_1" in n for n in written) and any("process_0" in n for n in written), sorted(written)


def test_sigkill_one_process_then_restart_both_ends_bit_for_bit(uninterrupted, tmp_path):
  (tmp_path / "run.toml").write_text(RUN)
  out = tmp_path / "out"
  procs = launch(tmp_path / "run.toml", out)
  deadline = time.time() + 900
  while not list((out / "checkpoints").glob("*/2")) and time.time() < deadline:  # the first save has landed (in
    # checkpoints/<run id>/)
    assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
    time.sleep(0.05)
  procs[1].send_signal(signal.SIGKILL)  # a host dies mid-run
  procs[1].wait()
  time.sleep(1.0)
  procs[0].send_signal(signal.SIGKILL)  # the scheduler takes the job down, then starts it again
  procs[0].wait()
  assert not (out / "record.json").exists()
  relaunched = time.time()
  finish(launch(tmp_path / "run.toml", out))
  got, want = (json.loads((d / "record.json").read_text()) for d in (out, uninterrupted / "out"))
  assert got["curve"] == want["curve"] and got["metrics"] == want["metrics"] and got["steps_run"] == 8
  # resumed from the checkpoint, not trained again from step 0: the start time is the first launch's
  started = datetime.datetime.fromisoformat(got["started_at"].replace("Z", "+00:00")).timestamp()
  assert started < relaunched
