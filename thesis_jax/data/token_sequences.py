"""Events + tokenizer codes -> integer sequences for the token prior.

One event becomes (stored token order, i.e. descending pT):

  BOS, obj_1, ..., obj_n, EOS, MET bin, MET-phi bin, PAD, ..., PAD

of fixed length T + 4. `obj_i` is one vocabulary entry per (type id, VQ code)
pair; EOS ends the object list, so the prior models the multiplicity; the
two globals follow as discretised tokens (bin edges at training quantiles),
conditioned on the objects. PAD (0) is never a prediction target.

Vocabulary: 0 PAD, 1 BOS, 2 EOS, then n_met MET bins, n_phi MET-phi bins,
then (num_types - 1) * codebook_size object tokens:
  obj(type t >= 1, code c) = obj_offset + (t - 1) * codebook_size + c.
"""
from __future__ import annotations

import dataclasses
from typing import Dict

import numpy as np

from thesis_jax.data.layout import Events
from thesis_jax.errors import DataError

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3
EXTRA_SLOTS = 4          # BOS, EOS and two globals tokens


def quantile_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
  """Inner bin edges [n_bins - 1] at the quantiles of `x`. Repeated edges
  (few distinct values) leave some bins empty, so the vocabulary size
  depends only on n_bins."""
  if n_bins < 1:
    raise ValueError(f"n_bins must be >= 1, got {n_bins}")
  q = np.quantile(np.asarray(x, np.float64), np.linspace(0, 1, n_bins + 1)[1:-1])
  # float32-exact, so edges stored in a checkpoint (f32) bin identically.
  return q.astype(np.float32).astype(np.float64)


@dataclasses.dataclass
class Vocab:
  """The prior's vocabulary (see module docstring). Edges in GeV / rad."""
  num_types: int           # type ids 0..num_types-1 (0 = padding)
  codebook_size: int
  met_edges: np.ndarray    # [n_met - 1] inner edges
  phi_edges: np.ndarray    # [n_phi - 1]

  @classmethod
  def fit(cls, train: Events, num_types: int, codebook_size: int,
          n_bins: int) -> "Vocab":
    """Globals bin edges from the training split's quantiles."""
    return cls.fit_globals(train.globals, num_types, codebook_size, n_bins)

  @classmethod
  def fit_globals(cls, globals_: np.ndarray, num_types: int,
                  codebook_size: int, n_bins: int) -> "Vocab":
    """The same from the training split's globals [N, 2] (MET GeV, phi rad)
    alone, e.g. gathered block by block."""
    return cls(int(num_types), int(codebook_size),
               quantile_edges(globals_[:, 0], n_bins),
               quantile_edges(globals_[:, 1], n_bins))

  @staticmethod
  def size_for(num_types: int, codebook_size: int, n_bins: int) -> int:
    """Vocabulary size without fitting (n_bins bins per global)."""
    return N_SPECIAL + 2 * n_bins + (num_types - 1) * codebook_size

  @property
  def n_met(self) -> int:
    return len(self.met_edges) + 1

  @property
  def n_phi(self) -> int:
    return len(self.phi_edges) + 1

  @property
  def met_offset(self) -> int:
    return N_SPECIAL

  @property
  def phi_offset(self) -> int:
    return N_SPECIAL + self.n_met

  @property
  def obj_offset(self) -> int:
    return self.phi_offset + self.n_phi

  @property
  def size(self) -> int:
    return self.obj_offset + (self.num_types - 1) * self.codebook_size

  def to_dict(self) -> Dict:
    return {"num_types": self.num_types, "codebook_size": self.codebook_size,
            "met_edges": [float(x) for x in self.met_edges],
            "phi_edges": [float(x) for x in self.phi_edges]}

  @classmethod
  def from_dict(cls, d: Dict) -> "Vocab":
    return cls(int(d["num_types"]), int(d["codebook_size"]),
               np.asarray(d["met_edges"], np.float64),
               np.asarray(d["phi_edges"], np.float64))


def build_sequences(vocab: Vocab, ev: Events, codes: np.ndarray) -> np.ndarray:
  """Raw Events + codes int [N, T] -> int32 [N, T + 4] sequences.

  Real tokens (id > 0) keep their stored order and are moved to the front
  if padding sits between them. Type ids >= vocab.num_types are a DataError
  (the tokenizer never saw them).
  """
  ids = np.asarray(ev.ids)
  n, t = ids.shape
  top = int(ids.max(initial=0))
  if top >= vocab.num_types:
    raise DataError(f"token prior: type id {top} is unknown to the tokenizer "
                    f"(trained with ids < {vocab.num_types})")
  codes = np.asarray(codes, np.int64)
  if codes.min(initial=0) < 0 or codes.max(initial=0) >= vocab.codebook_size:
    raise DataError(f"token prior: codes outside 0..{vocab.codebook_size - 1}")
  real = ids > 0
  obj = vocab.obj_offset + (ids.astype(np.int64) - 1) * vocab.codebook_size + codes
  # Stable compaction: real tokens first, in their stored order.
  order = np.argsort(~real, axis=1, kind="stable")
  obj = np.take_along_axis(np.where(real, obj, PAD), order, axis=1)
  n_real = real.sum(1)
  seq = np.full((n, t + EXTRA_SLOTS), PAD, np.int64)
  seq[:, 0] = BOS
  seq[:, 1:t + 1] = obj
  rows = np.arange(n)
  met = np.searchsorted(vocab.met_edges, ev.globals[:, 0], side="right")
  phi = np.searchsorted(vocab.phi_edges, ev.globals[:, 1], side="right")
  seq[rows, n_real + 1] = EOS
  seq[rows, n_real + 2] = vocab.met_offset + met
  seq[rows, n_real + 3] = vocab.phi_offset + phi
  return seq.astype(np.int32)
