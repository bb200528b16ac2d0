"""Seeded, vectorised corruptions of events in physical units (anomaly tests).

Every corruption acts on RAW `Events` (E, pT [GeV], eta, phi [rad]; MET [GeV],
MET phi [rad]) before the run's normalisation, with no Python loop over
events:  `fn(ev, strength, rng) -> Events` (same shapes and dtypes; the input
is never modified). Padding slots (id 0) stay exactly as they were, except
where a corruption turns real tokens into padding (`drop_tokens`).

| name                | strength s                    | what changes                      |
|---------------------|-------------------------------|-----------------------------------|
| gaussian_noise      | relative sigma (E, pT) and    | E, pT x (1 + s N(0,1)) kept > 0;  |
|                     | absolute sigma (eta, phi rad) | eta, phi + s N(0,1), phi wrapped  |
| token_shuffle       | fraction of events            | real tokens permuted in the event |
| drop_tokens         | fraction of real tokens       | dropped tokens -> padding, real   |
|                     | (>= 1 real token kept)        | tokens compacted to the front     |
| swap_id_cont_pairs  | fraction of events            | type ids rotated among the real   |
|                     |                               | tokens (features stay in place)   |
| met_scramble        | fraction of events            | (MET, MET phi) of another event   |

MET is left as it was by the token corruptions, so a model with a globals
head can see the mismatch.
"""
from __future__ import annotations

import zlib
from typing import Callable, Dict

import numpy as np

from thesis_jax.data.layout import Events
from thesis_jax.errors import ConfigError, lookup

Corruption = Callable[[Events, float, np.random.Generator], Events]
# Axis label of each strategy's strength (figures).
STRENGTH_UNITS = {
    "gaussian_noise": "rel. sigma of E, pT = abs. sigma of eta, phi [rad]",
    "token_shuffle": "fraction of events shuffled",
    "drop_tokens": "fraction of real tokens dropped",
    "swap_id_cont_pairs": "fraction of events with ids rotated",
    "met_scramble": "fraction of events with foreign MET",
}
# Smallest factor a smeared E or pT may keep (stays strictly positive).
MIN_SCALE = 1e-3


def make_rng(seed: int, name: str, strength: float,
             block: int = 0) -> np.random.Generator:
  """One reproducible stream per (seed, strategy name, strength, block):
  block 0 (a split scored in one piece) has the stream of (seed, name,
  strength) alone; block b > 0 of a streamed split appends b."""
  key = [int(seed), zlib.crc32(name.encode()), int(round(float(strength) * 1e6))]
  return np.random.default_rng(key + [int(block)] if block else key)


def apply(name: str, ev: Events, strength: float, seed: int,
          block: int = 0) -> Events:
  """Looks up `name`, checks `strength` and applies it with its own stream
  (`block`: index of the row block `ev` is, see `make_rng`). Corruptions
  that pair events (met_scramble) pair them within the block."""
  fn = lookup(CORRUPTIONS, name, "corruption", "inference.strategies")
  s = float(strength)
  if not np.isfinite(s) or s < 0:
    raise ConfigError(f"inference.strategies.{name}: strength must be a "
                      f"finite number >= 0, got {strength}")
  if getattr(fn, "is_fraction", False) and s > 1:
    raise ConfigError(f"inference.strategies.{name}: strength is a fraction "
                      f"in [0, 1], got {strength}")
  return fn(ev, s, make_rng(seed, name, s, block))


def _fraction(fn):
  fn.is_fraction = True
  return fn


def wrap_phi(phi, dtype=np.float32):
  """Angles [rad] -> (-pi, pi] as `dtype` (for float32: (-f32(pi), f32(pi)],
  since rounding can take a value just above -pi to -f32(pi))."""
  out = np.mod(np.asarray(phi, np.float64) + np.pi, 2 * np.pi) - np.pi
  out = out.astype(dtype)
  top = dtype(np.pi)
  return np.where(out <= -top, top, out).astype(dtype)


def _compact_order(real: np.ndarray, key: np.ndarray) -> np.ndarray:
  """Per-event slot order [N,T]: real slots sorted by `key`, then padding
  slots in their original order."""
  slot = np.broadcast_to(np.arange(real.shape[1], dtype=np.float64), real.shape)
  return np.lexsort((np.where(real, key, slot), ~real), axis=1)


def _take(a, order):
  idx = order if a.ndim == 2 else order[..., None]
  return np.take_along_axis(a, idx, axis=1)


