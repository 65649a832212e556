"""Targets and deviceless compiles: topology names parsed or refused in one line; a tiny spec compiled for a TPU slice
and a GPU host by `scalezoo plan --compile` (the libtpu and CUDA plugin wheels: make test-ci); an out-of-memory
compile answered with the compiler's message."""

import json

import pytest

from scalezoo import cli
from scalezoo.train import compile as C
from scalezoo.train import config
from scalezoo.train import target as T

SPEC = """
name = "tiny_compile"
[base]
model = "gpt"
data = "tokens"
precision = "bf16"
batch_size = 16
microbatches = 2
steps = 4
remat = "block"
mesh = {data = -1, fsdp = 2}
data_args = {path = "no/corpus", context = 16}
model_args = {vocab = 257, context = 16, d_model = 32, n_layers = 2, n_heads = 2, scan_layers = true}
optimizer = {name = "adamw", lr = 1e-3}
"""


@pytest.mark.parametrize(
  "name, want",
  [
    ("v5e:4x4", ("v5e", (4, 4))),
    ("v5p:2x2x2", ("v5p", (2, 2, 2))),
    ("v4:2x2x1", ("v4", (2, 2, 1))),
    ("h100:8", ("h100", (1, 8))),
    ("h100:4x8", ("h100", (4, 8))),
    ("A100:8", ("a100", (1, 8))),
  ],
)
def test_topology_names_parse(name, want):
  assert T.parse(name) == want


@pytest.mark.parametrize("name", ["v5e", "tpu9:2x2", "v5e:4x", "h100:2x2x8", "v5e:16", "v5e:0x4"])
def test_a_bad_topology_is_refused_with_examples(name):
  with pytest.raises(config.ConfigError, match="--compile"):
    T.parse(name)


