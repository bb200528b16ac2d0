"""Padding-free batch stacks: each step's real tokens in fixed-size buffers.

For token-wise models every padding slot (type id 0 and the same normalised
features) has the same latent, code, reconstruction and loss, so a step needs
only its real tokens plus one padding representative weighted by the number
of padding slots (`models/packed.py`). `pack_stack` turns a dense stack
`[S, B, ...]` from any source (`pipeline.train_stack`, `eval_stack`, a
streaming reader) into rows `[S, R]`, R = shards * (C + 1): shard d (the
events `[d*B/shards, (d+1)*B/shards)`, one device's part of the batch) owns
rows `[d*(C+1), (d+1)*(C+1))`, its real tokens in (event, slot) order, unused
rows, and last its padding representative.

  ids      int32 [S, B, T]  the dense type ids (real/padding counts per event)
  tok_ids  int32 [S, R]     type id per row (0 for unused and representative)
  tok_cont f32 [S, R, F]    features per row (the padding features if not real)
  tok_seg  int32 [S, R]     event index b of a real token's row, B otherwise
  pad_row  int32 [S, B]     row of each event's padding representative
  slot_row int32 [S, B, T]  row holding each dense slot's value (exact VQ
                            restarts draw dense slots)
  globals, weight, ...      every other key unchanged; `cont` is dropped

The capacity C is the smallest bucket (`capacity_bucket`) holding the
fullest shard of any step, so a run compiles for a handful of capacities at
most. All vectorised numpy: no Python work per event or per step.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

MIN_CAPACITY = 8


class NotPackable(ValueError):
  """Padding slots of a stack carry different features: packing would not
  be exact (callers compute that stack dense)."""


def capacity_bucket(n: int) -> int:
  """Smallest c >= n of the form m * 2^e with 8 <= m < 16 (c >= 8).

  Eight buckets per octave: at most 12.5 % spare rows, and a run whose
  fullest step varies by a few percent keeps one capacity.
  """
  n = max(int(n), MIN_CAPACITY)
  q = 1 << max(n.bit_length() - 4, 0)
  return -(-n // q) * q


def is_packed(batch) -> bool:
  return "tok_ids" in batch


def padding_features(ids: np.ndarray, cont: np.ndarray) -> Optional[np.ndarray]:
  """The features [F] all padding slots of ids [..., T] share, None if they
  differ (padding-free compute would not be exact), zeros if there is no
  padding slot."""
  pad = (ids <= 0).reshape(-1)
  if not pad.any():
    return np.zeros(cont.shape[-1], cont.dtype)
  flat = cont.reshape(-1, cont.shape[-1])
  rep = flat[int(np.argmax(pad))].copy()
  return rep if _all_equal(flat, rep[None], pad) else None


def _all_equal(slots, rep, where) -> bool:
  """Whether slots [..., F] equal rep (broadcastable) wherever `where` [...].

  Bitwise on whole slots first (fast); if that fails, by value, so that
  -0.0 and 0.0 (raw padding often has both) count as equal."""
  v = _slot_view(slots)
  if ((v == _slot_view(rep)) | ~where).all():
    return True
  return bool(((slots == rep).all(-1) | ~where).all())


def pack_stack(stack: Dict[str, np.ndarray], capacity: Optional[int] = None,
               shards: int = 1) -> Dict[str, np.ndarray]:
  """Dense stack {"ids" [S,B,T], "cont" [S,B,T,F], ...} -> packed stack.

  capacity: real-token rows per shard (default: `capacity_bucket` of the
  fullest shard); shards: parts of each batch (devices), must divide B.
  Raises NotPackable if padding slots of a step carry different features,
  ValueError if a shard holds more real tokens than `capacity`.
  """
  ids, cont = stack["ids"], stack["cont"]
  s, b, t = ids.shape
  f = cont.shape[-1]
  if b % shards:
    raise ValueError(f"pack_stack: batch {b} not divisible by {shards} shards")
  bl = b // shards
  real = (ids > 0).reshape(s, b * t)
  n_shard = real.reshape(s, shards, bl * t).sum(-1)             # [S, shards]
  cap = capacity_bucket(n_shard.max()) if capacity is None else int(capacity)
  if n_shard.max() > cap:
    raise ValueError(f"pack_stack: a shard holds {int(n_shard.max())} real "
                     f"tokens, more than the capacity {cap}")
  width = cap + 1
  rows = shards * width

  # The first padding slot of each step is its representative (any slot
  # would do when the check below passes); steps without padding keep 0s.
  first_pad = np.argmin(real, axis=1)
  pad_vals = cont.reshape(s, b * t, f)[np.arange(s), first_pad]
  pad_vals[real.all(1)] = 0.0
  if not _all_equal(cont.reshape(s, b * t, f), pad_vals[:, None], ~real):
    same = (cont.reshape(s, b * t, f) == pad_vals[:, None]).all(-1) | real
    st, p = np.argwhere(~same)[0]
    raise NotPackable(
        f"pack_stack: padding slot (event {p // t}, slot {p % t}) of step {st} "
        "has other features than the step's first padding slot; "
        "padding-free compute would not be exact")

  # Row-major over (s, b, t) = grouped by (step, shard) in order, so a
  # token's rank in its group is its index minus the group's start.
  pos = np.flatnonzero(real)
  step, slot = pos // (b * t), pos % (b * t)
  event = slot // t
  group = step * shards + event // bl
  start = np.concatenate([[0], np.cumsum(n_shard.reshape(-1))[:-1]])
  row = (event // bl) * width + (np.arange(pos.size) - start[group])
  dest = step * rows + row

  shard_rep = (np.arange(shards) * width + cap).astype(np.int32)
  pad_row = np.repeat(shard_rep, bl)                              # [B]
  slot_row = np.tile(np.repeat(pad_row, t), s)
  slot_row[pos] = row
  tok_ids = np.zeros(s * rows, np.int32)
  tok_ids[dest] = ids.reshape(-1)[pos]
  tok_seg = np.full(s * rows, b, np.int32)
  tok_seg[dest] = event
  tok_cont = np.repeat(_slot_view(pad_vals), rows)
  tok_cont[dest] = _slot_view(cont).reshape(-1)[pos]

  out = {k: v for k, v in stack.items() if k != "cont"}
  out.update(tok_ids=tok_ids.reshape(s, rows), tok_seg=tok_seg.reshape(s, rows),
             tok_cont=tok_cont.view(cont.dtype).reshape(s, rows, f),
             pad_row=np.tile(pad_row, (s, 1)),
             slot_row=slot_row.reshape(s, b, t))
  return out


def _slot_view(cont: np.ndarray) -> np.ndarray:
  """[..., F] -> [...] with one opaque element per slot: whole-slot compares
  and moves are one operation instead of F (about 10x faster in numpy)."""
  a = np.ascontiguousarray(cont)
  return a.view(np.dtype((np.void, a.shape[-1] * a.itemsize)))[..., 0]


class Packer:
  """`pack_stack` for a run: the capacity only grows (once a stack needed a
  bucket, later stacks reuse it: no recompilation when the fullest step of
  an epoch moves across a bucket boundary and back), and a stack that cannot
  be packed exactly (`NotPackable`) is returned dense -- the steps take
  either, with the same numbers; `dense_note` then says why. One per stack
  kind (train / eval / scoring), since their batch sizes differ."""

  def __init__(self, shards: int = 1):
    self.shards = int(shards)
    self.capacity = 0
    self.dense_note = ""

  def __call__(self, stack: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    s, b, t = stack["ids"].shape
    need = (stack["ids"] > 0).reshape(s, self.shards, -1).sum(-1).max()
    cap = max(self.capacity, capacity_bucket(need))
    try:
      out = pack_stack(stack, cap, self.shards)
    except NotPackable as e:
      self.dense_note = str(e)
      return stack
    self.capacity = cap
    return out
