"""The zoo's catalog: the table `scalezoo models` prints (checked against eval_shape in test_zoo_counts.py), a
model's input shape rule and its description."""

import subprocess
import sys

import pytest

from scalezoo import zoo
from scalezoo.cli import main
from scalezoo.zoo import catalog


def test_a_model_missing_from_the_table_is_counted_live(monkeypatch):
  table = catalog.load()
  del table["mlp"]
  table["lenet5"] = dict(table["lenet5"], params=-1)  # the table is what is printed, for what it holds
  monkeypatch.setattr(catalog, "load", lambda: table)
  rows = catalog.rows()
  assert sorted(rows) == zoo.names()
  assert rows["mlp"] == {"family": "mlp", "task": "classification", "params": 78_858, "inputs": ["40"]}
  assert rows["lenet5"]["params"] == -1


@pytest.mark.parametrize(
  "name, rule",
  [
    ("vit_ti16", ["(B, image_size, image_size, in_channels) float32"]),
    ("gpt", ["(B, context) int32"]),
    ("gat", ["(B, num_nodes, in_features) float32", "(B, num_nodes, num_nodes) float32"]),
    ("ddpm_unet", ["(B, image_size, image_size, in_channels) float32", "(B,) int32"]),
    ("transformer_base", ["(B, src_len) int32", "(B, tgt_len) int32"]),
  ],
)
def test_input_rule_names_the_options(name, rule):
  assert catalog.input_rule(name) == rule


def test_input_rule_holds_at_other_sizes():
  rule = catalog.input_rule("vit_ti16")[0]
  assert rule.startswith("(B, image_size, image_size, in_channels)")
  assert catalog.input_shapes("vit_ti16", image_size=32, in_channels=1) == [(1, 32, 32, 1)]


def test_models_name_lists_options_defaults_rule_and_reference(capsys):
  assert main(["models", "vit_ti16"]) == 0
  out = capsys.readouterr().out
  lines = out.splitlines()
  assert lines[0] == "vit_ti16: family transformer, task classification, 5,717,416 parameters in the reference config"
  assert lines[1].startswith("reference: Vision Transformer (Dosovitskiy et al. 2020)")
  assert "inputs: (B, image_size, image_size, in_channels) float32" in out
  start = next(i for i, ln in enumerate(lines) if ln.startswith("options")) + 1
  opts = {ln.split()[0]: ln.split()[1] for ln in lines[start:]}
  assert opts == {k: catalog._value(v) for k, v in zoo.spec("vit_ti16").defaults.items()}
  assert opts["image_size"] == "224" and opts["dropout"] == "0.0"


def test_models_unknown_name_or_family_is_one_line_exit_2(capsys):
  assert main(["models", "vit_ti61"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "unknown model 'vit_ti61'" in err and "vit_ti16" in err
  assert main(["models", "--family", "cnnn"]) == 2
  assert "families: autoencoder, cnn," in capsys.readouterr().err


def test_models_lists_every_model_from_the_table(capsys):
  assert main(["models"]) == 0
  out = capsys.readouterr().out.splitlines()
  listed = [ln.split()[0] for ln in out[1:] if not ln.startswith("(")]
  assert listed == zoo.names()
  assert next(ln for ln in out if ln.startswith("vit_ti16")).split()[2] == "5,717,416"


def test_the_listing_imports_neither_jax_nor_the_zoo():
  code = (
    "import sys; from scalezoo.cli import main; assert main(['models']) == 0; "
    "assert not {'jax', 'flax', 'scalezoo.zoo'} & set(sys.modules), sorted(sys.modules)"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stderr
  assert "resnet50" in out.stdout and "25,557,032" in out.stdout