def test_a_bad_topology_exits_2_before_the_spec_is_read(tmp_path, capsys):
  assert cli.main(["plan", str(tmp_path / "none.toml"), "--compile", "tpu9:2x2"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "not a topology" in err, err


def test_json_needs_compile(tmp_path, capsys):
  spec = tmp_path / "spec.toml"
  spec.write_text(SPEC)
  assert cli.main(["plan", str(spec), "--json", str(tmp_path / "f.json")]) == 2
  assert "--json goes with --compile" in capsys.readouterr().err


def test_the_gpu_targets_memory_is_the_target_descriptions():
  assert T.gpu_config("h100").count("device_memory_size: 84978434048") == 1  # 79.1 GiB: XLA's H100 SXM spec
  assert "cuda_compute_capability {\n    major: 8" in T.gpu_config("a100")


@pytest.mark.targets  # two compiles for a 4-chip TPU slice, one for 8 H100s: ~1 min on 2 shared cores
@pytest.mark.parametrize("name, devices", [("v5e:2x2", 4), ("h100:8", 8)])
def test_a_tiny_spec_compiles_for_a_target_and_reports_xlas_bytes(name, devices, tmp_path, capsys):
  spec = tmp_path / "spec.toml"
  spec.write_text(SPEC)
  out = tmp_path / "plan.json"
  assert cli.main(["plan", str(spec), "--compile", name, "--json", str(out)]) == 0
  report = json.loads(out.read_text())
  assert report["target"] == name and report["devices"] == devices
  (run,) = report["runs"]
  c, e = run["compiled"], run["estimate"]
  assert set(c) >= {"peak_bytes", "temp_bytes", "argument_bytes", "device_bytes", "fits", "flops", "seconds", "error"}
  assert c["fits"] and c["error"] is None and c["seconds"] > 0
  assert c["device_bytes"] == (16 * 2**30 if name.startswith("v5e") else 84978434048)
  assert 0 < c["argument_bytes"] <= c["peak_bytes"] < 2**30
  assert e["mesh"] == [devices // 2, 2, 1] and c["flops"] == pytest.approx(e["flops_xla"] / 4)
  assert c["flops"] > e["flops_6nd"] / 4  # a step's XLA count exceeds 6ND (attention, the logits' softmax)
  text = capsys.readouterr().out
  assert name in text and "every run fits" in text


@pytest.mark.targets  # two tiny compiles: ~15 s
@pytest.mark.parametrize("name, devices, mesh", [("v4:2x2x1", 8, (4, 2, 1)), ("h100:4x8", 32, (16, 2, 1))])
def test_a_slice_of_cores_and_many_gpu_hosts_compile_too(name, devices, mesh, tmp_path):
  """v4 shows each of a chip's two cores as a device (the mesh follows the device order, not a physical layout);
  h100:4x8 spans 4 hosts of 8 (the batch is split over all 32)."""
  from scalezoo import sweep

  spec = tmp_path / "spec.toml"
  spec.write_text(SPEC)
  (cfg,) = sweep.load(spec, ["base.batch_size=64"]).runs
  tgt = T.get(name)
  eng, _ = C.engine(cfg, tgt)
  assert len(tgt.devices) == devices and tuple(eng.mesh.shape.values()) == mesh
  assert tgt.device_bytes == (16 * 2**30 if name.startswith("v4") else 84978434048)  # v4: 32 GiB per 2-core chip
  got = C.compile_run(cfg, tgt)
  assert got.fits and 0 < got.peak_bytes < 2**30


@pytest.mark.targets  # one compile that XLA refuses: 4096 sequences' logits do not fit a v5e's 16 GiB
def test_an_out_of_memory_compile_is_an_answer_not_a_crash_and_asks_for_no_device_here(monkeypatch):
  import jax

  tgt = T.get("v5e:2x2")

  def here(*_, **__):
    raise AssertionError("the compile path asked for the devices here")

  monkeypatch.setattr(jax, "devices", here)
  monkeypatch.setattr(jax, "local_devices", here)
  monkeypatch.setattr(jax, "default_backend", here)
  cfg = config.parse(
    dict(
      model="gpt",
      data="tokens",
      data_args={"path": "no/corpus", "context": 256},
      batch_size=4096,
      steps=1,
      mesh={"data": -1},
      model_args=dict(vocab=32768, context=256, d_model=64, n_layers=1, n_heads=1),
      optimizer={"name": "adamw"},
    )
  )
  got = C.compile_run(cfg, tgt)
  assert not got.fits and got.peak_bytes is None
  assert "RESOURCE_EXHAUSTED" in got.error, got.error


def _quoted_table(lines: list[str], first: str) -> list[str]:
  """The table from its first line to its last ("every run fits" / "... do not fit")."""
  start = next(i for i, ln in enumerate(lines) if ln.startswith(first))
  end = next(i for i in range(start, len(lines)) if lines[i].endswith(("fits", "do not fit")))
  return lines[start : end + 1]


@pytest.mark.parametrize("name", ["v5e:4x4", "h100:8"])
def test_the_readme_and_the_ladder_quote_the_committed_compile_reports(name):
  from test_plan import LADDER, ROOT

  from scalezoo import sweep
  from scalezoo.sweep import compile_plan

  ladder = sweep.load(LADDER)
  report = json.loads((ROOT / "results" / "compile" / f"{name.replace(':', '_')}.json").read_text())
  assert [r["name"] for r in report["runs"]] == [c.run_id() for c in ladder.runs], "the ladder changed: compile again"
  assert all(r["compiled"]["fits"] for r in report["runs"])
  want = compile_plan.table(report, ladder).splitlines()
  readme = (ROOT / "README.md").read_text().splitlines()
  assert _quoted_table(readme, want[0]) == want
  header = [ln.removeprefix("# ").removeprefix("#") for ln in LADDER.read_text().splitlines() if ln.startswith("#")]
  assert _quoted_table(header, want[0]) == want


@pytest.mark.targets  # two compiles for 8 H100s with NVIDIA's cuDNN wheel (the targets stamp): ~30 s
def test_attention_auto_is_cudnns_fused_kernel_on_h100_and_xla_asks_for_einsums(tmp_path):
  from scalezoo import sweep

  spec = tmp_path / "spec.toml"
  spec.write_text(SPEC)
  sets = ["base.model_args.d_model=128", "base.model_args.n_layers=1", "base.model_args.dtype=bfloat16"]  # heads of 64
  (auto,) = sweep.load(spec, sets).runs
  (xla,) = sweep.load(spec, [*sets, "base.model_args.attention=xla"]).runs
  assert "__cudnn$fmha" in C.compiled_chunk(auto, T.get("h100:8")).as_text()
  assert "__cudnn$fmha" not in C.compiled_chunk(xla, T.get("h100:8")).as_text()


@pytest.mark.targets  # two compiles for a 4-chip TPU slice: ~15 s
def test_attention_auto_is_the_splash_kernel_on_a_tpu_slice_and_xla_asks_for_einsums(tmp_path):
  from scalezoo import sweep

  spec = tmp_path / "spec.toml"
  spec.write_text(SPEC)
  sets = ["base.data_args.context=128", "base.model_args.context=128", "base.model_args.d_model=128"]
  sets.append("base.model_args.n_layers=1")  # sequences of 128: one block of the kernel; heads of 64
  (auto,) = sweep.load(spec, sets).runs
  (xla,) = sweep.load(spec, [*sets, "base.model_args.attention=xla"]).runs
  text = C.compiled_chunk(auto, T.get("v5e:2x2")).as_text()
  assert "tpu_custom_call" in text and "splash_mha_dkv" in text  # the Pallas kernels, the backward's too
  assert "tpu_custom_call" not in C.compiled_chunk(xla, T.get("v5e:2x2")).as_text()


@pytest.mark.skipif(
  __import__("importlib").util.find_spec("libtpu") is not None, reason="libtpu is installed in this venv"
)
def test_without_the_compiler_a_target_is_one_line_naming_the_fix(capsys):
  ladder = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "ladder" / "gpt.toml")
  assert cli.main(["plan", ladder, "--compile", "v5e:2x2"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "no v5e compiler here" in err and ".venv-targets" in err
