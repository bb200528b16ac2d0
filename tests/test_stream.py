"""Streaming HDF5 reader: same batches, statistics and errors as in memory;
two-level shuffle; automatic reader choice; the synthetic file writer."""
import h5py
import numpy as np
import pytest

from conftest import tiny_config
from thesis_jax.data import batches, h5, pipeline, synthetic
from thesis_jax.data.layout import join_rows
from thesis_jax.data.normalization import Moments, Normalizer
from thesis_jax.data.stream import prefetch
from thesis_jax.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def syn_file(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("stream") / "syn.h5")
  counts = synthetic.write_h5(path, 3000, seed=3, chunk_rows=100,
                              compression="lzf")
  assert counts == {"train": 2400, "val": 300, "test": 300}
  return path


def data_cfg(path, tmp_path, **kw):
  kw = {"data.path": path, "data.block_rows": 250, "data.shuffle_buffer": 700,
        **kw}
  return tiny_config(tmp_path, **kw).data


def assert_same_chunks(xs, ys):
  xs, ys = list(xs), list(ys)
  assert len(xs) == len(ys) > 0
  for (x, vx), (y, vy) in zip(xs, ys):
    np.testing.assert_array_equal(vx, vy)
    assert x.keys() == y.keys() == {"ids", "cont", "globals", "weight"}
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


def test_stream_equals_memory(syn_file, tmp_path):
  mem = pipeline.load_dataset(data_cfg(syn_file, tmp_path, **{"data.reader": "memory"}))
  st = pipeline.load_dataset(data_cfg(syn_file, tmp_path, **{"data.reader": "stream"}))
  assert (mem.reader, st.reader) == ("memory", "stream")
  assert pipeline.split_sizes(mem) == pipeline.split_sizes(st) == {"train": 2400, "val": 300, "test": 300}
  assert st.rows.block_rows["train"] == 300        # 250 rounded up to chunks of 100
  assert mem.num_types == st.num_types == 6
  assert mem.norm.to_dict() == st.norm.to_dict()   # bit-identical statistics
  np.testing.assert_array_equal(mem.splits["val"].cont[:300], st.splits["val"].cont)
  # data.shuffle_stripes S > 1: 4 or 2 windows a stripe; blocks of 500 rows
  # leave a partial block that the stripes share (S=2: 200 rows each)
  big = {k: pipeline.load_dataset(data_cfg(syn_file, tmp_path, **{
      "data.reader": k, "data.block_rows": 500})) for k in ("memory", "stream")}
  for stripes, (m, s) in ((1, (mem, st)), (2, (mem, st)), (4, (mem, st)),
                          (2, big.values()), (4, big.values())):
    m.stripes = s.stripes = stripes
    for p, n in ((0, 1), (0, 2), (1, 2)):
      for drop_last in (True, False):
        assert_same_chunks(pipeline.epoch_stacks(m, 64, 5, 2, 8, p, n, drop_last),
                           pipeline.epoch_stacks(s, 64, 5, 2, 8, p, n, drop_last))
  for p, n in ((0, 1), (0, 2), (1, 2)):
    assert_same_chunks(pipeline.eval_stacks(mem, "test", 64, 3, p, n),
                       pipeline.eval_stacks(st, "test", 64, 3, p, n))


