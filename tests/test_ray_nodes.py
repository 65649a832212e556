"""The tiny sweep on a real two-node Ray cluster on localhost (`ray start --head` and a second `ray start` node, each
with its own temp dir), checkpoints on the shared --out, the worker node SIGKILLed mid-group: its group runs again
on the head from its last checkpoint, every run is in runs.jsonl once, and the records equal the local executor's.
CI-only (make test-ci): two Ray nodes and three sweeps' worth of processes."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from scalezoo import sweep  # noqa: E402
from scalezoo.sweep import store  # noqa: E402

pytestmark = [pytest.mark.ci, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "sweep_tiny.toml"
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
STARTED = re.compile(r"scalezoo: group (\w+) \(\d+ runs\) in pid \d+, from step (\d+)")


def _port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(cache: Path) -> dict:
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache))
  env["RAY_AUTH_MODE"] = "disabled"  # else a token in ~/.ray/auth_token turns token auth on for the head alone
  # a dead node is declared dead after about 2 s instead of 15
  env.update(RAY_health_check_period_ms="1000", RAY_health_check_timeout_ms="1000")
  env["RAY_health_check_failure_threshold"] = "2"
  return env


def _node_pids(temp: Path) -> set[int]:
  """Every process of the Ray node rooted at `temp`: those naming it on their command line (raylet, agents) and
  their descendants (the workers, whose titles Ray rewrites to ray::...)."""
  parent, named = {}, set()
  for d in Path("/proc").iterdir():
    if not d.name.isdigit():
      continue
    try:
      parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
      if str(temp) in (d / "cmdline").read_bytes().decode(errors="replace"):
        named.add(int(d.name))
    except (FileNotFoundError, ProcessLookupError, IndexError):
      pass
  pids, grew = set(named), True
  while grew:
    kids = {p for p, pp in parent.items() if pp in pids} - pids
    pids |= kids
    grew = bool(kids)
  return pids - {os.getpid()}


def _kill(pids: set[int]) -> None:
  for p in pids:
    try:
      os.kill(p, signal.SIGKILL)
    except ProcessLookupError:
      pass


def _starts(temp: Path) -> list[tuple[str, int]]:
  """(group id, step) for each group a node's workers started, from their logs."""
  logs = sorted({f.resolve() for f in temp.glob("session_*/logs/worker-*.out")})  # session_latest links to one
  text = "".join(f.read_text(errors="replace") for f in logs)
  return [(g, int(s)) for g, s in STARTED.findall(text)]


def _steps(out: Path, gid: str) -> list[int]:
  d = out / "checkpoints" / gid
  return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


@pytest.fixture
def cluster(tmp_path):
  """(address, head temp dir, worker temp dir, env): a head with 1 CPU and a worker node with 1 CPU."""
  head, worker = (Path(tempfile.mkdtemp(prefix=f"szray-{n}-", dir="/tmp")) for n in ("h", "w"))  # short: socket paths
  env = _env(tmp_path / "jax_cache")
  port = _port()
  common = ["--num-cpus", "1", "--disable-usage-stats", "--dashboard-agent-listen-port"]
  try:
    subprocess.run(
      [*RAY, "start", "--head", "--port", str(port), "--temp-dir", str(head), "--include-dashboard", "false"]
      + ["--ray-client-server-port", str(_port()), *common, str(_port())],
      env=env,
      check=True,
      capture_output=True,
      timeout=180,
    )
    subprocess.run(
      [*RAY, "start", "--address", f"127.0.0.1:{port}", "--temp-dir", str(worker), "--resources", '{"worker_node": 1}']
      + [*common, str(_port())],
      env=env,
      check=True,
      capture_output=True,
      timeout=180,
    )
    yield f"127.0.0.1:{port}", head, worker, env
  finally:
    _kill(_node_pids(worker) | _node_pids(head))
    shutil.rmtree(head, ignore_errors=True)
    shutil.rmtree(worker, ignore_errors=True)


