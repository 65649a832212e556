"""runs.jsonl: one fsync'd line per record, NaN as null; one reader with one rule (a torn last line is ignored and
cut by the next append, any other bad line is an error naming file and line) for the sweep and the fit alike."""

import json
import warnings

import pytest

from scalezoo import scaling
from scalezoo.data import atomic
from scalezoo.sweep import store
from scalezoo.train.config import ConfigError


def test_append_and_read_round_trip(tmp_path):
  path = tmp_path / "runs.jsonl"
  store.append(path, {"run_id": "a", "metrics": {"loss": 0.5}})
  store.append(path, {"run_id": "b", "metrics": {"loss": float("nan"), "x": [float("inf"), 1.0]}})
  rows = store.read(tmp_path)  # a folder reads its runs.jsonl
  assert [r["run_id"] for r in rows] == ["a", "b"]
  assert rows[1]["metrics"] == {"loss": None, "x": [None, 1.0]}
  assert path.read_text().count("\n") == 2


def test_missing_file_reads_as_no_runs(tmp_path):
  assert store.read(tmp_path) == [] and store.read(tmp_path / "runs.jsonl") == []


def test_torn_last_line_is_skipped_then_repaired(tmp_path):
  path = tmp_path / "runs.jsonl"
  store.append(path, {"run_id": "a"})
  with open(path, "ab") as f:
    f.write(b'{"run_id": "b", "metr')  # the writer died mid-line
  with pytest.warns(UserWarning, match="torn last line"):
    assert [r["run_id"] for r in store.read(path)] == ["a"]
  store.append(path, {"run_id": "c"})
  assert path.read_text().splitlines() == [atomic.dumps({"run_id": "a"}), atomic.dumps({"run_id": "c"})]


def test_a_complete_record_without_its_newline_counts_as_torn(tmp_path):
  """The next append cuts a last line without a newline, so no reader may count it as ended: it would be lost."""
  path = tmp_path / "runs.jsonl"
  store.append(path, {"run_id": "a"})
  with open(path, "ab") as f:
    f.write(atomic.dumps({"run_id": "b"}).encode())  # killed just before the newline
  with pytest.warns(UserWarning):
    assert [r["run_id"] for r in store.read(path)] == ["a"]
    assert [r["run_id"] for r in scaling.read_rows(path)] == ["a"]


def test_repair_finds_a_newline_far_back(tmp_path):
  path = tmp_path / "runs.jsonl"
  store.append(path, {"run_id": "a"})
  with open(path, "ab") as f:
    f.write(b'{"run_id": "b", "curve": [' + b"1.0, " * 40000)  # a torn line longer than the tail block
  store.append(path, {"run_id": "c"})
  assert [r["run_id"] for r in store.read(path)] == ["a", "c"]


def test_a_file_that_is_all_torn_line_is_emptied(tmp_path):
  path = tmp_path / "runs.jsonl"
  path.write_bytes(b'{"run_id": "a", "sta')
  store.append(path, {"run_id": "b"})
  assert path.read_text() == atomic.dumps({"run_id": "b"}) + "\n"


@pytest.mark.parametrize(
  "middle", [b'{"run_id": "x", "st', b"[1, 2]", b"\xff\xfe"], ids=["cut", "not a dict", "binary"]
)
def test_a_bad_line_before_the_last_is_an_error_for_every_reader(tmp_path, middle):
  path = tmp_path / "runs.jsonl"
  path.write_bytes(b'{"run_id": "a"}\n' + middle + b'\n{"run_id": "b"}\n\n')
  with pytest.raises(ConfigError, match=r"runs.jsonl:2: "):
    store.read(path)
  with pytest.raises(ValueError, match=r"runs.jsonl:2: "):
    scaling.read_rows(path)


def test_blank_lines_are_not_records(tmp_path):
  path = tmp_path / "runs.jsonl"
  path.write_bytes(b'\n{"run_id": "a"}\n\n')
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # nothing here is torn
    assert store.read(path) == [{"run_id": "a"}]


def test_write_json_is_atomic_and_nan_safe(tmp_path):
  atomic.write_json(tmp_path / "s.json", {"a": float("nan")})
  assert json.loads((tmp_path / "s.json").read_text()) == {"a": None}
  assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind
