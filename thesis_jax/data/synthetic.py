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


def make_events(n: int, n_tokens: int = 18, seed=0,
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


def make_resonance_events(n: int, n_tokens: int = 18, seed: int = 0,
                          mass: float = 250.0, daughter_type: int = 4,
                          mean_isr_jets: float = 0.7) -> Events:
  """A second process (an anomaly sample): a resonance of `mass` [GeV]
  decaying to two massless objects of type `daughter_type` (default muons),
  isotropic in its rest frame, produced with pT ~ 20 GeV x Exp(1) and
  rapidity ~ N(0, 1.2), plus Poisson(`mean_isr_jets`) jets (type 1) from
  initial-state radiation. Both daughters within |eta| < 2.4 and pT > 10 GeV
  (events are generated until `n` pass). MET is detector resolution only
  (10 GeV per axis) plus a small invisible part (Exp(5 GeV)). The pair's
  invariant mass equals `mass` (up to float32 rounding)."""
  rng = np.random.default_rng(seed)
  t = n_tokens
  daughters = []
  while sum(len(d) for d in daughters) < n:
    m = 2 * n
    pt_x = rng.exponential(20.0, m)
    y_x = rng.normal(0.0, 1.2, m)
    phi_x = rng.uniform(-np.pi, np.pi, m)
    mt = np.sqrt(mass ** 2 + pt_x ** 2)
    e_x = mt * np.cosh(y_x)
    p_x = np.stack([pt_x * np.cos(phi_x), pt_x * np.sin(phi_x),
                    mt * np.sinh(y_x)], -1)                        # [m, 3]
    cos_t = rng.uniform(-1, 1, m)
    phi_s = rng.uniform(-np.pi, np.pi, m)
    sin_t = np.sqrt(1 - cos_t ** 2)
    p_star = 0.5 * mass * np.stack([sin_t * np.cos(phi_s),
                                    sin_t * np.sin(phi_s), cos_t], -1)
    beta = p_x / e_x[:, None]
    gamma = e_x / mass
    b2 = np.maximum((beta ** 2).sum(-1), 1e-300)
    legs = []
    for sign in (1.0, -1.0):                      # back to back at rest
      p = sign * p_star
      bp = (beta * p).sum(-1)
      e = gamma * (0.5 * mass + bp)
      p = p + (((gamma - 1) * bp / b2 + gamma * 0.5 * mass)[:, None]) * beta
      legs.append((e, p))
    pts = [np.hypot(p[:, 0], p[:, 1]) for _, p in legs]
    etas = [np.arcsinh(p[:, 2] / pt) for (_, p), pt in zip(legs, pts)]
    ok = np.all([(np.abs(eta) < 2.4) & (pt > 10.0)
                 for eta, pt in zip(etas, pts)], axis=0)
    rows = [np.stack([e, pt, eta, np.arctan2(p[:, 1], p[:, 0])], -1)[ok]
            for (e, p), pt, eta in zip(legs, pts, etas)]
    daughters.append(np.stack(rows, 1))                            # [k, 2, 4]
  lep = np.concatenate(daughters)[:n]
  n_isr = np.clip(rng.poisson(mean_isr_jets, n), 0, t - 2)
  j_pt = PT_MIN[0] + rng.exponential(1.0, (n, t)) * PT_SCALE[0]
  j_eta = np.clip(rng.normal(0.0, 1.4, (n, t)), -ETA_MAX[0], ETA_MAX[0])
  j_phi = rng.uniform(-np.pi, np.pi, (n, t))
  j_e = np.sqrt((j_pt * np.cosh(j_eta)) ** 2 + MASS[0] ** 2)
  jets = np.stack([j_e, j_pt, j_eta, j_phi], -1)
  cont = np.concatenate([lep, jets[:, :t - 2]], 1)                 # [n, t, 4]
  real = np.arange(t)[None] < (2 + n_isr)[:, None]
  ids = np.where(np.arange(t)[None] < 2, daughter_type, 1) * real
  order = np.argsort(-np.where(real, cont[..., 1], -1.0), axis=1, kind="stable")
  ids = np.take_along_axis(ids, order, 1)
  cont = np.take_along_axis(cont, order[..., None], 1) * (ids > 0)[..., None]
  inv = rng.exponential(5.0, n)
  inv_phi = rng.uniform(-np.pi, np.pi, n)
  mx = inv * np.cos(inv_phi) + rng.normal(0, 10.0, n)
  my = inv * np.sin(inv_phi) + rng.normal(0, 10.0, n)
  glob = np.stack([np.hypot(mx, my), np.arctan2(my, mx)], -1)
  return Events(ids.astype(np.int32), cont.astype(np.float32),
                glob.astype(np.float32))


GEN_ROWS = 262144   # events generated (and held) at a time by write_h5


def split_counts(n_events: int, val_frac: float, test_frac: float
                 ) -> Dict[str, int]:
  n_val, n_test = int(n_events * val_frac), int(n_events * test_frac)
  return {"train": n_events - n_val - n_test, "val": n_val, "test": n_test}


def write_h5(path: str, n_events: int, n_tokens: int = 18, seed: int = 0,
             val_frac: float = 0.1, test_frac: float = 0.1,
             compression: str = "none", chunk_rows: int = 4096) -> Dict[str, int]:
  """Writes `n_events` synthetic events as X_train/X_val/X_test float32
  `[N, T+2+4T]` datasets, chunked by `chunk_rows` rows, compressed with
  "none" | "gzip" | "lzf". Generated GEN_ROWS events at a time (bounded
  memory) with generator seeds [seed, split, block]; the file appears under
  `path` only when complete. -> {split: rows}."""
  import os
  import h5py
  from thesis_jax.data.layout import join_rows, row_width
  from thesis_jax.errors import ConfigError
  comp = {"none": None, "gzip": "gzip", "lzf": "lzf"}
  if compression not in comp:
    raise ConfigError(f"compression must be one of {', '.join(comp)}, "
                      f"got '{compression}'")
  counts = split_counts(int(n_events), val_frac, test_frac)
  if min(counts.values()) <= 0:
    raise ConfigError(f"--events={n_events} leaves an empty split "
                      f"(val_frac={val_frac}, test_frac={test_frac})")
  tmp = f"{path}.tmp{os.getpid()}"
  width = row_width(n_tokens)
  try:
    with h5py.File(tmp, "w") as f:
      for s, (split, n) in enumerate(counts.items()):
        ds = f.create_dataset(f"X_{split}", (n, width), np.float32,
                              chunks=(min(chunk_rows, n), width),
                              compression=comp[compression])
        for b, a in enumerate(range(0, n, GEN_ROWS)):
          m = min(GEN_ROWS, n - a)
          ds[a:a + m] = join_rows(make_events(m, n_tokens, [seed, s, b]))
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return counts
