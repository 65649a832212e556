"""What every command shares: the one-line usage error, argparse's errors in the same form, and the results-folder
check."""

from __future__ import annotations

import argparse
from pathlib import Path


class UsageError(Exception):
  """Bad input to a command: printed as one line, exit 2."""


class Parser(argparse.ArgumentParser):
  """argparse's errors as the kit's: one line naming what was wrong (and where to look), exit 2."""

  def error(self, message: str):
    self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def results_dir(d: str) -> None:
  if not (Path(d) / "runs.jsonl").is_file():
    raise UsageError(f"{d}: no runs.jsonl here; pass a folder written by `scalezoo sweep`")


def model_options(sets: list[str]) -> dict:
  """`--set KEY=VALUE` model options as a dict (convert, export)."""
  from scalezoo.train import config

  out: dict = {}
  for a in sets:
    config.set_key(out, a)
  return out


def torch_missing(e: ImportError) -> UsageError:
  """A .pt/.pth/.bin file needs torch: what to install instead of a traceback."""
  return UsageError(f"{e.name} is not installed: pip install -e '.[reference]' (or use .safetensors files)")
