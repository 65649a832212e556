import gzip
import sys

import numpy as np
import pytest

from scalezoo import data
from scalezoo.data import bytelm, idx, pycode, random_features

SMALL = {  # name -> options small enough for the whole file to stay fast
  "digits": {},
  "pycode": {"max_bytes": 200_000, "context": 64},
  "teacher_student": {"n": 2000, "dim": 8},
  "random_features": {"n": 1000, "dim": 20},
  "copy": {"n": 1000, "length": 5},
  "reverse": {"n": 1000, "length": 5},
  "addition": {"n": 1000, "length": 4, "vocab": 10},
  "seq2seq": {"n": 1000},
  "karate": {},
  "sbm": {},
}
SBM_GRAPHS = {"graphs": True, "num_graphs": 300}
BUILTIN = [n for n in data.names() if n not in ("idx", "npz", "text", "mnist1d", "tokens")]  # tokens: test_tokens


def clear_caches():
  for mod in list(sys.modules.values()):
    if getattr(mod, "__name__", "").startswith("scalezoo.data."):
      for f in vars(mod).values():
        if hasattr(f, "cache_clear"):
          f.cache_clear()


def rows(a: np.ndarray) -> set[bytes]:
  return {r.tobytes() for r in a.reshape(len(a), -1)}