def _sweep(out: Path, *extra: str) -> list[str]:
  return [sys.executable, "-m", "scalezoo.cli", "sweep", str(TINY), "--out", str(out), "--quiet", *extra]


def test_a_killed_worker_node_s_group_resumes_on_the_head_and_every_run_is_recorded_once(cluster, tmp_path):
  address, head, worker, env = cluster
  out, ref = tmp_path / "out", tmp_path / "ref"
  reference = subprocess.Popen(_sweep(ref), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

  # a driver killed while it holds the lock leaves out/.lock behind (with its pid): the next driver takes it over
  out.mkdir()
  hold = "import sys, time, pathlib; from scalezoo import sweep; sweep.Lock(pathlib.Path(sys.argv[1])).__enter__()"
  dead = subprocess.Popen(
    [sys.executable, "-c", hold + "; print(1); time.sleep(600)", str(out)], stdout=subprocess.PIPE, text=True
  )
  assert dead.stdout.readline().strip() == "1"
  dead.send_signal(signal.SIGKILL)
  dead.wait()
  assert (out / ".lock").read_text() == str(dead.pid)

  driver = subprocess.Popen(
    _sweep(out, "--executor", "ray", "--set", f'sweep.address="{address}"'),
    env=env,
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )
  t_end = time.monotonic() + 240
  while not _starts(worker) and driver.poll() is None and time.monotonic() < t_end:
    time.sleep(0.1)
  assert _starts(worker), "no group started on the worker node"
  [(gid, first)] = _starts(worker)
  assert first == 0

  # while this driver holds the lock, a second one on the same folder is refused with one line and writes nothing
  second = subprocess.run(_sweep(out), env=env, cwd=ROOT, capture_output=True, text=True)
  assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
  assert f"another sweep (pid {driver.pid}) is running" in second.stderr

  # the worker node dies (raylet, agents and the worker training `gid`) after the group's first checkpoint
  while not _steps(out, gid) and driver.poll() is None and time.monotonic() < t_end:
    time.sleep(0.02)
  before = _steps(out, gid)
  assert before and before[-1] < 240 and driver.poll() is None, "the worker node's group ended before the kill"
  victims = _node_pids(worker)
  titles = [Path(f"/proc/{p}/cmdline").read_bytes() for p in victims if Path(f"/proc/{p}").exists()]
  assert any(b"ray_work" in t for t in titles), "the worker training the group is not among the node's processes"
  _kill(victims)
  kills = 1

  log, _ = driver.communicate(timeout=300)
  assert driver.returncode == 0, log[-3000:]
  assert reference.wait(timeout=300) == 0, reference.stderr.read()[-3000:]

  # the group started again on the head, from the checkpoint its dead node had written last
  at_head = [(g, s) for g, s in _starts(head) if g == gid]
  assert len(at_head) == 1, (_starts(head), log[-3000:])
  assert at_head[0][1] >= before[-1] > 0
  reruns = len(_starts(head)) + len(_starts(worker)) - len(sweep.groups(sweep.load(TINY).runs))

  rows, want = store.read(out), {r["run_id"]: r for r in store.read(ref)}
  ids = [r["run_id"] for r in rows]
  lost, repeated = len(set(want) - set(ids)), len(ids) - len(set(ids))
  figures = dict(runs=len(ids), kills=kills, reruns=reruns, lost=lost, repeated=repeated, resumed_from=at_head[0][1])
  figures["resubmitted_by_driver"] = log.count("submitting it again")  # else Ray's own retry ran it again
  print("ray two-node kill:", json.dumps(figures))
  assert (lost, repeated, reruns) == (0, 0, 1) and len(ids) == 12, (figures, log[-3000:])
  for r in rows:
    w = want[r["run_id"]]
    assert (r["status"], r["metrics"], r["curve"], r["steps_run"]) == (w["status"], w["metrics"], w["curve"], 240)
  assert not (out / ".lock").exists()
