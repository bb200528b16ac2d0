"""Anomaly metrics in numpy: AUROC (rank-based, ties count 1/2), ROC curve,
background rejection, signal efficiency at fixed background efficiency, the
significance-improvement curve eps_S / sqrt(eps_B), paired tie snapping.
Bootstrap intervals: `bootstrap.py`.

Convention: "background" = clean events (label 0), "signal" = anomalous
events (label 1); a higher score means "more anomalous". eps_S / eps_B are
the fractions of anomalous / clean events with score >= threshold.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np


def midranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks of `x`, tied values sharing the mean of their ranks."""
  x = np.asarray(x)
  order = np.argsort(x, kind="stable")
  xs = x[order]
  new = np.r_[True, xs[1:] != xs[:-1]]
  group = np.cumsum(new) - 1                      # group id per sorted value
  starts = np.flatnonzero(new)
  ends = np.r_[starts[1:], xs.size]               # exclusive
  mean_rank = (starts + 1 + ends) / 2.0           # mean of ranks start+1..end
  ranks = np.empty(x.size, np.float64)
  ranks[order] = mean_rank[group]
  return ranks


def auroc(clean: np.ndarray, anomalous: np.ndarray) -> float:
  """P(score_anom > score_clean) + 1/2 P(equal), by the Mann-Whitney U rank
  sum. Identical score multisets give exactly 0.5. NaN scores -> NaN."""
  b = np.asarray(clean, np.float64).ravel()
  s = np.asarray(anomalous, np.float64).ravel()
  if b.size == 0 or s.size == 0 or np.isnan(b).any() or np.isnan(s).any():
    return float("nan")
  r = midranks(np.concatenate([s, b]))
  u = r[:s.size].sum() - s.size * (s.size + 1) / 2.0
  return float(u / (s.size * b.size))


def roc_curve(clean: np.ndarray, anomalous: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """-> (eps_B, eps_S, thresholds), one point per distinct score, from
  (0, 0) (threshold +inf) to (1, 1)."""
  b = np.asarray(clean, np.float64).ravel()
  s = np.asarray(anomalous, np.float64).ravel()
  scores = np.concatenate([s, b])
  labels = np.concatenate([np.ones(s.size), np.zeros(b.size)])
  order = np.argsort(-scores, kind="stable")
  scores, labels = scores[order], labels[order]
  last = np.r_[scores[1:] != scores[:-1], True]    # last of each tie group
  tp = np.cumsum(labels)[last]
  fp = np.cumsum(1.0 - labels)[last]
  eps_s = np.r_[0.0, tp / max(s.size, 1)]
  eps_b = np.r_[0.0, fp / max(b.size, 1)]
  thr = np.r_[np.inf, scores[last]]
  return eps_b, eps_s, thr


def eps_b_at(eps_b: np.ndarray, eps_s: np.ndarray, target: float) -> float:
  """Smallest eps_B of the ROC points reaching eps_S >= target."""
  ok = eps_s >= target - 1e-12
  return float(eps_b[ok].min()) if ok.any() else 1.0


def rejection(eps_b: float) -> Optional[float]:
  """1/eps_B; None when no clean event passes (rejection above n_clean)."""
  return None if eps_b <= 0 else 1.0 / eps_b


def snap_paired_ties(clean: np.ndarray, anomalous: np.ndarray,
                     rtol: float) -> Tuple[np.ndarray, np.ndarray]:
  """For paired samples (event i corrupted from clean event i): where the
  two scores agree within `rtol` (relative; float rounding, e.g. a sum over
  permuted tokens), the anomalous score is set to the clean one.

  -> (anomalous scores after snapping, bool [N] tied mask).
  """
  c = np.asarray(clean, np.float64)
  a = np.asarray(anomalous, np.float64)
  tied = np.abs(a - c) <= rtol * np.maximum(np.abs(c), 1e-30)
  tied |= a == c
  return np.where(tied, c, a), tied


# A working point at eps_B needs at least this many clean events above the
# threshold; with fewer the eps_B estimate is mostly Poisson noise.
MIN_CLEAN_PASS = 10
EPS_B_TARGETS = (1e-1, 1e-2)


def eps_s_at(eps_b: np.ndarray, eps_s: np.ndarray, target: float) -> float:
  """Largest eps_S of the ROC points with eps_B <= target."""
  ok = eps_b <= target + 1e-12
  return float(eps_s[ok].max()) if ok.any() else 0.0


def sic_curve(eps_b: np.ndarray, eps_s: np.ndarray, n_clean: int,
              min_pass: int = MIN_CLEAN_PASS) -> Tuple[np.ndarray, np.ndarray]:
  """Significance improvement eps_S / sqrt(eps_B) at the ROC points where at
  least `min_pass` clean events pass (eps_B >= min_pass / n_clean).
  -> (eps_s, sic), both [P] (empty when no point qualifies)."""
  ok = eps_b * n_clean >= min_pass - 1e-9
  return eps_s[ok], eps_s[ok] / np.sqrt(eps_b[ok])


def summarize(clean: np.ndarray, anomalous: np.ndarray,
              n_roc_points: int = 101) -> Dict:
  """AUROC; eps_B and rejection at eps_S = 30 % / 50 %; eps_S at eps_B =
  1e-1 / 1e-2 (None, with a note, when fewer than MIN_CLEAN_PASS clean
  events would pass); the maximum of eps_S / sqrt(eps_B) (same rule) and
  the ROC and SIC curves resampled at `n_roc_points` eps_S values."""
  eb, es, _ = roc_curve(clean, anomalous)
  n_clean = int(np.asarray(clean).size)
  out = {"auroc": auroc(clean, anomalous), "notes": []}
  for pct in (30, 50):
    e = eps_b_at(eb, es, pct / 100.0)
    out[f"eps_b_{pct}"] = e
    out[f"rejection_{pct}"] = rejection(e)
  for target in EPS_B_TARGETS:
    key = f"eps_s_at_eps_b_{target:g}"
    need = int(np.ceil(MIN_CLEAN_PASS / target))
    if n_clean >= need:
      out[key] = eps_s_at(eb, es, target)
    else:
      out[key] = None
      out["notes"].append(f"eps_S at eps_B={target:g} needs >= {need} clean "
                          f"events ({MIN_CLEAN_PASS} passing), have {n_clean}")
  ses, sic = sic_curve(eb, es, n_clean)
  if sic.size:
    i = int(np.argmax(sic))
    out["sic_max"], out["sic_max_eps_s"] = float(sic[i]), float(ses[i])
  else:
    out["sic_max"] = out["sic_max_eps_s"] = None
  grid = np.linspace(0.0, 1.0, n_roc_points)
  out["roc"] = {"eps_s": grid.round(6).tolist(),
                "eps_b": [eps_b_at(eb, es, g) for g in grid]}
  return out
