"""Token corpora on disk: `scalezoo tokenize` (data/tokenize.py), the reader (corpus.py) and the `tokens` data
set streamed through Grain (tokens.py). Tiny corpora in tmp_path."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scalezoo import data
from scalezoo.data import corpus as C
from scalezoo.data import tokenize as T
from scalezoo.data import tokens as K

TEXTS = [f"document {i}: {'héllo wörld, ' * (i % 5 + 1)}\n{'xyz ' * i}<|endoftext|> über\n" for i in range(30)]


@pytest.fixture
def folder(tmp_path):
  src = tmp_path / "src"
  (src / "sub").mkdir(parents=True)
  for i, t in enumerate(TEXTS):
    (src / ("sub" if i % 3 else "") / f"d{i:02d}.txt").write_text(t, encoding="utf-8")
  (src / "empty.txt").write_bytes(b"")  # skipped
  (src / ".hidden").write_text("not a document")  # skipped
  return src


def names_in_order(src):
  return sorted(p.relative_to(src).as_posix() for p in src.rglob("d*.txt"))


def position_corpus(path, lengths, *, shard_tokens=64, offset=1):
  """Document tokens are their stream position + offset, EOS is 0: every token names where it came from."""
  total = sum(n + 1 for n in lengths)
  with T.CorpusWriter(path, vocab_size=total + offset, eos_id=0, shard_tokens=shard_tokens) as w:
    pos = 0
    for n in lengths:
      w.add(np.arange(pos, pos + n) + offset)
      w.end_document()
      pos += n + 1
    return w.commit(tokenizer={"kind": "positions"})


def all_files(d):
  return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- tokenize
def test_bytes_corpus_round_trips_files_with_eos_after_each(folder, tmp_path):
  out = tmp_path / "c"
  index = T.tokenize(folder, out, shard_tokens=97)  # documents run across shards
  c = C.open_corpus(out, verify=True)
  names = names_in_order(folder)
  assert (index["dtype"], index["vocab_size"], index["eos_id"], c.n_docs) == ("uint16", 257, 256, len(names))
  assert [f["name"] for f in index["sources"]["files"]] == names
  assert len(index["shards"]) == -(-c.tokens // 97) and all(s["tokens"] == 97 for s in index["shards"][:-1])
  assert c.tokens == sum(len((folder / n).read_bytes()) + 1 for n in names)
  for i, n in enumerate(names):
    start, length = c.document(i)
    assert c.decode(c.read(start, length)) == (folder / n).read_bytes()
    assert c.read(start + length, 1)[0] == 256
  for f in index["sources"]["files"]:
    assert f["sha256"] == hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest()
  assert not (out / C.TOKENIZER).exists()


def test_bpe_corpus_round_trips_text_and_keeps_literal_eos_as_text(folder, tmp_path):
  out = tmp_path / "c"
  index = T.tokenize(folder, out, tokenizer="bpe", vocab=300)
  c = C.open_corpus(out, verify=True)
  tok = index["tokenizer"]
  assert tok["kind"] == "bpe" and tok["requested_vocab"] == 300 and c.vocab_size <= 300 and c.dtype == np.uint16
  stream = c.read(0, c.tokens)
  assert int((stream == c.eos_id).sum()) == c.n_docs  # "<|endoftext|>" inside the text did not become EOS
  assert c.tokens < sum(len(t.encode()) for t in TEXTS)  # merges happened
  for i, n in enumerate(names_in_order(folder)):
    start, length = c.document(i)
    assert c.decode(c.read(start, length)) == (folder / n).read_text(encoding="utf-8")


def test_single_file_documents_are_blank_line_blocks(tmp_path):
  src = tmp_path / "book.txt"
  src.write_bytes(b"one\ntwo\n\n\nthree\n  \t\nfour\nfive")
  T.tokenize(src, tmp_path / "c")
  c = C.open_corpus(tmp_path / "c", verify=True)
  assert [c.decode(c.read(*c.document(i))) for i in range(c.n_docs)] == [b"one\ntwo\n", b"three\n", b"four\nfive"]
  assert c.index["sources"]["documents_by"] == "blank-line blocks"


def test_utf8_cut_never_splits_a_character():
  b = "aé日😀".encode()
  cuts = [T._utf8_cut(b[:k]) for k in range(len(b) + 1)]
  assert cuts == [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]  # the last whole character of each prefix
  for c in cuts:
    b[:c].decode()


def test_tokenize_is_byte_identical_across_runs_and_processes(folder, tmp_path):
  T.tokenize(folder, tmp_path / "a", tokenizer="bpe", vocab=300, shard_tokens=200)
  code = (
    "import sys; from scalezoo.data import tokenize as T; "
    "T.tokenize(sys.argv[1], sys.argv[2], tokenizer='bpe', vocab=300, shard_tokens=200)"
  )
  subprocess.run([sys.executable, "-c", code, str(folder), str(tmp_path / "b")], check=True)
  a, b = all_files(tmp_path / "a"), all_files(tmp_path / "b")
  assert a == b and {"index.json", "tokenizer.json", "documents.bin", "shard_00000.bin"} <= set(a)
  T.tokenize(folder, tmp_path / "x")
  T.tokenize(folder, tmp_path / "y")
  assert all_files(tmp_path / "x") == all_files(tmp_path / "y")


def test_dtype_is_uint16_up_to_65536_ids_then_uint32(tmp_path):
  assert [C.dtype_for(v).name for v in (257, 65536, 65537, 2**32)] == ["uint16", "uint16", "uint32", "uint32"]
  index = position_corpus(tmp_path / "c", [30, 40, 50], offset=65536)  # ids above 65535
  c = C.open_corpus(tmp_path / "c", verify=True)
  assert index["dtype"] == "uint32" and (tmp_path / "c" / "shard_00000.bin").stat().st_size == 64 * 4
  start, length = c.document(2)
  assert np.array_equal(c.read(start, length), np.arange(start, start + length) + 65536)
  c.close()
  with pytest.raises(ValueError, match="read from a closed corpus"):
    c.read(0, 1)


def test_out_holding_another_corpus_or_other_files_is_refused_and_left_alone(folder, tmp_path):
  out = tmp_path / "c"
  first = T.tokenize(folder, out)
  before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
  assert T.tokenize(folder, out) == first  # the same corpus: nothing rewritten
  assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
  with pytest.raises(ValueError, match="holds something other than this corpus"):
    T.tokenize(folder, out, tokenizer="bpe", vocab=300)
  (folder / "d00.txt").write_text("changed")
  with pytest.raises(ValueError, match="holds something other"):
    T.tokenize(folder, out)
  other = tmp_path / "other"
  other.mkdir()
  (other / "notes.txt").write_text("mine")
  with pytest.raises(ValueError, match="holds something other"):
    T.tokenize(folder, other)
  assert all_files(other) == {"notes.txt": b"mine"}
  assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
  (tmp_path / "empty").mkdir()
  T.tokenize(folder, tmp_path / "empty")  # an empty folder is filled
  assert (tmp_path / "empty" / "index.json").is_file()


def test_a_crash_while_writing_leaves_no_corpus_and_no_temp_folder(folder, tmp_path, monkeypatch):
  def boom(self):
    raise RuntimeError("disk gone")

  monkeypatch.setattr(T.CorpusWriter, "end_document", boom)
  with pytest.raises(RuntimeError, match="disk gone"):
    T.tokenize(folder, tmp_path / "c")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize(
  "kw, match",
  [(dict(tokenizer="bpe", vocab=256), "--vocab must be in"), (dict(vocab=300), "applies to --tokenizer bpe")],
)
def test_bad_tokenizer_options(folder, tmp_path, kw, match):
  with pytest.raises(ValueError, match=match):
    T.tokenize(folder, tmp_path / "c", **kw)


# ---------------------------------------------------------------- the reader's checks
def corrupt_cases():
  def version(p):
    i = json.loads((p / "index.json").read_text())
    (p / "index.json").write_text(json.dumps({**i, "version": 99}))

  def dtype(p):
    i = json.loads((p / "index.json").read_text())
    (p / "index.json").write_text(json.dumps({**i, "dtype": "uint32"}))

  def truncate(p):
    f = p / "shard_00001.bin"
    f.write_bytes(f.read_bytes()[:-2])

  return [
    (lambda p: (p / "index.json").unlink(), "index.json: no corpus index here"),
    (lambda p: (p / "index.json").write_text("{"), "index.json: not valid JSON"),
    (version, "index.json: format version 99"),
    (dtype, "index.json: dtype 'uint32' does not match vocab_size"),
    (truncate, "shard_00001.bin: 126 bytes, index.json says 128"),
    (lambda p: (p / "shard_00000.bin").unlink(), "shard_00000.bin: missing"),
    (lambda p: (p / "documents.bin").write_bytes(b"\0" * 24), "documents.bin: 24 bytes, index.json says 72"),
  ]


@pytest.mark.parametrize("case", range(len(corrupt_cases())))
def test_a_damaged_corpus_is_a_one_line_error_naming_the_file(tmp_path, case):
  damage, msg = corrupt_cases()[case]
  position_corpus(tmp_path / "c", [50, 60, 70])
  damage(tmp_path / "c")
  with pytest.raises(ValueError) as e:
    C.open_corpus(tmp_path / "c")
  assert msg in str(e.value) and "\n" not in str(e.value)


def test_full_check_catches_changed_bytes_the_cheap_one_does_not(tmp_path):
  position_corpus(tmp_path / "c", [50, 60, 70])
  f = tmp_path / "c" / "shard_00001.bin"
  b = bytearray(f.read_bytes())
  b[5] ^= 1
  f.write_bytes(bytes(b))
  C.open_corpus(tmp_path / "c").close()
  with pytest.raises(ValueError, match="shard_00001.bin: sha256 differs"):
    C.open_corpus(tmp_path / "c", verify=True)


def test_a_token_id_outside_the_vocabulary_is_refused_as_it_is_read(tmp_path):
  position_corpus(tmp_path / "c", [50, 60, 70])  # vocab 184: ids up to 183
  f = tmp_path / "c" / "shard_00001.bin"
  b = np.frombuffer(f.read_bytes(), np.uint16).copy()
  b[5] = 60000  # same size, so only the full (sha256) check at open would see it
  f.write_bytes(b.tobytes())
  with C.open_corpus(tmp_path / "c") as c:
    assert c.read(0, 64).max() < 184  # shard 0 is intact
    with pytest.raises(ValueError, match=r"shard_00001.bin: token id 60000 .* outside the vocabulary of 184"):
      c.read(64, 10)


# ---------------------------------------------------------------- the data set and the stream
LENGTHS = [37, 5, 61, 12, 44, 90, 8, 23, 70, 15, 33, 51, 9, 66, 28, 40, 19, 55, 31, 47]


@pytest.fixture
def pos(tmp_path):
  position_corpus(tmp_path / "c", LENGTHS, shard_tokens=100)
  return tmp_path / "c"


def doc_of(c, token):
  """The document a position-corpus token (position + 1) belongs to."""
  starts = np.array([c.document(d)[0] for d in range(c.n_docs)])
  return np.searchsorted(starts, np.asarray(token) - 1, side="right") - 1


def take(it, n):
  return [next(it) for _ in range(n)]


def test_split_holds_out_whole_documents_chosen_by_the_seed(pos):
  s = data.load("tokens", seed=0, path=str(pos), context=8, eval_windows=4)
  st = s.info["stream"]
  assert s.train == {} and s.task == "lm" and isinstance(st, K.TrainStream)
  assert s.val["x"].dtype == np.int32 and s.val["x"].shape == (4, 8) and s.test["x"].shape[1] == 8
  assert np.array_equal(s.val["x"][:, 1:], s.val["y"][:, :-1])
  c = C.open_corpus(pos)
  val = set(doc_of(c, s.val["x"][s.val["x"] > 0]).tolist())
  test = set(doc_of(c, s.test["x"][s.test["x"] > 0]).tolist())
  assert val and test and not val & test and (val | test) <= set(st.held_out)
  epoch = take(K.train_batches(st, global_batch=4, seed=0, process_index=0, process_count=1), -(-st.n_windows // 4))
  seen = np.concatenate([np.concatenate([b["x"].ravel(), b["y"].ravel()]) for b in epoch])
  train_docs = set(doc_of(c, seen[seen > 0]).tolist())
  assert not train_docs & set(st.held_out)
  assert train_docs | set(st.held_out) == set(range(len(LENGTHS)))
  again = data.load("tokens", seed=0, path=str(pos), context=8, eval_windows=4)
  assert again.info == s.info and all(np.array_equal(again.val[k], s.val[k]) for k in ("x", "y"))
  other = data.load("tokens", seed=1, path=str(pos), context=8, eval_windows=4).info["stream"]
  assert other.held_out != st.held_out
  assert st.tokens == c.tokens - sum(LENGTHS[d] + 1 for d in st.held_out)


def test_one_epoch_reads_every_training_window_once_then_reshuffles(pos):
  st = K.train_stream(str(pos), seed=0, context=8, eval_windows=4)
  c = C.open_corpus(pos)
  train = [d for d in range(c.n_docs) if d not in st.held_out]
  stream = np.concatenate([c.read(c.document(d)[0], c.document(d)[1] + 1) for d in train])
  want = [stream[w * 8 : w * 8 + 9].tobytes() for w in range(st.n_windows)]
  ds = K.batches(st, global_batch=1, seed=5)
  rows = [ds[p] for p in range(2 * len(want))]
  got = [np.concatenate([r["x"][0], r["y"][0, -1:]]).astype(stream.dtype).tobytes() for r in rows]
  assert sorted(got[: len(want)]) == sorted(want) == sorted(got[len(want) :])
  assert got[: len(want)] != want and got[: len(want)] != got[len(want) :]  # shuffled, differently per epoch


@pytest.mark.parametrize("prefetch", [0, 2])
def test_resume_at_step_k_reads_exactly_the_tail(pos, prefetch):
  st = K.train_stream(str(pos), seed=0, context=8, eval_windows=4)
  kw = dict(global_batch=8, seed=3, process_index=0, process_count=1, prefetch=prefetch)
  full = take(K.train_batches(st, **kw), 30)  # several epochs (st.n_windows < 100)
  tail = take(K.train_batches(st, start_step=17, **kw), 13)
  assert all(np.array_equal(a[k], b[k]) for a, b in zip(full[17:], tail) for k in ("x", "y"))
  assert not np.array_equal(full[0]["x"], take(K.train_batches(st, **{**kw, "seed": 4}), 1)[0]["x"])


@pytest.mark.parametrize("hosts", [2, 4])
def test_host_slices_are_disjoint_and_tile_the_global_batch(pos, hosts):
  st = K.train_stream(str(pos), seed=0, context=8, eval_windows=4)
  glob = take(K.train_batches(st, global_batch=8, seed=1, process_index=0, process_count=1, prefetch=0), 6)
  kw = dict(global_batch=8, seed=1, process_count=hosts)
  per = [take(K.train_batches(st, process_index=h, **kw), 6) for h in range(hosts)]
  for s in range(6):
    parts = [p[s]["x"] for p in per]
    assert all(x.shape == (8 // hosts, 8) for x in parts)
    assert np.array_equal(np.concatenate(parts), glob[s]["x"])
    assert len({r.tobytes() for r in glob[s]["x"]}) == 8  # distinct windows (one epoch holds more than 8)
  with pytest.raises(ValueError, match="multiple of process_count"):
    K.batches(st, global_batch=6, seed=0, process_count=4)


def test_a_corpus_changed_after_the_split_is_refused(pos):
  st = K.train_stream(str(pos), seed=0, context=8, eval_windows=4)
  i = json.loads((pos / "index.json").read_text())
  (pos / "index.json").write_text(json.dumps({**i, "note": 1}))
  with pytest.raises(ValueError, match="the corpus changed since its split was made"):
    K.batches(st, global_batch=2, seed=0)


def test_tokens_loads_through_the_run_loop_path_and_others_are_unaffected(folder, tmp_path):
  from scalezoo.train import loop
  from scalezoo.train.config import ConfigError, RunConfig

  T.tokenize(folder, tmp_path / "c")
  cfg = RunConfig(model="gpt", data="tokens", data_args={"path": str(tmp_path / "c"), "context": 16})
  s = loop.load_split(cfg)
  assert s.train == {} and s.info["stream"].context == 16 and s.info["vocab_size"] == 257
  assert loop.model_args(cfg, s.info)["vocab"] == 257  # the model takes its vocabulary from the corpus
  assert K.tokens_seen(10, 8, 16) == 1280
  with pytest.raises(ConfigError, match="no corpus index"):
    loop.load_split_checked(cfg.replace(data_args={"path": str(tmp_path)}))
  with pytest.raises(ValueError, match="n_train and noise do not apply"):
    data.load("tokens", path=str(tmp_path / "c"), n_train=10)
  t = data.load("text", path=str(folder), context=16)  # the in-memory byte sets keep their windows
  assert len(t.train["x"]) > 0 and "stream" not in t.info


# ---------------------------------------------------------------- the command
def test_cli_tokenize_and_its_bad_input(folder, tmp_path, capsys):
  from scalezoo.cli import main

  assert main(["tokenize", str(folder), "--out", str(tmp_path / "c"), "--tokenizer", "bpe", "--vocab", "300"]) == 0
  assert C.open_corpus(tmp_path / "c").vocab_size <= 300
  assert "30 documents" in capsys.readouterr().out
  (tmp_path / "nothing").mkdir()
  (tmp_path / "blank").mkdir()
  (tmp_path / "blank" / "a.txt").write_text("\n  \n")
  other = tmp_path / "other"
  other.mkdir()
  (other / "x").write_text("x")
  cases = [
    ([str(tmp_path / "nope"), "--out", str(tmp_path / "d")], "no such file or folder"),
    ([str(tmp_path / "nothing"), "--out", str(tmp_path / "d")], "holds no non-empty file"),
    ([str(tmp_path / "blank" / "a.txt"), "--out", str(tmp_path / "d")], "holds no text"),
    ([str(folder), "--out", str(tmp_path / "d"), "--tokenizer", "bpe", "--vocab", "100"], "--vocab must be in"),
    ([str(folder), "--out", str(other)], "holds something other than this corpus"),
  ]
  for argv, msg in cases:
    assert main(["tokenize", *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and err.startswith("scalezoo tokenize: ")
  assert not (tmp_path / "d").exists() and os.listdir(other) == ["x"]


# ---------------------------------------------------------------- the bench's pieces (its numbers: scalezoo bench)
def test_bench_corpus_is_valid_and_the_loader_side_streams_what_it_says(tmp_path):
  from scalezoo.bench import loader

  index = loader.synthetic_corpus(tmp_path / "c", 50_000, vocab=1000, doc_tokens=400)
  c = C.open_corpus(tmp_path / "c", verify=True)
  assert 50_000 <= c.tokens < 50_000 + 600 and index["dtype"] == "uint16" and c.n_docs > 100
  r = loader.LoaderSide().stream(str(tmp_path / "c"), steps=5, context=64, global_batch=4, eval_windows=8)
  assert r["tokens"] == K.tokens_seen(5, 4, 64) and r["s"] > 0 and r["memory_mb"]["VmHWM"] > 0
