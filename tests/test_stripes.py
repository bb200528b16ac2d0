"""Shuffle stripes (`data.shuffle_stripes`, thesis_jax/data/shuffle.py):
the order of S > 1 stripes, and each process reading only its stripes'
rows while the processes' rows together are the 1-process batches."""
import numpy as np
import pytest

from conftest import tiny_config
from thesis_jax.data import batches, pipeline, shuffle, synthetic
from thesis_jax.errors import ConfigError


def _rows(ranges):
  return np.concatenate([np.arange(a, b) for a, b in ranges])


def test_stripe_order():
  n, br = 1037, 64                      # 16 full blocks + one of 13 rows
  for s, sizes in ((3, [345, 346, 346]), (4, [259, 259, 259, 260])):
    assert shuffle.stripe_sizes(n, br, s) == sizes      # equal +-1 row
    q = 16 // s                                          # whole blocks a stripe
    for epoch in (0, 1):
      ranges = shuffle.stripe_ranges(n, 7, epoch, br, s)
      assert np.array_equal(np.sort(np.concatenate([_rows(r) for r in ranges])),
                            np.arange(n))                # a partition of the rows
      per = max(400 // s // br, 1)                       # ranges a window
      for i in range(s):
        assert _rows(ranges[i]).size == sizes[i]
        assert all(a % br == 0 and b - a == br for a, b in ranges[i][:q])
        wins = list(shuffle.stripe_windows(n, 7, epoch, br, 400, s, i))
        assert len(wins) == -(-len(ranges[i]) // per) >= 2
        for w, rows in enumerate(wins):
          assert np.array_equal(np.sort(rows), np.sort(_rows(ranges[i][w * per:(w + 1) * per])))
    assert shuffle.stripe_ranges(n, 7, 0, br, s) != shuffle.stripe_ranges(n, 7, 1, br, s)
  assert shuffle.train_steps(n, 96, True, 3, br) == 345 // 32
  assert shuffle.train_steps(n, 96, False, 3, br) == -(-346 // 32)
  with pytest.raises(ConfigError, match=r"^phase1.trainer.batch_size=256 / data.shuffle_stripes=4 "
                     r"= 64 rows a step is more than a stripe holds \(37 of the 150 train events\)$"):
    shuffle.train_steps(150, 256, True, 4, 64)
  with pytest.raises(ConfigError, match=r"phase1.trainer.batch_size=66 is not divisible "
                     r"by data.shuffle_stripes=4"):
    shuffle.check_stripes(4, 66, 2)
  with pytest.raises(ConfigError, match=r"data.shuffle_stripes=3 is not a multiple of the 2 processes"):
    shuffle.check_stripes(3, 96, 2)


def _logged_rows(ev, br):
  class Rows(batches.MemoryRows):
    def take_steps(self, split, rows):     # every read, logged
      self.log.append(np.asarray(rows))
      yield self.take(split, rows)
  r = Rows({"train": ev}, br)
  r.log = []
  return r


def _spans(log, br):
  """{block: (first, last) row wanted} of the rows read (the span read)."""
  rows = np.concatenate(log)
  return {int(b): (int(rows[rows // br == b].min()), int(rows[rows // br == b].max()))
          for b in np.unique(rows // br)}


@pytest.mark.parametrize("s,procs", [(2, 2), (4, 2), (3, 3)])
def test_stripes_processes_read_disjoint_rows(s, procs):
  """S stripes over P processes: each process reads only its stripes' rows
  (disjoint spans of the file, together every row the epoch uses), and its
  rows side by side are the 1-process batches of the same S."""
  n, br, B = 1037, 64, 96
  ev = synthetic.make_events(n, 6, seed=0)
  ev = type(ev)(ev.ids, ev.cont, np.arange(n, dtype=np.float32)[:, None].repeat(2, 1))
  for drop_last in (True, False):
    src = _logged_rows(ev, br)
    one = list(batches.train_chunks(src, B, 3, 1, 4, 300, stripes=s, drop_last=drop_last))
    whole = np.concatenate([c["globals"][v, :, 0] for c, v in one])      # [steps, B]
    assert whole.shape == (shuffle.train_steps(n, B, drop_last, s, br), B)
    read_one = set(np.concatenate(src.log))
    assert read_one == set(range(n)) or drop_last   # drop_last: not the rest
    got, spans = [], []
    for p in range(procs):
      src = _logged_rows(ev, br)
      q = list(batches.train_chunks(src, B, 3, 1, 4, 300, p, procs, stripes=s,
                                    drop_last=drop_last))
      got.append(np.concatenate([c["globals"][v, :, 0] for c, v in q]))
      mine = range(p * s // procs, (p + 1) * s // procs)
      own = set(np.concatenate([_rows(shuffle.stripe_ranges(n, 3, 1, br, s)[i]) for i in mine]))
      assert set(np.concatenate(src.log)) <= own
      spans.append(_spans(src.log, br))
    np.testing.assert_array_equal(np.concatenate(got, axis=1), whole)
    for i in range(procs):             # no row of the file read twice
      for j in range(i):
        for b in spans[i].keys() & spans[j].keys():
          (a0, a1), (b0, b1) = spans[i][b], spans[j][b]
          assert a1 < b0 or b1 < a0
    assert len(set().union(*spans)) == len(_spans([np.array(sorted(read_one))], br))
    if not drop_last:                  # every row once with weight 1
      w = np.concatenate([c["weight"][v] for c, v in one])
      assert np.array_equal(np.sort(whole[w == 1]), np.arange(n))
      assert w.sum() == n


def test_shuffle_stripes_key(tmp_path):
  ds = pipeline.load_dataset(tiny_config(tmp_path, **{"data.shuffle_stripes": 2,
                                                      "data.block_rows": 100}).data)
  assert ds.stripes == 2
  rows = np.concatenate([c["globals"][v] for c, v in pipeline.epoch_stacks(ds, 64, 0, 0, 4)])
  assert rows.shape[0] == pipeline.epoch_steps(ds, 64)
  with pytest.raises(ConfigError, match="data.shuffle_stripes must be >= 1, got 0"):
    pipeline.load_dataset(tiny_config(tmp_path, **{"data.shuffle_stripes": 0}).data)


def test_bad_stripes_stop_training_before_a_run_folder(tmp_path):
  import thesis_jax
  from thesis_jax.train import resume
  c = tiny_config(tmp_path, **{"data.shuffle_stripes": 3, "phase1.trainer.batch_size": 64})
  with pytest.raises(ConfigError, match=r"^phase1.trainer.batch_size=64 is not "
                     r"divisible by data.shuffle_stripes=3$"):
    thesis_jax.train_model(c)
  assert list(tmp_path.iterdir()) == []
  assert not resume._safe("data.shuffle_stripes")    # part of the experiment
