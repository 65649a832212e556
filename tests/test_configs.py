"""Every committed config still parses: run configs, sweep specs (every run of the grid) and gallery entries."""

from pathlib import Path

import pytest

from scalezoo import sweep
from scalezoo.studies import gallery
from scalezoo.train import config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
GALLERY = sorted(p for p in (ROOT / "configs" / "gallery").glob("*.toml") if p.stem != "entries")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_parses(path):
  raw = config.read_toml(path)
  if "axes" in raw or "base" in raw:
    spec = sweep.load(path)
    assert spec.runs and len({r.run_id() for r in spec.runs}) == len(spec.runs)
  else:
    assert config.load(path).steps > 0


@pytest.mark.parametrize("path", GALLERY, ids=[p.stem for p in GALLERY])
def test_gallery_entry_parses(path):
  assert gallery.load_entry(path.stem)
