"""Model-free anomaly baselines, fitted on the training split (raw events).

A learned score is only worth its cost if it beats counting. Each baseline
is a per-event negative log-likelihood (nats; higher = more anomalous):

| name                   | what is modelled (from training histograms)       |
|------------------------|----------------------------------------------------|
| baseline_multiplicity  | P(number of real tokens)                           |
| baseline_type_counts   | sum over type ids k of -log P(number of type-k     |
|                        | tokens) (per-type counts treated as independent)   |
| baseline_met           | -log density of MET [1/GeV], histogram with bin    |
|                        | edges at training quantiles                         |

Histograms are smoothed with a pseudo-count ALPHA per bin, so an unseen
count (or a type id never seen in training) gets a large but finite NLL;
MET outside the training range gets the density of an empty edge bin.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable

import numpy as np

from thesis_jax.data.layout import Events

ALPHA = 0.5          # pseudo-count per histogram bin
MET_BINS = 40
NAMES = ("baseline_multiplicity", "baseline_type_counts", "baseline_met")


def _nll_table(counts: np.ndarray) -> np.ndarray:
  """Histogram counts [..., C] -> smoothed -log P per bin [..., C]."""
  c = counts.astype(np.float64) + ALPHA
  return -np.log(c / c.sum(-1, keepdims=True))


@dataclasses.dataclass
class Baselines:
  """Fitted histograms. mult_nll [T+1]: -log P(n real); type_nll [K, T+1]:
  -log P(count of type k+1); unseen_type_nll [T+1]; met_edges [E] GeV;
  met_nll [E-1] -log density per bin; met_out_nll for MET outside."""
  n_tokens: int
  mult_nll: np.ndarray
  type_nll: np.ndarray
  unseen_type_nll: np.ndarray
  met_edges: np.ndarray
  met_nll: np.ndarray
  met_out_nll: np.ndarray

  @classmethod
  def fit(cls, train: Events, met_bins: int = MET_BINS) -> "Baselines":
    """Fitted on the training split in memory (= `fit_blocks` of one block)."""
    return cls.fit_blocks([train], met_bins)

  @classmethod
  def fit_blocks(cls, blocks: Iterable[Events], met_bins: int = MET_BINS,
                 n_events: int = 0) -> "Baselines":
    """Fitted in one pass over the training split's row blocks (in order).

    Histogram counts are integers summed over blocks; the MET column is kept
    (float64, 8 B per event; preallocated when `n_events` is given) for its
    quantile edges. The result is bit-identical to `fit` of the whole split.
    """
    acc = _Accumulator(n_events)
    for ev in blocks:
      acc.add(ev)
    return acc.finish(cls, met_bins)

  def score(self, ev: Events) -> Dict[str, np.ndarray]:
    """Raw Events -> {name: float64 [N]} per-event NLLs (see module table)."""
    n_real = ev.mask.sum(1)
    k_fit = self.type_nll.shape[0]
    k = max(int(ev.ids.max()), k_fit)
    counts = _type_counts(ev.ids, k)                           # [N, k]
    table = np.concatenate(
        [self.type_nll, np.repeat(self.unseen_type_nll[None], k - k_fit, 0)])
    types = np.take_along_axis(table.T, counts, axis=0).sum(1)
    met = ev.globals[:, 0].astype(np.float64)
    e = self.met_edges
    b = np.clip(np.searchsorted(e, met, side="right") - 1, 0, e.size - 2)
    met_nll = np.where(met < e[0], self.met_out_nll[0],
                       np.where(met > e[-1], self.met_out_nll[1],
                                self.met_nll[b]))
    return {"baseline_multiplicity": self.mult_nll[n_real].astype(np.float64),
            "baseline_type_counts": types.astype(np.float64),
            "baseline_met": met_nll}


class _Accumulator:
  """Integer histograms [T+1] / [K, T+1] and the MET column, block by block."""

  def __init__(self, n_events: int = 0):
    self.n = 0
    self.mult = self.hist = None
    self.met = np.empty(int(n_events), np.float64)

  def add(self, ev: Events) -> None:
    t, n = ev.n_tokens, len(ev)
    if self.mult is None:
      self.t = t
      self.mult = np.zeros(t + 1, np.int64)
      self.hist = np.zeros((1, t + 1), np.int64)
    k_old = self.hist.shape[0]
    k = max(int(ev.ids.max()), k_old)
    if k > k_old:              # types first seen now: 0 tokens in earlier events
      grow = np.zeros((k - k_old, t + 1), np.int64)
      grow[:, 0] = self.n
      self.hist = np.concatenate([self.hist, grow])
    self.mult += np.bincount(ev.mask.sum(1), minlength=t + 1)
    counts = _type_counts(ev.ids, k)                            # [n, K]
    for j in range(k):
      self.hist[j] += np.bincount(counts[:, j], minlength=t + 1)
    if self.met.size < self.n + n:           # size not given up front: grow
      self.met = np.concatenate([self.met[:self.n], np.empty(
          max(n, self.n), np.float64)])
    self.met[self.n:self.n + n] = ev.globals[:, 0]
    self.n += n

  def finish(self, cls, met_bins: int) -> "Baselines":
    if not self.n:
      raise ValueError("Baselines: no training events")
    unseen = np.zeros(self.t + 1, np.int64)
    unseen[0] = self.n
    met = self.met[:self.n]
    # In place (no copy of the column): np.quantile partitions `met`, which
    # changes neither the quantiles nor the histogram counts below.
    edges = np.unique(np.quantile(met, np.linspace(0, 1, met_bins + 1),
                                  overwrite_input=True))
    if edges.size < 2:                     # constant MET: one 1-GeV bin
      edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    mcount = np.histogram(met, edges)[0].astype(np.float64)
    width = np.diff(edges)
    denom = mcount.sum() + ALPHA * width.size
    met_nll = -np.log((mcount + ALPHA) / denom / width)
    out_nll = -np.log(ALPHA / denom / np.array([width[0], width[-1]]))
    return cls(self.t, _nll_table(self.mult), _nll_table(self.hist),
               _nll_table(unseen), edges, met_nll, out_nll)


def _type_counts(ids: np.ndarray, k: int) -> np.ndarray:
  """int [N, T] type ids -> int [N, k]: tokens of type 1..k per event."""
  return (ids[..., None] == np.arange(1, k + 1)).sum(1)