def test_two_level_shuffle():
  n, block, buf = 1000, 64, 200
  wins = list(batches.shuffle_windows(n, 1, 4, block, buf))
  order = np.concatenate(wins)
  assert np.array_equal(np.sort(order), np.arange(n))          # a permutation
  blocks = [np.unique(w // block) for w in wins]               # 16 blocks,
  assert [b.size for b in blocks] == [3, 3, 3, 3, 3, 1]        # 3 per window
  for w, b in zip(wins, blocks):                               # whole blocks
    assert w.size == sum(min(block, n - i * block) for i in b)
  again = np.concatenate(list(batches.shuffle_windows(n, 1, 4, block, buf)))
  other = np.concatenate(list(batches.shuffle_windows(n, 1, 5, block, buf)))
  assert np.array_equal(order, again) and not np.array_equal(order, other)
  small = next(batches.shuffle_windows(n, 1, 4, block, n))     # fits: one permutation
  assert np.array_equal(small, np.random.default_rng([1, 4]).permutation(n))


def test_processes_take_disjoint_rows_of_each_batch():
  ev = synthetic.make_events(1000, 6, seed=0)
  ev = type(ev)(ev.ids, ev.cont, np.arange(1000, dtype=np.float32)[:, None].repeat(2, 1))
  rows = batches.MemoryRows({"train": ev}, 64)
  one = list(batches.train_chunks(rows, 100, 3, 0, 4, 300))
  parts = [list(batches.train_chunks(rows, 100, 3, 0, 4, 300, p, 4)) for p in range(4)]
  whole = np.concatenate([c["globals"][v, :, 0] for c, v in one])       # [S, B]
  got = np.concatenate([np.concatenate([c["globals"][v, :, 0] for c, v in q])
                        for q in parts], axis=1)
  np.testing.assert_array_equal(got, whole)
  kept = list(batches.train_chunks(rows, 128, 3, 0, 4, 300, drop_last=False))
  w = np.concatenate([c["weight"][v] for c, v in kept])          # 8 batches
  assert w.shape == (8, 128) and w.sum() == 1000 and w[-1].sum() == 1000 - 7 * 128
  ids = [set(np.concatenate([c["globals"][v, :, 0] for c, v in q]).ravel()) for q in parts]
  assert all(not (ids[i] & ids[j]) for i in range(4) for j in range(i))
  assert sum(map(len, ids)) == 1000 // 100 * 100


def test_statistics_merge_blocks_to_float64_rounding():
  rng = np.random.default_rng(0)
  x = rng.normal(50.0, 20.0, (10_000, 4)) ** 2
  m = Moments(4)
  for a in range(0, len(x), 777):
    m.add(x[a:a + 777])
  np.testing.assert_allclose(m.mean, x.mean(0), rtol=1e-13)
  np.testing.assert_allclose(m.std(), x.std(0, ddof=1), rtol=1e-12)
  ev = synthetic.make_events(500, 18, seed=2)     # float32 results: numpy's
  flat = ev.cont.reshape(-1, 4).astype(np.float64)
  norm = Normalizer.fit(ev)
  np.testing.assert_array_equal(norm.cont_mean, flat.mean(0).astype(np.float32))
  np.testing.assert_array_equal(norm.cont_std, flat.std(0, ddof=1).astype(np.float32))
  g = ev.globals.astype(np.float64)
  np.testing.assert_array_equal(norm.glob_std, g.std(0, ddof=1).astype(np.float32))


@pytest.mark.parametrize("reader", ["memory", "stream"])
def test_bad_row_in_a_later_block_is_named(tmp_path, reader):
  rows = join_rows(synthetic.make_events(40, 18, seed=0))
  bad = rows.copy()
  bad[33, 50] = np.nan
  path = str(tmp_path / "bad.h5")
  with h5py.File(path, "w") as f:
    f.create_dataset("X_train", data=rows, chunks=(8, rows.shape[1]))
    f.create_dataset("X_val", data=bad, chunks=(8, rows.shape[1]))
    f["X_test"] = rows
  cfg = data_cfg(path, tmp_path, **{"data.reader": reader, "data.block_rows": 8})
  with pytest.raises(DataError, match=r"bad\.h5:X_val: 1 non-finite values "
                     r"\(NaN/inf\), first at row 33, column 50"):
    pipeline.load_dataset(cfg)


def test_rows_validated_at_startup_are_not_revalidated_per_epoch(
    syn_file, tmp_path, monkeypatch):
  checked = []   # (where, first row, rows) of every validate_rows call
  real = h5.validate_rows
  monkeypatch.setattr(h5, "validate_rows", lambda rows, t, where, row_offset=0:
                      (checked.append((where, row_offset, len(rows))),
                       real(rows, t, where, row_offset))[1])
  st = pipeline.load_dataset(data_cfg(syn_file, tmp_path, **{"data.reader": "stream"}))
  assert st.rows.file.validated == {"train", "val", "test"}
  for split, n in (("train", 2400), ("val", 300), ("test", 300)):   # each row once
    where = st.rows.file.where(split)
    assert sum(k for w, _, k in checked if w == where) == n, split
  checked.clear()
  for epoch in (0, 1):
    assert len(list(pipeline.epoch_stacks(st, 64, 5, epoch, 8))) > 0
  assert len(list(pipeline.eval_stacks(st, "val", 64, 3))) > 0
  assert checked == []
  # A file nobody has scanned is still checked on every read.
  with h5.SplitFile(syn_file, {"train": "X_train"}, 18) as f:
    f.read("train", 0, 10)
    assert checked == [(f"{syn_file}:X_train", 0, 10)]


def test_auto_reader_by_size(syn_file, tmp_path):
  per_event = pipeline.memory_bytes(1, 18)
  assert per_event == 2 * (20 * 18 + 8)
  gb = 3000 * per_event / 1e9
  cfg = data_cfg(syn_file, tmp_path, **{"data.stream_above_gb": gb})
  assert pipeline.load_dataset(cfg).reader == "memory"          # at the threshold
  cfg = data_cfg(syn_file, tmp_path, **{"data.stream_above_gb": gb * 0.99})
  assert pipeline.load_dataset(cfg).reader == "stream"
  with pytest.raises(ConfigError, match="data.reader must be one of auto, memory, stream"):
    pipeline.load_dataset(data_cfg(syn_file, tmp_path, **{"data.reader": "disk"}))


def test_write_h5_layout_and_determinism(tmp_path):
  a, b = str(tmp_path / "a.h5"), str(tmp_path / "b.h5")
  synthetic.write_h5(a, 500, seed=1, chunk_rows=64, compression="gzip")
  synthetic.write_h5(b, 500, seed=1, chunk_rows=64)
  with h5py.File(a) as fa, h5py.File(b) as fb:
    assert fa["X_train"].chunks == (64, 92) and fa["X_train"].compression == "gzip"
    assert fb["X_train"].compression is None
    for k in ("X_train", "X_val", "X_test"):
      np.testing.assert_array_equal(fa[k][()], fb[k][()])
    assert fa["X_val"].shape == (50, 92)
  with pytest.raises(ConfigError, match="compression must be one of"):
    synthetic.write_h5(str(tmp_path / "c.h5"), 10, compression="zstd")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5"]


def test_prefetch_passes_items_and_errors():
  assert list(prefetch(iter(range(5)))) == [0, 1, 2, 3, 4]

  def broken():
    yield 1
    raise DataError("x.h5:X_train: bad row 7")
  it = prefetch(broken())
  assert next(it) == 1
  with pytest.raises(DataError, match="bad row 7"):
    next(it)
  early = prefetch(iter(range(100)), depth=1)
  assert next(early) == 0
  early.close()                       # the consumer stops: the thread ends


@pytest.mark.slow
def test_training_streamed_equals_in_memory(syn_file, tmp_path):
  import thesis_jax
  res = {}
  for reader in ("memory", "stream"):
    c = tiny_config(tmp_path / reader, **{
        "data.path": syn_file, "data.reader": reader, "data.block_rows": 250,
        "data.shuffle_buffer": 700, "phase1.trainer.epochs": 2,
        "phase1.trainer.batch_size": 64, "phase1.trainer.steps_per_dispatch": 8})
    res[reader] = thesis_jax.train_model(c)
  a, b = res["memory"], res["stream"]
  for key in ("train_loss", "val_loss", "rec_tokens", "perplex"):
    assert a.histories[key] == b.histories[key], key
  assert a.test == b.test
  assert len(a.histories["train_loss"]) == 2 and np.isfinite(a.test_loss)


def test_next_window_is_read_while_the_current_one_is_used():
  """Double buffering: the next window's blocks are read one per chunk."""
  ev = synthetic.make_events(1200, 6, seed=0)
  log = []

  class Rows(batches.MemoryRows):
    def take_steps(self, split, rows):
      for b in np.unique(rows // 100):
        log.append(("read", int(b)))
        yield None
      yield self.take(split, rows)

  rows = Rows({"train": ev}, 100)
  chunks = []
  for c, v in batches.train_chunks(rows, 50, 0, 0, 1, 400):  # 3 windows x 4 blocks
    chunks.append(c)
    log.append(("chunk", len(chunks)))
  kinds = [k for k, _ in log]
  assert kinds.count("read") == 12 and kinds.count("chunk") == 24
  # window 1 is read before the first chunk; windows 2 and 3 one block per
  # chunk afterwards, never four reads in a row
  assert kinds[:4] == ["read"] * 4 and kinds[4] == "chunk"
  assert "read,read" not in ",".join(kinds[4:])
  ref = batches.MemoryRows({"train": ev}, 100)
  assert_same_chunks(((c, np.ones(1, bool)) for c in chunks),
                     batches.train_chunks(ref, 50, 0, 0, 1, 400))


def test_make_synthetic_command(tmp_path, capsys):
  from experiments import make_synthetic
  out = str(tmp_path / "s.h5")
  make_synthetic.main(["--events", "1000", "--out", out, "--compression", "lzf",
                       "--seed", "3"])
  with h5py.File(out, "r") as f:
    assert {k: f[k].shape for k in f} == {"X_train": (800, 92), "X_val": (100, 92),
                                          "X_test": (100, 92)}
    assert f["X_train"].compression == "lzf"
  assert "train 800 / val 100 / test 100 events" in capsys.readouterr().out
  with pytest.raises(SystemExit) as e:
    make_synthetic.main(["--events", "1", "--out", str(tmp_path / "t.h5")])
  assert e.value.code == 2 and not (tmp_path / "t.h5").exists()
  assert capsys.readouterr().err.strip() == (
      "error: --events=1 leaves an empty split (val_frac=0.1, test_frac=0.1)")
