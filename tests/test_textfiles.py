"""Which files `scalezoo tokenize` reads (data/textfiles.py): --include / --exclude globs, binary files skipped and
counted in the index and the command's summary."""

import pytest

from scalezoo.cli import main
from scalezoo.data import corpus as C
from scalezoo.data import textfiles
from scalezoo.data import tokenize as T


@pytest.fixture
def repo(tmp_path):
  src = tmp_path / "src"
  for rel, body in {
    "a.py": b"print(1)\n",
    "pkg/b.py": b"x = 2\n",
    "pkg/tests/test_b.py": b"assert True\n",
    "docs/readme.md": b"# hi\n",
    "notes.txt": b"text\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",  # a NUL byte: binary
    "pkg/data.bin": bytes(range(256)),
    "late_nul.txt": b"x" * textfiles.SNIFF + b"\0",  # a NUL past what is sniffed: text, as git reads it
  }.items():
    (src / rel).parent.mkdir(parents=True, exist_ok=True)
    (src / rel).write_bytes(body)
  return src


def documents(out) -> list[bytes]:
  c = C.open_corpus(out, verify=True)
  return [c.decode(c.read(*c.document(i))) for i in range(c.n_docs)]


def test_binary_files_are_skipped_and_counted(repo, tmp_path):
  index = T.tokenize(repo, tmp_path / "c")
  names = [f["name"] for f in index["sources"]["files"]]
  assert names == ["a.py", "docs/readme.md", "late_nul.txt", "notes.txt", "pkg/b.py", "pkg/tests/test_b.py"]
  assert index["sources"]["skipped"] == {"excluded": 0, "binary": 2}
  assert documents(tmp_path / "c") == [(repo / n).read_bytes() for n in names]


@pytest.mark.parametrize(
  "include, exclude, want",
  [
    (["*.py"], [], ["a.py", "pkg/b.py", "pkg/tests/test_b.py"]),  # a name glob reaches every level
    (["*.py"], ["test_*"], ["a.py", "pkg/b.py"]),
    (["pkg/*"], ["*/tests/*"], ["pkg/b.py"]),  # a path glob is matched from SRC; the binary data.bin skipped
    ([], ["*.py", "*.txt"], ["docs/readme.md"]),
    (["*.md", "notes.txt"], [], ["docs/readme.md", "notes.txt"]),
  ],
)
def test_include_and_exclude_select_files(repo, tmp_path, include, exclude, want):
  index = T.tokenize(repo, tmp_path / "c", include=include, exclude=exclude)
  assert [f["name"] for f in index["sources"]["files"]] == want
  assert (index["sources"]["include"], index["sources"]["exclude"]) == (include, exclude)
  assert documents(tmp_path / "c") == [(repo / n).read_bytes() for n in want]


def test_cli_summary_counts_what_was_skipped(repo, tmp_path, capsys):
  out = tmp_path / "c"
  assert main(["tokenize", str(repo), "--out", str(out), "--include", "*.py", "--include", "*.png"]) == 0
  line = capsys.readouterr().out.strip()
  assert line.startswith(f"{out}: 3 documents, ") and line.endswith(
    "; 1 binary file(s) skipped; 4 file(s) left out by --include/--exclude"
  )


@pytest.mark.parametrize(
  "argv, words",
  [
    (["--include", "*.rs"], "holds no non-empty file (8 excluded by --include/--exclude, 0 binary)"),
    (["--include", "*.png"], "holds no non-empty file (7 excluded by --include/--exclude, 1 binary)"),
    (["--exclude", "/abs/*"], "--exclude '/abs/*': a glob of file names or paths under SRC"),
    (["--include", " "], "--include ' ': a glob"),
  ],
)
def test_refusals_are_one_line_and_write_nothing(repo, tmp_path, capsys, argv, words):
  assert main(["tokenize", str(repo), "--out", str(tmp_path / "c"), *argv]) == 2
  err = capsys.readouterr().err.strip()
  assert words in err and "\n" not in err and not (tmp_path / "c").exists()
  assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no temp folder either


def test_a_single_file_src_takes_no_patterns_and_must_be_text(repo, tmp_path, capsys):
  assert main(["tokenize", str(repo / "a.py"), "--out", str(tmp_path / "c"), "--exclude", "x"]) == 2
  assert "--include and --exclude choose files in a folder" in capsys.readouterr().err
  assert main(["tokenize", str(repo / "logo.png"), "--out", str(tmp_path / "c")]) == 2
  assert "a binary file (a NUL byte in its first 8192 bytes)" in capsys.readouterr().err
