"""Seeded bootstrap intervals for the AUROC.

Each replicate resamples the clean and the anomalous events with
replacement (independently; for paired samples, where anomalous event i is
clean event i corrupted, the same indices for both) and recomputes the
AUROC. The resampling is expressed as integer weights on the original
events, so a replicate costs O(N) after one sort (no re-ranking), and ties
still count 1/2 exactly as in `metrics.auroc`.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

# Events x replicates held in memory at once (int64 weights).
CHUNK_CELLS = 4_000_000


def resample_indices(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
  """int64 [reps, n]: indices drawn uniformly with replacement from 0..n-1."""
  return rng.integers(0, n, size=(reps, n))


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
  """[R, n] indices -> [R, n] multiplicities of each original event."""
  r = idx.shape[0]
  flat = (idx + n * np.arange(r)[:, None]).ravel()
  return np.bincount(flat, minlength=r * n).reshape(r, n)


def _grouped(w: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
  """[R, n] weights summed per distinct score value -> [R, U]."""
  r = w.shape[0]
  flat = (group[None, :] + n_groups * np.arange(r)[:, None]).ravel()
  return np.bincount(flat, weights=w.ravel().astype(np.float64),
                     minlength=r * n_groups).reshape(r, n_groups)


def weighted_auroc(vb: np.ndarray, vs: np.ndarray) -> np.ndarray:
  """AUROCs from weights per distinct score value, in ascending score order.

  vb, vs: [R, U] clean / anomalous weight at each distinct value -> [R]
  P(anom > clean) + 1/2 P(equal).
  """
  below = np.cumsum(vb, axis=1) - vb
  num = (vs * (below + 0.5 * vb)).sum(1)
  return num / (vs.sum(1) * vb.sum(1))


def bootstrap_aurocs(clean, anomalous, n_boot: int, seed: int,
                     paired: bool = False) -> np.ndarray:
  """[n_boot] AUROC replicates. Same (inputs, n_boot, seed, paired) -> same
  array. With `paired`, clean[i] and anomalous[i] are resampled together."""
  b = np.asarray(clean, np.float64).ravel()
  s = np.asarray(anomalous, np.float64).ravel()
  if paired and b.size != s.size:
    raise ValueError(f"paired bootstrap needs equal sizes, got {b.size} "
                     f"clean and {s.size} anomalous")
  _, inv = np.unique(np.concatenate([s, b]), return_inverse=True)
  u = int(inv.max()) + 1
  gs, gb = inv[:s.size], inv[s.size:]
  rng = np.random.default_rng(seed)
  per = max(1, CHUNK_CELLS // max(b.size + s.size, 1))
  out = []
  for start in range(0, n_boot, per):
    r = min(per, n_boot - start)
    if paired:
      wb = ws = _weights(resample_indices(rng, b.size, r), b.size)
    else:
      wb = _weights(resample_indices(rng, b.size, r), b.size)
      ws = _weights(resample_indices(rng, s.size, r), s.size)
    out.append(weighted_auroc(_grouped(wb, gb, u), _grouped(ws, gs, u)))
  return np.concatenate(out) if out else np.zeros(0)


def auroc_interval(clean, anomalous, n_boot: int = 200, seed: int = 0,
                   level: float = 0.95, paired: bool = False) -> Dict:
  """Percentile bootstrap interval of the AUROC.

  -> {"auroc_ci": [lo, hi], "auroc_std": float, "ci_level", "n_boot"};
  [None, None] when a sample is empty, non-finite or n_boot = 0.
  """
  b = np.asarray(clean, np.float64).ravel()
  s = np.asarray(anomalous, np.float64).ravel()
  out = {"auroc_ci": [None, None], "auroc_std": None,
         "ci_level": float(level), "n_boot": int(n_boot)}
  if (n_boot <= 0 or b.size == 0 or s.size == 0
      or not (np.isfinite(b).all() and np.isfinite(s).all())):
    return out
  reps = bootstrap_aurocs(b, s, n_boot, seed, paired)
  q = (1.0 - level) / 2.0
  lo, hi = np.quantile(reps, [q, 1.0 - q])
  out.update(auroc_ci=[float(lo), float(hi)], auroc_std=float(reps.std(ddof=1))
             if reps.size > 1 else None)
  return out
