"""The gallery driver end to end on a tiny subset in quick mode: records, table, figures, README, skip on rerun."""

import json

from scalezoo.studies import gallery
from scalezoo.sweep import store


def test_gallery_quick_subset(tmp_path, capsys):
  names = ["rnn_copy", "vae_digits"]
  assert gallery.main(tmp_path, quick=True, only=names) == 0
  recs = store.read(tmp_path)
  assert [r["gallery"]["name"] for r in recs] == names
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert [r["name"] for r in summary["rows"]] == names and summary["quick"]
  assert summary["pending"] == [n for n in gallery.entries() if n not in names]
  for r in summary["rows"]:
    assert r["params"] > 0 and r["steps"] == gallery.QUICK_STEPS and r["before"] is not None
  assert {"curves_sequences.png", "curves_generative.png", "samples_generative.png"} <= set(summary["figures"])
  assert all((tmp_path / f).stat().st_size > 0 for f in summary["figures"])
  text = (tmp_path / "README.md").read_text()
  assert "| rnn | rnn |" in text and "answer accuracy" in text and "scalezoo gallery" in text
  capsys.readouterr()
  assert gallery.main(tmp_path, quick=True, only=names) == 0  # everything recorded: nothing runs again
  assert capsys.readouterr().out.count("skipped") == 2 and len(store.read(tmp_path)) == 2


def test_every_entry_has_a_valid_config_and_every_config_an_entry():
  names = {p.stem for p in gallery.CONFIGS.iterdir() if p.name.endswith(".toml")} - {"entries"}
  assert names == set(gallery.entries())
  for name, e in gallery.entries().items():
    assert e["group"] in ("images", "graphs", "sequences", "text", "generative") and e["note"], name
  for name in gallery.entries():
    e = gallery.load_entry(name)
    assert e["kind"] in ("engine", "vae", "gan", "ddpm", "mlm"), name
