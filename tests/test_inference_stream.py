"""Inference read and scored block by block (reports/inference/stream_scores.py):
baselines fitted in one streaming pass equal the in-memory fit bit for bit,
every event is scored exactly once, block 0 is corrupted exactly as a split
scored in one piece. Fast: no model (a numpy score function)."""
import dataclasses

import h5py
import numpy as np
import pytest

from thesis_jax.data import h5
from thesis_jax.data.layout import Events, join_rows
from thesis_jax.data.synthetic import make_events
from thesis_jax.reports.inference import corruptions
from thesis_jax.reports.inference.baselines import ALPHA, MET_BINS, Baselines
from thesis_jax.reports.inference.figures import thin_curve
from thesis_jax.reports.inference.metrics import roc_curve
from thesis_jax.reports.inference.stream_scores import (changed, file_blocks,
                                                        memory_blocks,
                                                        score_blocks)


def reference_fit(train: Events, met_bins: int = MET_BINS):
  """`Baselines.fit` as it was before streaming (whole split in memory)."""
  t = train.n_tokens
  mult = np.bincount(train.mask.sum(1), minlength=t + 1)
  k = max(int(train.ids.max()), 1)
  counts = (train.ids[..., None] == np.arange(1, k + 1)).sum(1)
  hist = np.stack([np.bincount(counts[:, j], minlength=t + 1) for j in range(k)])
  unseen = np.zeros(t + 1, np.int64)
  unseen[0] = len(train)
  met = train.globals[:, 0].astype(np.float64)
  edges = np.unique(np.quantile(met, np.linspace(0, 1, met_bins + 1)))
  if edges.size < 2:
    edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
  mcount = np.histogram(met, edges)[0].astype(np.float64)
  width = np.diff(edges)
  denom = mcount.sum() + ALPHA * width.size
  nll = lambda c: -np.log((c + ALPHA) / (c + ALPHA).sum(-1, keepdims=True))
  return Baselines(t, nll(mult), nll(hist), nll(unseen), edges,
                   -np.log((mcount + ALPHA) / denom / width),
                   -np.log(ALPHA / denom / np.array([width[0], width[-1]])))


def _late_types(n=1000):
  """Synthetic events whose first 300 only use type ids 1-2 (so later
  blocks bring new types: the histogram must grow) and one type-9 token."""
  ev = make_events(n, 18, seed=4)
  ids = ev.ids.copy()
  ids[:300] = np.where(ids[:300] > 2, 1, ids[:300])
  ids[700, 0] = 9
  return Events(ids, ev.cont, ev.globals)


@pytest.mark.parametrize("rows", [1, 7, 64, 1000])
@pytest.mark.parametrize("preallocate", [True, False])
def test_streamed_baselines_equal_in_memory_fit(rows, preallocate):
  ev = _late_types()
  blocks = memory_blocks(ev, rows, "mem")
  got = Baselines.fit_blocks(blocks.events(),
                             n_events=len(ev) if preallocate else 0)
  ref = reference_fit(ev)
  for f in dataclasses.fields(Baselines):
    a, b = getattr(got, f.name), getattr(ref, f.name)
    assert np.array_equal(a, b), f.name               # bit for bit
  assert got.type_nll.shape == (9, 19)
  assert Baselines.fit(ev).met_edges.tobytes() == ref.met_edges.tobytes()


def test_streamed_baselines_constant_met():
  ev = make_events(200, 18, seed=1)
  ev = Events(ev.ids, ev.cont, np.full_like(ev.globals, 30.0))
  got = Baselines.fit_blocks(memory_blocks(ev, 16, "mem").events())
  np.testing.assert_array_equal(got.met_edges, [29.5, 30.5])
  np.testing.assert_array_equal(got.met_nll, reference_fit(ev).met_nll)


def _score(ev):
  """A per-event 'model': float64 [N] scores that depend on every field and
  on the token order."""
  slot = np.arange(1, ev.n_tokens + 1)
  return {"met": ev.globals[:, 0].astype(np.float64),
          "sum": (ev.cont.astype(np.float64).sum(2) * slot).sum(1)
                 + (ev.ids * slot).sum(1)}


@pytest.fixture
def chunked(tmp_path):
  """500 events in an HDF5 file chunked by 16 rows."""
  ev = make_events(500, 18, seed=2)
  path = tmp_path / "chunked.h5"
  with h5py.File(path, "w") as f:
    f.create_dataset("X_test", data=join_rows(ev), chunks=(16, 92))
  return str(path), ev


def test_file_blocks_score_every_event_once(chunked):
  path, ev = chunked
  with h5.SplitFile(path, {"test": "X_test"}, 18, read_rows=50) as f:
    capped = file_blocks(f, "test", 130)              # inference.max_events
    list(capped)
    assert "test" not in f.validated      # rows 130-499 were never checked
    blocks = file_blocks(f, "test")
    assert blocks.rows == 64 and len(blocks) == 500   # rounded to 16-row chunks
    seen = [(i, a, len(b)) for i, a, b in blocks]
    assert "test" in f.validated          # later passes skip the checks
    assert [s[1] for s in seen] == list(range(0, 500, 64))
    assert sum(s[2] for s in seen) == 500
    got, moved = score_blocks(blocks, _score)
    assert moved is None
    for k, v in _score(ev).items():
      np.testing.assert_array_equal(got[k], v)
    capped = file_blocks(f, "test", 130)              # inference.max_events
    got, _ = score_blocks(capped, _score)
    np.testing.assert_array_equal(got["sum"], _score(ev)["sum"][:130])
    np.testing.assert_array_equal(capped.head(2048).ids, ev.ids[:130])


