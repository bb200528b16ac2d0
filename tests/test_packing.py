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


@pytest.mark.parametrize("shards", [1, 2])
def test_pack_stack_matches_per_event_reference(shards):
  st = _stack()
  pk = pack_stack(st, shards=shards)
  s, b, t = st["ids"].shape
  bl = b // shards
  n_shard = (st["ids"] > 0).reshape(s, shards, -1).sum(-1)
  cap = capacity_bucket(n_shard.max())
  assert pk["tok_ids"].shape == (s, shards * (cap + 1))
  for k in ("ids", "globals", "weight"):
    np.testing.assert_array_equal(pk[k], st[k])
  assert "cont" not in pk
  for i in range(s):
    pad = st["cont"][i][st["ids"][i] == 0][0]
    for d in range(shards):
      r0, ids, seg, cont, rows = d * (cap + 1), [], [], [], []
      for e in range(d * bl, (d + 1) * bl):
        assert pk["pad_row"][i, e] == r0 + cap
        for j in range(t):
          if st["ids"][i, e, j] > 0:
            rows.append(r0 + len(ids))
            ids.append(st["ids"][i, e, j]); seg.append(e); cont.append(st["cont"][i, e, j])
          else:
            rows.append(r0 + cap)
      n = len(ids)
      np.testing.assert_array_equal(pk["slot_row"][i, d * bl:(d + 1) * bl].reshape(-1), rows)
      blk = slice(r0, r0 + cap + 1)
      np.testing.assert_array_equal(pk["tok_ids"][i, blk], ids + [0] * (cap + 1 - n))
      np.testing.assert_array_equal(pk["tok_seg"][i, blk], seg + [b] * (cap + 1 - n))
      np.testing.assert_array_equal(
          pk["tok_cont"][i, blk], np.concatenate([np.array(cont).reshape(-1, 4),
                                                  np.broadcast_to(pad, (cap + 1 - n, 4))]))
    # every dense slot's features are those of its row
    np.testing.assert_array_equal(pk["tok_cont"][i][pk["slot_row"][i]], st["cont"][i])


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
  with pytest.raises(ValueError, match="not divisible"):
    pack_stack(st, shards=5)


def test_full_step_without_padding():
  ids = np.ones((2, 3, 4), np.int32)
  ids[1, 0, 2:] = 0
  cont = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
  cont[1, 0, 2:] = 0.5
  pk = pack_stack({"ids": ids, "cont": cont, "weight": np.ones((2, 3))})
  assert pk["tok_ids"].shape == (2, 13)
  np.testing.assert_array_equal(pk["tok_cont"][:, 12], [[0] * 4, [0.5] * 4])
  np.testing.assert_array_equal(pk["tok_seg"][1], [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])


def test_packer_capacity_only_grows():
  from thesis_jax.data.packing import Packer
  st = _stack()
  small = {k: v.copy() for k, v in st.items()}
  small["ids"][:, :, 2:] = 0                       # at most 2 tokens per event
  small["cont"][:, :, 2:] = st["cont"][st["ids"] == 0][0]
  pk = Packer(shards=2)
  a = pk(st)
  cap = pk.capacity
  b = pk(small)
  assert pk.capacity == cap and b["tok_ids"].shape == a["tok_ids"].shape
  for i in range(st["ids"].shape[0]):
    np.testing.assert_array_equal(b["tok_cont"][i][b["slot_row"][i]], small["cont"][i])


def test_signed_zero_padding_counts_as_equal():
  """Raw padding holds both 0.0 and -0.0 (equal values, different bits)."""
  from thesis_jax.data.synthetic import make_events
  ev = make_events(64, 7, 0)
  pad = ev.cont[ev.ids == 0]
  assert (pad == 0).all() and np.signbit(pad).any() and not np.signbit(pad).all()
  np.testing.assert_array_equal(padding_features(ev.ids, ev.cont), 0.0)
  pk = pack_stack(train_stack(ev, 16, 0, 0))
  assert (pk["tok_cont"][pk["tok_ids"] == 0] == 0).all()


def test_packer_leaves_unpackable_stack_dense():
  from thesis_jax.data.packing import Packer
  st = _stack()
  bad = dict(st, cont=st["cont"].copy())
  e, j = np.argwhere(st["ids"][1] == 0)[0]
  bad["cont"][1, e, j, 0] = 7.0
  pk = Packer()
  assert pk(bad) is bad and "step 1" in pk.dense_note
  assert "tok_ids" in pk(st) and pk.capacity > 0
