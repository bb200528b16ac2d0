"""pack_stack (padding-free batch stacks) against a per-event Python reference."""
import numpy as np
import pytest

from thesis_jax.data.packing import capacity_bucket, pack_stack, padding_features
from thesis_jax.data.pipeline import train_stack
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.synthetic import make_events


def _stack(n=96, t=7, b=16, seed=0):
  ev = make_events(n, t, seed)
  ev = Normalizer.fit(ev).apply(ev)
  return train_stack(ev, b, seed=1, epoch=0)


def test_capacity_buckets():
  assert [capacity_bucket(n) for n in (0, 1, 8, 9, 15, 16, 17, 420, 449)] == \
      [8, 8, 8, 9, 15, 16, 18, 448, 480]
  n = np.arange(1, 5000)
  c = np.array([capacity_bucket(x) for x in n])
  assert (c >= n).all() and (c <= np.maximum(n * 1.125 + 1, 8)).all()
  assert len(set(c[(n > 1024) & (n <= 2048)])) == 8    # 8 per octave


def test_pack_stack_matches_per_event_reference():
  st = _stack()
  pk = pack_stack(st)
  s, b, t = st["ids"].shape
  cap = pk["tok_ids"].shape[1]
  assert cap == capacity_bucket((st["ids"] > 0).reshape(s, -1).sum(1).max())
  for k in ("ids", "globals", "weight"):
    np.testing.assert_array_equal(pk[k], st[k])
  assert "cont" not in pk
  for i in range(s):
    ids, seg, cont = [], [], []
    for e in range(b):
      for j in range(t):
        if st["ids"][i, e, j] > 0:
          ids.append(st["ids"][i, e, j]); seg.append(e); cont.append(st["cont"][i, e, j])
    n = len(ids)
    np.testing.assert_array_equal(pk["tok_ids"][i, :n], ids)
    np.testing.assert_array_equal(pk["tok_seg"][i, :n], seg)
    np.testing.assert_array_equal(pk["tok_cont"][i, :n], np.array(cont))
    assert (pk["tok_ids"][i, n:] == 0).all() and (pk["tok_seg"][i, n:] == b).all()
    pad = st["cont"][i][st["ids"][i] == 0]
    np.testing.assert_array_equal(pk["pad_cont"][i], pad[0])
    np.testing.assert_array_equal(pk["tok_cont"][i, n:],
                                  np.broadcast_to(pad[0], (cap - n, 4)))


def test_pack_stack_rejects_unequal_padding_and_small_capacity():
  st = _stack()
  assert padding_features(st["ids"], st["cont"]) is not None
  bad = dict(st, cont=st["cont"].copy())
  e, j = np.argwhere(st["ids"][2] == 0)[3]
  bad["cont"][2, e, j, 1] += 1.0
  assert padding_features(bad["ids"], bad["cont"]) is None
  with pytest.raises(ValueError, match="step 2 has other features"):
    pack_stack(bad)
  with pytest.raises(ValueError, match="capacity 8"):
    pack_stack(st, capacity=8)


def test_full_step_without_padding():
  ids = np.ones((2, 3, 4), np.int32)
  ids[1, 0, 2:] = 0
  cont = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
  cont[1, 0, 2:] = 0.5
  pk = pack_stack({"ids": ids, "cont": cont, "weight": np.ones((2, 3))})
  assert pk["tok_ids"].shape == (2, 12)
  np.testing.assert_array_equal(pk["pad_cont"], [[0] * 4, [0.5] * 4])
  np.testing.assert_array_equal(pk["tok_seg"][1], [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