@pytest.mark.parametrize("name", ["gaussian_noise", "token_shuffle",
                                  "drop_tokens", "met_scramble"])
def test_block_corruptions(name):
  ev = make_events(300, 18, seed=3)
  whole = corruptions.apply(name, ev, 0.5, 7)
  # One block: exactly the corruption of the split in one piece.
  got, moved = score_blocks(memory_blocks(ev, 1000, "mem"), _score,
                            corrupt=(name, 0.5, 7))
  for k, v in _score(whole).items():
    np.testing.assert_array_equal(got[k], v)
  np.testing.assert_array_equal(moved, changed(ev, whole))
  # Several blocks: block 0 as before, block b > 0 with its own stream.
  got, moved = score_blocks(memory_blocks(ev, 64, "mem"), _score,
                            corrupt=(name, 0.5, 7))
  parts = [corruptions.apply(name, ev.take(np.arange(a, min(a + 64, 300))),
                             0.5, 7, block=i)
           for i, a in enumerate(range(0, 300, 64))]
  ref = {k: np.concatenate([_score(p)[k] for p in parts]) for k in got}
  for k in got:
    np.testing.assert_array_equal(got[k], ref[k])
  assert any(not np.array_equal(got[k], v) for k, v in _score(whole).items())
  np.testing.assert_array_equal(
      moved, np.concatenate([changed(ev.take(np.arange(a, a + len(p))), p)
                             for a, p in zip(range(0, 300, 64), parts)]))
  assert 0.2 < moved.mean() <= 1.0


def test_block_rng_streams():
  a = corruptions.make_rng(7, "x", 0.5).random(3)     # block 0: as before
  np.testing.assert_array_equal(a, np.random.default_rng(
      [7, corruptions.zlib.crc32(b"x"), 500000]).random(3))
  assert not np.array_equal(a, corruptions.make_rng(7, "x", 0.5, 1).random(3))
  assert not np.array_equal(corruptions.make_rng(7, "x", 0.5, 1).random(3),
                            corruptions.make_rng(7, "x", 0.5, 2).random(3))


def test_thin_curve_keeps_small_curves_and_shape():
  rng = np.random.default_rng(0)
  eb, es, _ = roc_curve(rng.normal(size=500), rng.normal(0.5, 1, 500))
  a, b = thin_curve(eb, es)
  assert a is eb and b is es                          # small: untouched
  eb, es, _ = roc_curve(rng.normal(size=40000), rng.normal(0.5, 1, 40000))
  a, b = thin_curve(eb, es, 500)
  assert a.size <= 3000 and (a[0], b[0], a[-1], b[-1]) == (0, 0, 1, 1)
  # Every dropped point lies within 1/500 of the kept staircase.
  j = np.searchsorted(a, eb, side="right") - 1
  assert np.abs(b[j] - es).max() < 3 / 500


def test_run_data_blocks_and_bad_row_in_a_later_block(tmp_path):
  """open_run_data: the scored split (capped by max_events) and the train
  split in blocks; a bad row in block 2 is the usual one-line DataError
  naming the row and where the path came from."""
  from types import SimpleNamespace
  from configs.default import get_config
  from configs.reports.inference_defaults import inference_config
  from contextlib import ExitStack
  from thesis_jax.errors import ConfigError, DataError
  from thesis_jax.reports.inference.stream_scores import open_run_data
  rows = {k: join_rows(make_events(n, 18, seed=i))
          for i, (k, n) in enumerate([("X_train", 200), ("X_val", 50),
                                      ("X_test", 300)])}
  rows["X_test"][130, 30] = np.nan
  path = tmp_path / "bad.h5"
  with h5py.File(path, "w") as f:
    for k, v in rows.items():
      f.create_dataset(k, data=v, chunks=(16, 92))
  loaded = SimpleNamespace(config=SimpleNamespace(data=get_config().data),
                           run_dir="runs/run_x")
  cfg = inference_config()
  cfg.data_path, cfg.block_rows, cfg.max_events = str(path), 64, 100
  with ExitStack() as stack:
    scored, train, source = open_run_data(loaded, cfg, stack)
    assert (len(scored), scored.rows, len(train), source) == (100, 64, 200,
                                                               str(path))
    got, _ = score_blocks(scored, _score)             # rows < 130: fine
    assert got["met"].size == 100
    cfg.max_events = 0
    scored, _, _ = open_run_data(loaded, cfg, stack)
    with pytest.raises(DataError, match=r"^run runs/run_x: .*X_test: 1 "
                       r"non-finite .* row 130.*comes from inference.data_path"):
      score_blocks(scored, _score)
    cfg.split = "nope"
    with pytest.raises(ConfigError, match="inference.split"):
      open_run_data(loaded, cfg, stack)
