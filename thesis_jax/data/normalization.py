"""Z-score statistics from the train split only, kept with every run.

Continuous token features: per-feature mean/std over all token slots of the
train split (padding slots included, as in the original; std clamped to
>= 1e-8; unbiased std like torch's `.std()`). Globals: per-global mean/std over
train events when `normalize_globals` (thesis_jax default), identity otherwise
(the original's raw-GeV behaviour).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

import numpy as np

from thesis_jax.data.layout import Events

STD_FLOOR = 1e-8


@dataclasses.dataclass(frozen=True)
class Normalizer:
  cont_mean: np.ndarray   # [4]
  cont_std: np.ndarray    # [4]
  glob_mean: np.ndarray   # [2]
  glob_std: np.ndarray    # [2]
  normalize_globals: bool

  @classmethod
  def fit(cls, train: Events, normalize_globals: bool = True) -> "Normalizer":
    flat = train.cont.reshape(-1, train.cont.shape[-1]).astype(np.float64)
    cm = flat.mean(0)
    cs = np.maximum(flat.std(0, ddof=1), STD_FLOOR)
    if normalize_globals:
      g = train.globals.astype(np.float64)
      gm, gs = g.mean(0), np.maximum(g.std(0, ddof=1), STD_FLOOR)
    else:
      gm = np.zeros(train.globals.shape[-1])
      gs = np.ones(train.globals.shape[-1])
    f32 = lambda a: np.asarray(a, np.float32)
    return cls(f32(cm), f32(cs), f32(gm), f32(gs), bool(normalize_globals))

  def apply(self, ev: Events) -> Events:
    """Physical units -> normalised (float32)."""
    cont = (ev.cont - self.cont_mean) / self.cont_std
    glob = (ev.globals - self.glob_mean) / self.glob_std
    return Events(ev.ids, cont.astype(np.float32), glob.astype(np.float32))

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
