"""Z-score statistics from the train split only, kept with every run.

Continuous token features: per-feature mean/std over all token slots of the
train split (padding slots included, as in the original; std clamped to
>= 1e-8; unbiased std like torch's `.std()`). Globals: per-global mean/std over
train events when `normalize_globals` (thesis_jax default), identity otherwise
(the original's raw-GeV behaviour).

Statistics are float64 sums merged block by block (Chan et al.'s parallel
mean/M2 update) over fixed blocks of STAT_ROWS events, whether the split is
in memory or streamed from a file: both give bit-identical normalisers, and
a split of at most STAT_ROWS events gives exactly numpy's mean/std.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

import numpy as np

from thesis_jax.data.layout import Events

STD_FLOOR = 1e-8
STAT_ROWS = 65536   # events per statistics block (fixed: results depend on it)


class Moments:
  """Running count, mean and M2 (sum of squared deviations) per column, float64."""

  def __init__(self, n_cols: int):
    self.n = 0
    self.mean = np.zeros(n_cols)
    self.m2 = np.zeros(n_cols)

  def add(self, x: np.ndarray) -> None:
    """Merges the rows of `x` [M, n_cols]."""
    m = x.shape[0]
    if m == 0:
      return
    xt = np.asarray(x).T.astype(np.float64)   # [n_cols, M]: contiguous rows,
    mu = xt.mean(1)                            # pairwise sums, SIMD
    d = xt - mu[:, None]
    m2 = np.einsum("ij,ij->i", d, d)
    if self.n == 0:
      self.n, self.mean, self.m2 = m, mu, m2
      return
    tot = self.n + m
    delta = mu - self.mean
    self.mean = self.mean + delta * (m / tot)
    self.m2 = self.m2 + m2 + delta * delta * (self.n * m / tot)
    self.n = tot

  def std(self) -> np.ndarray:
    """Unbiased (ddof=1) standard deviation."""
    return np.sqrt(self.m2 / max(self.n - 1, 1))


class TrainStats:
  """Accumulates the train split's normalisation statistics block by block.

  Feed `add` consecutive blocks of exactly STAT_ROWS events (the last may be
  shorter), as `Normalizer.fit` and the streaming statistics pass do.
  """

  def __init__(self):
    self.cont = Moments(4)
    self.glob = Moments(2)

  def add(self, ev: Events) -> None:
    self.cont.add(ev.cont.reshape(-1, ev.cont.shape[-1]))
    self.glob.add(ev.globals)

  def normalizer(self, normalize_globals: bool = True) -> "Normalizer":
    cm, cs = self.cont.mean, np.maximum(self.cont.std(), STD_FLOOR)
    if normalize_globals:
      gm, gs = self.glob.mean, np.maximum(self.glob.std(), STD_FLOOR)
    else:
      gm, gs = np.zeros(2), np.ones(2)
    f32 = lambda a: np.asarray(a, np.float32)
    return Normalizer(f32(cm), f32(cs), f32(gm), f32(gs), bool(normalize_globals))


@dataclasses.dataclass(frozen=True)
class Normalizer:
  cont_mean: np.ndarray   # [4]
  cont_std: np.ndarray    # [4]
  glob_mean: np.ndarray   # [2]
  glob_std: np.ndarray    # [2]
  normalize_globals: bool

  @classmethod
  def fit(cls, train: Events, normalize_globals: bool = True) -> "Normalizer":
    stats = TrainStats()
    for a in range(0, len(train), STAT_ROWS):
      stats.add(Events(*(x[a:a + STAT_ROWS] for x in train)))
    return stats.normalizer(normalize_globals)

  def apply(self, ev: Events) -> Events:
    """Physical units -> normalised (float32). One new array per field:
    the division is in place and the float32 cast copies only when the input
    was wider (the streaming reader calls this on every block it reads)."""
    cont = ev.cont - self.cont_mean
    cont /= self.cont_std
    glob = ev.globals - self.glob_mean
    glob /= self.glob_std
    return Events(ev.ids, cont.astype(np.float32, copy=False),
                  glob.astype(np.float32, copy=False))

  def invert_cont(self, cont):
    """Normalised [..., 4] -> physical units (works on numpy or jax arrays)."""
    return cont * self.cont_std + self.cont_mean

  def invert_globals(self, glob):
    return glob * self.glob_std + self.glob_mean

  def to_dict(self) -> Dict[str, Any]:
    return {"cont_mean": self.cont_mean.tolist(),
            "cont_std": self.cont_std.tolist(),
            "glob_mean": self.glob_mean.tolist(),
            "glob_std": self.glob_std.tolist(),
            "normalize_globals": self.normalize_globals}

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "Normalizer":
    a = lambda k: np.asarray(d[k], np.float32)
    return cls(a("cont_mean"), a("cont_std"), a("glob_mean"), a("glob_std"),
               bool(d["normalize_globals"]))

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      json.dump(self.to_dict(), f, indent=2)

  @classmethod
  def load(cls, path: str) -> "Normalizer":
    with open(path) as f:
      return cls.from_dict(json.load(f))