def gaussian_noise(ev: Events, strength: float, rng) -> Events:
  """E, pT relative smearing; eta, phi absolute (radians for phi)."""
  if strength == 0:
    return Events(ev.ids.copy(), ev.cont.copy(), ev.globals.copy())
  real = ev.mask[..., None]
  n = rng.standard_normal(ev.cont.shape)
  c = ev.cont.astype(np.float64)
  dt = ev.cont.dtype.type
  scale = np.maximum(1.0 + strength * n[..., :2], MIN_SCALE)
  e_pt = (c[..., :2] * scale).astype(dt)
  eta = (c[..., 2:3] + strength * n[..., 2:3]).astype(dt)
  phi = wrap_phi(c[..., 3:4] + strength * n[..., 3:4], dt)
  new = np.concatenate([e_pt, eta, phi], axis=-1)
  return Events(ev.ids.copy(), np.where(real, new, ev.cont), ev.globals.copy())


@_fraction
def token_shuffle(ev: Events, strength: float, rng) -> Events:
  """A random permutation of the real tokens in a fraction of events (ids
  and features move together; padding slots keep their place)."""
  real = ev.mask
  chosen = rng.random(len(ev)) < strength
  keys = rng.random(real.shape)
  slots = np.broadcast_to(np.arange(real.shape[1], dtype=np.float64), real.shape)
  src = _compact_order(real, np.where(chosen[:, None], keys, slots))
  dst = _compact_order(real, slots)          # real slots ascending, then padding
  perm = np.empty_like(src)
  np.put_along_axis(perm, dst, src, axis=1)  # slot dst[j] receives src[j]
  return Events(_take(ev.ids, perm), _take(ev.cont, perm), ev.globals.copy())


@_fraction
def drop_tokens(ev: Events, strength: float, rng) -> Events:
  """Each real token is removed with probability `strength` (set to padding:
  id 0, zero features); the first real token of an event is kept when all
  would go. Remaining real tokens are compacted to the front in order."""
  real = ev.mask
  drop = real & (rng.random(real.shape) < strength)
  keep = real & ~drop
  first = np.argmax(real, axis=1)
  empty = ~keep.any(1) & real.any(1)
  keep[np.nonzero(empty)[0], first[empty]] = True
  slots = np.broadcast_to(np.arange(real.shape[1], dtype=np.float64), real.shape)
  order = _compact_order(keep, slots)
  drop = real & ~keep
  ids = np.where(drop, 0, ev.ids).astype(ev.ids.dtype)
  cont = np.where(drop[..., None], 0, ev.cont).astype(ev.cont.dtype)
  return Events(_take(ids, order), _take(cont, order), ev.globals.copy())


@_fraction
def swap_id_cont_pairs(ev: Events, strength: float, rng) -> Events:
  """In a fraction of events the type ids are rotated among the real tokens
  by a random non-zero shift, so every real token gets another token's id
  while keeping its own (E, pT, eta, phi)."""
  real = ev.mask
  n_real = real.sum(1)
  chosen = (rng.random(len(ev)) < strength) & (n_real >= 2)
  shift = 1 + np.floor(rng.random(len(ev)) * np.maximum(n_real - 1, 1)
                       ).astype(np.int64)
  slots = np.broadcast_to(np.arange(real.shape[1], dtype=np.float64), real.shape)
  order = _compact_order(real, slots)        # [N,T]: real slots first
  rank = np.arange(real.shape[1])[None, :]
  src_rank = np.where(rank < n_real[:, None],
                      (rank + shift[:, None]) % np.maximum(n_real, 1)[:, None],
                      rank)
  src_slot = np.take_along_axis(order, src_rank, axis=1)
  new_ids = ev.ids.copy()
  rotated = np.take_along_axis(ev.ids, src_slot, axis=1)
  np.put_along_axis(new_ids, order, rotated, axis=1)
  ids = np.where(chosen[:, None], new_ids, ev.ids).astype(ev.ids.dtype)
  return Events(ids, ev.cont.copy(), ev.globals.copy())


@_fraction
def met_scramble(ev: Events, strength: float, rng) -> Events:
  """(MET, MET phi) of a fraction of events replaced by another event's."""
  n = len(ev)
  chosen = rng.random(n) < strength
  other = rng.permutation(n)
  i = np.arange(n)
  if n > 1:
    other = np.where(other == i, (i + 1) % n, other)
  glob = np.where(chosen[:, None], ev.globals[other], ev.globals)
  return Events(ev.ids.copy(), ev.cont.copy(), glob.astype(ev.globals.dtype))


# `inference.strategies` names -> corruption(ev, strength, rng) -> Events.
CORRUPTIONS: Dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "token_shuffle": token_shuffle,
    "drop_tokens": drop_tokens,
    "swap_id_cont_pairs": swap_id_cont_pairs,
    "met_scramble": met_scramble,
}
