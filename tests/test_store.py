"""runs.jsonl: one fsync'd line per record, NaN as null, a torn last line skipped on read and cut on write."""

import json

from scalezoo.train.sweep import store


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
  assert [r["run_id"] for r in store.read(path)] == ["a"]
  store.append(path, {"run_id": "c"})
  assert path.read_text().splitlines() == [store.dumps({"run_id": "a"}), store.dumps({"run_id": "c"})]


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
  assert path.read_text() == store.dumps({"run_id": "b"}) + "\n"


def test_lines_that_are_not_records_are_skipped(tmp_path):
  path = tmp_path / "runs.jsonl"
  path.write_bytes(b'[1, 2]\n\xff\xfe\n{"run_id": "a"}\n\n')
  assert store.read(path) == [{"run_id": "a"}]


def test_write_json_is_atomic_and_nan_safe(tmp_path):
  store.write_json(tmp_path / "s.json", {"a": float("nan")})
  assert json.loads((tmp_path / "s.json").read_text()) == {"a": None}
  assert not list(tmp_path.glob("*.tmp"))
