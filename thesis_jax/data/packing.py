"""Padding-free batch stacks: each step's real tokens in one fixed-size buffer.

For token-wise models every padding slot (type id 0 and the same normalised
features) has the same latent, code, reconstruction and loss, so a step needs
only its real tokens plus one padding representative weighted by the number
of padding slots (`models/packed.py`). `pack_stack` turns a dense stack
`[S, B, ...]` from any source (`pipeline.train_stack`, `eval_stack`, a
streaming reader) into:

  ids      int32 [S, B, T]  the dense type ids (real/padding counts per event,
                            exact VQ restarts)
  tok_ids  int32 [S, C]     type ids of step s's real tokens in (event, slot)
                            order, then 0 in the unused rows
  tok_cont f32 [S, C, F]    their features, then `pad_cont` in unused rows
  tok_seg  int32 [S, C]     event index b of each packed token; B when unused
  pad_cont f32 [S, F]       the features every padding slot of step s carries
  globals, weight, ...      every other key unchanged; `cont` is dropped

The capacity C is the smallest bucket (`capacity_bucket`) holding the
fullest step, so a run compiles for a handful of capacities at most.
Everything is vectorised numpy: no Python work per event or per step.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

PACKED_KEYS = ("tok_ids", "tok_cont", "tok_seg", "pad_cont")
MIN_CAPACITY = 8


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
  differ (then padding-free compute would not be exact), zeros if there is
  no padding slot."""
  pad = ids <= 0
  if not pad.any():
    return np.zeros(cont.shape[-1], cont.dtype)
  rows = cont[pad]                       # [P, F]
  rep = rows[0]
  return rep if bool((rows == rep).all()) else None


def pack_stack(stack: Dict[str, np.ndarray], capacity: Optional[int] = None
               ) -> Dict[str, np.ndarray]:
  """Dense stack {"ids" [S,B,T], "cont" [S,B,T,F], ...} -> packed stack.

  capacity: rows per step (default: `capacity_bucket` of the fullest step).
  Raises ValueError if a step's padding slots carry different features or a
  step holds more real tokens than `capacity`.
  """
  ids, cont = stack["ids"], stack["cont"]
  s, b, t = ids.shape
  f = cont.shape[-1]
  real = (ids > 0).reshape(s, b * t)
  n_step = real.sum(1)
  cap = capacity_bucket(n_step.max()) if capacity is None else int(capacity)
  if n_step.max() > cap:
    raise ValueError(f"pack_stack: a step holds {int(n_step.max())} real "
                     f"tokens, more than the capacity {cap}")

  flat_cont = cont.reshape(s, b * t, f)
  # The first padding slot of each step is its representative (any slot
  # would do when the check below passes); steps without padding keep 0s.
  first_pad = np.argmin(real, axis=1)
  pad_cont = flat_cont[np.arange(s), first_pad].copy()
  pad_cont[n_step == b * t] = 0.0
  same = (flat_cont == pad_cont[:, None]).all(-1) | real
  if not same.all():
    st, pos = np.argwhere(~same)[0]
    raise ValueError(
        f"pack_stack: padding slot (event {pos // t}, slot {pos % t}) of step "
        f"{st} has other features than the step's first padding slot; "
        "padding-free compute would not be exact")

  pos = np.flatnonzero(real)                       # row-major over (s, b, t)
  step = pos // (b * t)
  start = np.concatenate([[0], np.cumsum(n_step)[:-1]])
  dest = step * cap + (np.arange(pos.size) - start[step])
  tok_ids = np.zeros(s * cap, np.int32)
  tok_ids[dest] = ids.reshape(-1)[pos]
  tok_seg = np.full(s * cap, b, np.int32)
  tok_seg[dest] = (pos % (b * t)) // t
  tok_cont = np.repeat(pad_cont, cap, axis=0)
  tok_cont[dest] = cont.reshape(-1, f)[pos]

  out = {k: v for k, v in stack.items() if k != "cont"}
  out.update(tok_ids=tok_ids.reshape(s, cap), tok_seg=tok_seg.reshape(s, cap),
             tok_cont=tok_cont.reshape(s, cap, f).astype(cont.dtype),
             pad_cont=pad_cont.astype(cont.dtype))
  return out
