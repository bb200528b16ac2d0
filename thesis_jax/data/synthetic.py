"""Deterministic synthetic physics-like events in the original layout.

Each event has 1..T objects (Poisson multiplicity, mean ~3 like the CMS file),
type ids 1..5 (jet, b-jet, electron, muon, photon) with type-dependent pT
spectra and masses, (E, pT, eta, phi) in GeV/radians, sorted by pT, padded with
id 0 and zero features; MET balances the visible transverse momentum plus an
invisible component. Fully vectorised, seeded with numpy's default_rng.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from thesis_jax.data.layout import Events

TYPE_PROBS = np.array([0.50, 0.15, 0.12, 0.15, 0.08])  # ids 1..5
PT_MIN = np.array([25.0, 25.0, 10.0, 10.0, 15.0])
PT_SCALE = np.array([45.0, 55.0, 30.0, 30.0, 25.0])
MASS = np.array([8.0, 12.0, 0.000511, 0.1057, 0.0])
ETA_MAX = np.array([4.7, 2.5, 2.5, 2.4, 2.5])
NUM_TYPES = 6


def make_events(n: int, n_tokens: int = 18, seed: int = 0,
                mean_objects: float = 2.9) -> Events:
  """`n` events with `n_tokens` slots; same (n, n_tokens, seed) -> same arrays."""
  rng = np.random.default_rng(seed)
  t = n_tokens
  n_obj = np.clip(rng.poisson(mean_objects - 1.0, n) + 1, 1, t)
  real = np.arange(t)[None, :] < n_obj[:, None]                     # [N, T]
  types = rng.choice(5, size=(n, t), p=TYPE_PROBS)                  # 0..4
  pt = PT_MIN[types] + rng.exponential(1.0, (n, t)) * PT_SCALE[types]
  eta = np.clip(rng.normal(0.0, 1.4, (n, t)), -ETA_MAX[types], ETA_MAX[types])
  phi = rng.uniform(-np.pi, np.pi, (n, t))
  p = pt * np.cosh(eta)
  energy = np.sqrt(p ** 2 + MASS[types] ** 2)
  # Sort real objects by pT descending; padding (pt=-1 here) goes last.
  pt_key = np.where(real, pt, -1.0)
  order = np.argsort(-pt_key, axis=1, kind="stable")
  take = lambda a: np.take_along_axis(a, order, axis=1)
  ids = np.where(real, types + 1, 0)
  ids, pt, eta, phi, energy = map(take, (ids, pt, eta, phi, energy))
  realm = ids > 0
  cont = np.stack([energy, pt, eta, phi], axis=-1) * realm[..., None]
  px = (pt * np.cos(phi) * realm).sum(1)
  py = (pt * np.sin(phi) * realm).sum(1)
  # Invisible momentum (neutrinos) plus ~10 GeV resolution per axis.
  inv = rng.exponential(15.0, n)
  inv_phi = rng.uniform(-np.pi, np.pi, n)
  mx = -px + inv * np.cos(inv_phi) + rng.normal(0, 10.0, n)
  my = -py + inv * np.sin(inv_phi) + rng.normal(0, 10.0, n)
  glob = np.stack([np.hypot(mx, my), np.arctan2(my, mx)], axis=-1)
  return Events(ids.astype(np.int32), cont.astype(np.float32),
                glob.astype(np.float32))


def make_splits(n_train: int, n_val: int, n_test: int, n_tokens: int = 18,
                seed: int = 0) -> Dict[str, Events]:
  """Independent train/val/test splits (seeds seed, seed+1, seed+2)."""
  return {
      "train": make_events(n_train, n_tokens, seed),
      "val": make_events(n_val, n_tokens, seed + 1),
      "test": make_events(n_test, n_tokens, seed + 2),
  }
