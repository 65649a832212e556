"""A trained run as a language model to use: `scalezoo generate RUN` continues a prompt in its data's codec,
`scalezoo convert llama RUN FOLDER` writes a Hugging Face folder, and `init_from = "pretrained:FOLDER"` starts a run
from one (continued pretraining), refusing a model whose options differ from the folder's."""

import numpy as np
import pytest

from scalezoo import cli, zoo
from scalezoo.train import config, convert, loop

ARGS = dict(context=16, d_model=16, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=40)


def cfg(model="llama", model_args=ARGS, **changes):
  base = dict(
    model=model, data="pycode", steps=6, batch_size=4, eval_examples=8, data_args={"context": 16},
    model_args=dict(model_args), checkpoint_every=6, optimizer={"name": "adamw", "lr": 3e-3},
  )  # fmt: skip
  return config.parse({**base, **changes})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  out = tmp_path_factory.mktemp("run")
  assert loop.fit(cfg(), out=out).record.status == "finished"
  return out


def test_generate_from_a_run_decodes_its_bytes(run, capsys):
  model, variables, rec = convert.load_run(run)
  assert rec["model_args"]["d_model"] == 16 and model.vocab == 256
  ids = list(b"def ")
  want = bytes(int(i) for i in zoo.generate(model, variables, ids, 8)[4:]).decode(errors="replace")
  capsys.readouterr()
  assert cli.main(["generate", str(run), "--prompt", "def ", "--max-new-tokens", "8"]) == 0
  assert capsys.readouterr().out == want + "\n"
  assert cli.main(["generate", str(run), "--prompt", "x" * 10, "--max-new-tokens", "8"]) == 2  # 18 > context 16
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "context 16" in err
  assert cli.main(["generate", str(run.parent), "--prompt", "x"]) == 2
  assert "neither a Hugging Face folder" in capsys.readouterr().err


def test_a_run_continues_from_its_hugging_face_folder(run, tmp_path):
  assert cli.main(["convert", "llama", str(run), str(tmp_path / "hf")]) == 0
  trained = convert.load_run(run)[1]["params"]
  model, v = zoo.load_pretrained(tmp_path / "hf")
  import jax

  for a, b in zip(jax.tree.leaves(trained), jax.tree.leaves(v["params"]), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  rec = loop.fit(cfg(init_from=f"pretrained:{tmp_path / 'hf'}", steps=1, checkpoint_every=0)).record.to_dict()
  assert rec["init"]["fresh"] == [] and rec["init"]["restored"] == 3 + 2 * 9  # embed, final norm, lm_head + 9 per layer
  first = rec["curve"]["train_loss"][0]
  scratch = loop.fit(cfg(steps=1, checkpoint_every=0)).record.to_dict()["curve"]["train_loss"][0]
  assert first < scratch  # it starts from the trained weights, not a fresh init


def test_a_model_unlike_the_folder_is_refused(run, tmp_path):
  assert cli.main(["convert", "llama", str(run), str(tmp_path / "hf")]) == 0
  src = f"pretrained:{tmp_path / 'hf'}"
  with pytest.raises(ValueError, match=r"n_kv_heads = 1; set these model_args"):
    loop.fit(cfg(init_from=src, model_args={**ARGS, "n_kv_heads": 2}, steps=1, checkpoint_every=0))
  with pytest.raises(ValueError, match="llama-family model, not 'gpt'"):
    loop.fit(cfg(model="gpt", model_args={"context": 16, "d_model": 16, "n_layers": 1, "n_heads": 2}, init_from=src))