def test_every_builtin_set_has_small_options():
  assert sorted(SMALL) == sorted(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_shapes_dtypes_and_info(name):
  s = data.load(name, seed=0, **SMALL[name])
  assert s.task in ("classification", "regression", "lm", "seq_labeling", "seq2seq", "node_classification")
  assert tuple(s.info["input_shape"]) == s.train["x"].shape[1:]
  for part in (s.train, s.val, s.test):
    assert {"x", "y"} <= set(part) and len({len(v) for v in part.values()}) == 1
    assert {k: v.shape[1:] for k, v in part.items()} == {k: v.shape[1:] for k, v in s.train.items()}
  if s.task in ("lm", "seq_labeling", "seq2seq"):
    assert s.train["x"].dtype == s.train["y"].dtype == np.int32
    assert 0 <= s.train["x"].min() and s.train["x"].max() < s.info["vocab_size"]
    assert s.train["y"].max() < s.info["vocab_size"]
  if s.task in ("classification", "node_classification"):
    assert s.train["y"].dtype == np.int32 and s.train["y"].max() < s.info["num_classes"]
  if s.task in ("classification", "regression", "seq_labeling", "seq2seq"):  # 70/15/15 of distinct examples
    n = [len(p["x"]) for p in (s.train, s.val, s.test)]
    assert abs(n[1] / sum(n) - 0.15) < 0.01 and abs(n[2] / sum(n) - 0.15) < 0.01
    assert not rows(s.train["x"]) & rows(s.val["x"]) and not rows(s.train["x"]) & rows(s.test["x"])
    assert not rows(s.val["x"]) & rows(s.test["x"])


@pytest.mark.parametrize("name", BUILTIN)
def test_deterministic_and_seed_driven(name):
  a = data.load(name, seed=3, **SMALL[name])
  clear_caches()  # regenerate from scratch: the arrays come from the seed, not from a cache
  b = data.load(name, seed=3, **SMALL[name])
  c = data.load(name, seed=4, **SMALL[name])
  for p, q in zip((a.train, a.val, a.test), (b.train, b.val, b.test)):
    assert p.keys() == q.keys() and all(np.array_equal(p[k], q[k]) for k in p)
  key = "train_mask" if "train_mask" in a.train else "x"
  assert not np.array_equal(a.train[key], c.train[key])
  assert a.info == b.info


def test_digits_layouts_stratified_and_scaled():
  s = data.load("digits", seed=0)
  assert s.train["x"].shape == (1259, 8, 8, 1) and s.train["x"].dtype == np.float32
  assert 0 <= s.train["x"].min() and s.train["x"].max() == 1
  assert data.load("digits", seed=0, flat=True).train["x"].shape == (1259, 64)
  big = data.load("digits", seed=0, size=32).train["x"]
  assert big.shape == (1259, 32, 32, 1) and np.array_equal(big[:, ::4, ::4], s.train["x"])
  total = np.bincount(np.concatenate([s.train["y"], s.val["y"], s.test["y"]]), minlength=10)
  for part, f in ((s.val, 0.15), (s.test, 0.15)):
    assert np.all(np.abs(np.bincount(part["y"], minlength=10) - f * total) <= 1)  # stratified to within one


def test_n_train_nests_and_leaves_val_test_alone():
  full = data.load("digits", seed=5)
  small, large = (data.load("digits", seed=5, n_train=n) for n in (200, 600))
  assert len(small.train["x"]) == 200 and rows(small.train["x"]) <= rows(large.train["x"]) <= rows(full.train["x"])
  noisy = data.load("digits", seed=5, n_train=200, noise=0.3)
  for s in (small, large, noisy):
    assert np.array_equal(s.val["x"], full.val["x"]) and np.array_equal(s.test["y"], full.test["y"])


@pytest.mark.parametrize("noise", [0.1, 0.5, 1.0])
def test_label_noise_flips_exactly_that_fraction_to_other_classes(noise):
  clean = data.load("teacher_student", seed=1, n_train=500, **SMALL["teacher_student"])
  noisy = data.load("teacher_student", seed=1, n_train=500, noise=noise, **SMALL["teacher_student"])
  assert np.array_equal(clean.train["x"], noisy.train["x"])
  changed = clean.train["y"] != noisy.train["y"]  # a flip always lands on another class
  assert changed.sum() == round(noise * 500) == noisy.info["noisy_labels"]
  assert noisy.train["y"].min() >= 0 and noisy.train["y"].max() < 10


def test_teacher_student_regression_and_nesting_in_n():
  s = data.load("teacher_student", seed=0, num_classes=0, noise_std=0.1, **SMALL["teacher_student"])
  assert s.task == "regression" and s.train["y"].dtype == np.float32 and s.train["y"].ndim == 1
  with pytest.raises(ValueError, match="label noise needs a classification"):
    data.load("teacher_student", noise=0.1, num_classes=0, n=100)
  from scalezoo.data.teacher_student import _generate

  assert np.array_equal(_generate(8, 100, 10, 0.0, 64, 2, 0)[0], _generate(8, 200, 10, 0.0, 64, 2, 0)[0][:100])


def test_random_features_min_norm_interpolates_past_n():
  s = data.load("random_features", seed=0, n_train=50, **SMALL["random_features"])
  x, y = s.train["x"], s.train["y"]
  for P, fits in ((20, False), (200, True)):
    phi = random_features.features(x, P)
    resid = np.abs(phi @ random_features.min_norm_fit(phi, y) - y).max()
    assert (resid < 1e-4) == fits


def test_sequence_tasks_are_solved_by_their_rule():
  for name in ("copy", "reverse"):
    s = data.load(name, seed=0, **SMALL[name])
    x, y, m = s.train["x"], s.train["y"], s.train["mask"].astype(bool)
    src = x[:, :5]
    assert np.array_equal(y[m].reshape(-1, 5), src if name == "copy" else src[:, ::-1])
    assert np.all(y[~m] == 0) and np.all(x[:, 5] == 1)
  s = data.load("addition", seed=0, **SMALL["addition"])
  x, y, m = s.train["x"], s.train["y"], s.train["mask"].astype(bool)
  num = lambda d: (d - 3) @ 10 ** np.arange(d.shape[1] - 1, -1, -1)
  assert np.array_equal(num(y[m].reshape(-1, 5)), num(x[:, :4]) + num(x[:, 5:9]))


def test_seq2seq_teacher_forcing_layout():
  s = data.load("seq2seq", seed=0, **SMALL["seq2seq"])
  x, y_in, y = s.train["x"], s.train["y_in"], s.train["y"]
  assert np.all(y_in[:, 0] == 1) and np.array_equal(y_in[:, 1:], np.where(y[:, :-1] == 2, 0, y[:, :-1]))
  for a in (x, y):  # exactly one EOS, then only padding
    assert np.all((a == 2).sum(1) == 1)
    assert np.all(a[np.arange(a.shape[1]) > (a == 2).argmax(1)[:, None]] == 0)
  assert s.info["vocab_size"] >= max(x.max(), y.max()) + 1


@pytest.mark.parametrize("name", ["karate", "sbm"])
def test_one_graph_node_split(name):
  s = data.load(name, seed=0, features="degree")
  g = s.train
  assert g["x"].shape[-1] == 2 and g["adj"].shape[1] == g["adj"].shape[2] == g["y"].shape[1]
  assert np.array_equal(g["adj"], g["adj"].transpose(0, 2, 1)) and np.all(np.diagonal(g["adj"], 0, 1, 2) == 0)
  masks = np.stack([g["train_mask"], g["val_mask"], g["test_mask"]]).astype(int)
  assert np.all(masks.sum(0) == 1) and all(np.array_equal(p["val_mask"], g["val_mask"]) for p in (s.val, s.test))
  if name == "karate":
    assert g["adj"].shape == (1, 34, 34) and g["adj"].sum() == 2 * 78 and np.bincount(g["y"][0]).tolist() == [17, 17]


def test_sbm_graph_classification_layout():
  s = data.load("sbm", seed=0, **SBM_GRAPHS)
  assert s.task == "graph_classification" and s.info["num_classes"] == 3
  assert [len(p["y"]) for p in (s.train, s.val, s.test)] == [210, 45, 45]
  a, m = s.train["adj"], s.train["mask"]
  assert a.shape == (210, 32, 32) and s.train["x"].shape == (210, 32, 2) and m.dtype == bool
  assert np.all(a * ~(m[:, :, None] & m[:, None, :]) == 0) and np.array_equal(a, a.transpose(0, 2, 1))
  degree = a.sum((1, 2)) / m.sum(1)
  means = [degree[s.train["y"] == c].mean() for c in range(3)]
  assert max(means) - min(means) < 0.5  # density is matched across classes: structure, not edge count, decides


def test_pycode_hash_stable_and_split_by_file():
  opts = SMALL["pycode"]
  a = data.load("pycode", seed=0, **opts)
  clear_caches()
  b = data.load("pycode", seed=0, **opts)
  assert a.info["sha256"] == b.info["sha256"] and len(a.info["sha256"]) == 64 and a.info["split_by"] == "document"
  assert 0 < a.info["bytes"] <= 200_000 and a.info["files"] > 20 and a.info["vocab_size"] == 256
  docs = pycode.corpus(200_000)
  st = pycode.streams(seed=0, max_bytes=200_000)
  assert [len(v) for v in st.values()] == a.info["split_bytes"] and sum(a.info["split_bytes"]) == a.info["bytes"]
  raw = {k: v.tobytes() for k, v in st.items()}
  for _, d in docs:
    if len(d) > 500:  # every file sits whole in exactly one split
      assert sum(d in r for r in raw.values()) == 1
  assert len(st["val"]) > 0 and len(st["test"]) > 0
  x, y = a.train["x"], a.train["y"]
  assert np.array_equal(x[:, 1:], y[:, :-1]) and np.array_equal(y[:-1, -1], x[1:, 0])
  assert np.array_equal(x.reshape(-1), st["train"][: x.size])
  assert data.load("pycode", seed=1, **opts).info["sha256"] == a.info["sha256"]  # seed moves the split only


def test_text_file_and_directory(tmp_path):
  words = [f"document {i}: " + "lorem ipsum dolor sit amet " * (i + 3) for i in range(25)]
  for i, w in enumerate(words):
    (tmp_path / f"doc{i:02d}.txt").write_text(w)
  (tmp_path / ".hidden").write_text("not read")
  s = data.load("text", seed=0, path=str(tmp_path), context=16)
  assert s.info["files"] == 25 and s.info["split_by"] == "document" and s.train["x"].shape[1] == 16
  assert s.info["bytes"] == sum(len(w) for w in words)
  one = tmp_path / "doc24.txt"
  s = data.load("text", seed=0, path=str(one), context=8)
  assert s.info["files"] == 1 and s.info["split_by"] == "segment" and len(s.val["x"]) > 0
  with pytest.raises(ValueError, match="no file or directory at .*nope"):
    data.load("text", path=str(tmp_path / "nope"))


def test_idx_round_trip_plain_and_gzip(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (60, 5, 4), dtype=np.uint8)
  labels = (np.arange(60) % 3).astype(np.uint8)
  for a in (images, labels, rng.normal(size=(3, 2)).astype(np.float32), np.arange(6, dtype=np.int32)):
    for gz in (False, True):
      p = tmp_path / f"a{a.dtype}{gz}.idx"
      idx.write_idx(str(p), a, compress=gz)
      assert np.array_equal(idx.read_idx(str(p)), a) and idx.read_idx(str(p)).dtype == a.dtype
  idx.write_idx(str(tmp_path / "x.gz"), images, compress=True)
  idx.write_idx(str(tmp_path / "y"), labels)
  s = data.load("idx", seed=0, images=str(tmp_path / "x.gz"), labels=str(tmp_path / "y"))
  assert s.train["x"].shape == (42, 5, 4, 1) and s.train["x"].dtype == np.float32 and s.train["x"].max() <= 1
  assert s.info["num_classes"] == 3 and [len(p["y"]) for p in (s.val, s.test)] == [9, 9]
  s = data.load(
    "idx",
    seed=0,
    images=str(tmp_path / "x.gz"),
    labels=str(tmp_path / "y"),
    test_images=str(tmp_path / "x.gz"),
    test_labels=str(tmp_path / "y"),
  )
  assert len(s.test["y"]) == 60 and len(s.train["y"]) + len(s.val["y"]) == 60
  (tmp_path / "bad").write_bytes(b"hello world")
  with pytest.raises(ValueError, match="is not an IDX file"):
    idx.read_idx(str(tmp_path / "bad"))
  (tmp_path / "short").write_bytes((tmp_path / "y").read_bytes()[:-1])
  with pytest.raises(ValueError, match="header says shape"):
    idx.read_idx(str(tmp_path / "short"))
  (tmp_path / "badgz").write_bytes(gzip.compress(b"\0\0\x08\x01")[:-4])
  with pytest.raises(ValueError, match="gzip"):
    idx.read_idx(str(tmp_path / "badgz"))
  with pytest.raises(ValueError, match="no file at .*missing"):
    data.load("idx", images=str(tmp_path / "missing"), labels=str(tmp_path / "y"))
  with pytest.raises(ValueError, match="needs options images="):
    data.load("idx", images=str(tmp_path / "y"))


def test_npz_user_files(tmp_path):
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(100, 3)).astype(np.float32), np.arange(100) % 4
  np.savez(tmp_path / "xy.npz", x=x, y=y)
  s = data.load("npz", seed=0, path=str(tmp_path / "xy.npz"))
  # 25 per class: round(3.75) = 4 each held out for val and test
  assert s.info["num_classes"] == 4 and [len(p["y"]) for p in (s.train, s.val, s.test)] == [68, 16, 16]
  assert s.train["y"].dtype == np.int32 and abs(float(s.train["x"].mean())) < 1e-6  # standardized
  np.savez(tmp_path / "reg.npz", x_train=x[:80], y_train=x[:80, 0], x_test=x[80:], y_test=x[80:, 0])
  s = data.load("npz", seed=0, path=str(tmp_path / "reg.npz"))
  assert s.task == "regression" and len(s.test["x"]) == 20 and len(s.train["x"]) + len(s.val["x"]) == 80
  np.savez(tmp_path / "odd.npz", inputs=x)
  with pytest.raises(ValueError, match=r"has arrays \['inputs'\]; expected a .npz with arrays x, y"):
    data.load("npz", path=str(tmp_path / "odd.npz"))
  (tmp_path / "junk.npz").write_text("not a zip")
  with pytest.raises(ValueError, match="cannot read .*junk.npz"):
    data.load("npz", path=str(tmp_path / "junk.npz"))
  with pytest.raises(ValueError, match="needs a path option"):
    data.load("npz")


def test_bytelm_windows_drop_only_the_tail():
  w = bytelm.windows(np.arange(10, dtype=np.uint8), 3)
  assert w["x"].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and w["y"][-1].tolist() == [7, 8, 9]


def test_unknown_option_is_a_clear_error():
  with pytest.raises(ValueError, match="has no option 'lenght'"):
    data.load("copy", lenght=3)
