"""Which files of a folder `scalezoo tokenize` reads: those `--include` and `--exclude` select, less binary files
(a NUL byte in the first 8 KiB: git's rule), which are skipped and counted rather than tokenized as noise.

A pattern without "/" is matched against a file's name, one with "/" against its path relative to the folder
(gitignore's rule), with fnmatch's syntax (`*` matches any characters, "/" included; case-sensitive everywhere).
"""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatchcase
from pathlib import Path

SNIFF = 8192  # bytes read to tell a binary file (git reads as many)


@dataclasses.dataclass(frozen=True)
class Picked:
  files: list[str]  # relative paths, in the order given
  excluded: int  # left out by the patterns
  binary: int  # selected but binary: skipped


def is_binary(path: Path) -> bool:
  with open(path, "rb") as f:
    return b"\0" in f.read(SNIFF)


def matches(rel: str, patterns: list[str]) -> bool:
  name = rel.rsplit("/", 1)[-1]
  return any(fnmatchcase(rel if "/" in p else name, p) for p in patterns)


def check_patterns(include: list[str], exclude: list[str]) -> None:
  for flag, pats in (("--include", include), ("--exclude", exclude)):
    for p in pats:
      if not p.strip() or p.startswith("/") or "\0" in p:
        raise ValueError(f"{flag} {p!r}: a glob of file names or paths under SRC, e.g. '*.py' or 'docs/*.md'")


def pick(root: Path, rels: list[str], include: list[str], exclude: list[str]) -> Picked:
  """The files of `rels` (paths relative to `root`) that match some include pattern (any file when there is none)
  and no exclude pattern, less the binary ones."""
  chosen = [r for r in rels if (not include or matches(r, include)) and not matches(r, exclude)]
  text = [r for r in chosen if not is_binary(root / r)]
  return Picked(text, len(rels) - len(chosen), len(chosen) - len(text))
