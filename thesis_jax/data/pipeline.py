"""From `config.data` to normalised splits and fixed-shape batch stacks.

Batches are built with numpy fancy indexing (no Python work per event) as
stacks `[S, B, ...]` of S steps, ready for one `lax.scan` dispatch.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import numpy as np

from thesis_jax.data import h5, synthetic
from thesis_jax.data.layout import Events
from thesis_jax.data.normalization import Normalizer
from thesis_jax.errors import ConfigError

SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class Dataset:
  """Normalised splits plus what models and reports need to know.

  splits: {"train"|"val"|"test": Events} normalised.
  raw:    the same splits in physical units (for corruptions, plots).
  """
  splits: Dict[str, Events]
  raw: Dict[str, Events]
  norm: Normalizer
  num_types: int
  n_tokens: int
  source: str            # file path, or "synthetic"


def load_raw(data_cfg) -> Tuple[Dict[str, Events], str]:
  """Raw splits from `data.path` (HDF5) or the synthetic generator."""
  t = int(data_cfg.n_tokens)
  if t <= 0:
    raise ConfigError(f"data.n_tokens must be > 0, got {t}")
  limit = int(data_cfg.get("limit_samples", 0) or 0)
  if data_cfg.path:
    ds = data_cfg.datasets
    names = {"train": ds.x_train, "val": ds.x_val, "test": ds.x_test}
    raw = h5.read_splits(data_cfg.path, names, t, limit)
    return raw, str(data_cfg.path)
  sc = data_cfg.synthetic
  raw = synthetic.make_splits(int(sc.n_train), int(sc.n_val), int(sc.n_test),
                              t, int(sc.seed))
  if limit > 0:
    raw = {k: v.take(np.arange(min(limit, len(v)))) for k, v in raw.items()}
  return raw, "synthetic"


def load_dataset(data_cfg, norm: Normalizer | None = None) -> Dataset:
  """Loads, validates and normalises (train statistics unless `norm` given)."""
  raw, source = load_raw(data_cfg)
  num_types = max(int(ev.ids.max()) for ev in raw.values()) + 1
  if norm is None:
    norm = Normalizer.fit(raw["train"], bool(data_cfg.normalize_globals))
  splits = {k: norm.apply(v) for k, v in raw.items()}
  return Dataset(splits, raw, norm, num_types, int(data_cfg.n_tokens), source)


def as_dict(ev: Events) -> Dict[str, np.ndarray]:
  return {"ids": ev.ids, "cont": ev.cont, "globals": ev.globals}


def n_events(split) -> int:
  """Events in a split: `Events`, or a dict of per-event arrays [N, ...]
  (e.g. the token prior's {"seq": ...})."""
  if isinstance(split, Events):
    return len(split)
  return int(next(iter(split.values())).shape[0])


def take_batch(split, idx) -> Dict[str, np.ndarray]:
  """Rows `idx` of a split (Events or dict of arrays) as a batch dict."""
  if isinstance(split, Events):
    return as_dict(split.take(idx))
  return {k: np.asarray(v)[idx] for k, v in split.items()}


def train_stack(ev, batch_size: int, seed: int, epoch: int,
                process_index: int = 0, process_count: int = 1,
                drop_last: bool = True) -> Dict[str, np.ndarray]:
  """One epoch of shuffled training batches, `[S, B_local, ...]`.

  The permutation depends only on (seed, epoch), so every process (and a
  resumed run) sees the same global batches. The last incomplete batch is
  dropped, or with `drop_last=False` (the original's DataLoader) kept as a
  full-shape batch whose missing rows have weight 0 (static shapes: the loss
  and the VQ statistics are weighted means over the real rows only).
  Process p takes rows [p*B/P, (p+1)*B/P) of each global batch.
  `ev`: Events or a dict of per-event arrays.
  """
  n = n_events(ev)
  steps = n // batch_size if drop_last else -(-n // batch_size)
  if steps == 0:
    raise ConfigError(f"phase1.trainer.batch_size={batch_size} is larger than "
                      f"the train split ({n} events)")
  perm = np.random.default_rng([seed, epoch]).permutation(n)
  weight = np.ones(steps * batch_size, np.float32)
  if steps * batch_size > n:             # pad with weight-0 copies of row 0
    weight[n:] = 0.0
    perm = np.concatenate([perm, np.full(steps * batch_size - n, perm[0])])
  idx = perm[:steps * batch_size].reshape(steps, batch_size)
  weight = weight.reshape(steps, batch_size)
  local = batch_size // process_count
  sl = slice(process_index * local, (process_index + 1) * local)
  out = take_batch(ev, idx[:, sl])
  out["weight"] = weight[:, sl]
  return out


def eval_stack(ev, batch_size: int, process_index: int = 0,
               process_count: int = 1) -> Dict[str, np.ndarray]:
  """The whole split in order, padded to full batches, `[S, B_local, ...]`.

  `weight` is 1 for real events, 0 for the padding rows, so sums over it are
  exact split totals. `ev`: Events or a dict of per-event arrays.
  """
  n = n_events(ev)
  steps = -(-n // batch_size)
  idx = np.arange(steps * batch_size)
  weight = (idx < n).astype(np.float32)
  idx = np.minimum(idx, n - 1).reshape(steps, batch_size)
  weight = weight.reshape(steps, batch_size)
  local = batch_size // process_count
  sl = slice(process_index * local, (process_index + 1) * local)
  out = take_batch(ev, idx[:, sl])
  out["weight"] = weight[:, sl]
  return out
