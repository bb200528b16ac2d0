"""Reader for HDF5 token files in the original layout (`layout.py`)."""
from __future__ import annotations

import os
from typing import Dict, Mapping

import numpy as np

from thesis_jax.data.layout import Events, split_rows, validate_rows
from thesis_jax.errors import DataError


def read_split(path: str, dataset: str, n_tokens: int, limit: int = 0,
               key: str = "") -> Events:
  """Reads and validates one dataset of `path` (first `limit` rows if > 0).

  `key` names the config key that chose `dataset`, for error messages.
  """
  return read_splits(path, {key or dataset: dataset}, n_tokens, limit)[
      key or dataset]


# The config key naming each split's dataset (for error messages).
_CONFIG_KEY = {s: f"data.datasets.x_{s}" for s in ("train", "val", "test")}


def read_splits(path: str, datasets: Mapping[str, str], n_tokens: int,
                limit: int = 0) -> Dict[str, Events]:
  """Reads `{split: dataset_name}` from one HDF5 file, validated.

  Returns {split: Events} with raw (physical-unit) values.
  """
  import h5py
  if not path:
    raise DataError("data.path is empty: give an HDF5 file")
  f = _open(path, "data.path")
  out = {}
  with f:
    available = sorted(k for k in f.keys())
    for split, name in datasets.items():
      if name not in f:
        raise DataError(
            f"{path}: dataset '{name}' ({_CONFIG_KEY.get(split, split)}) not found; "
            f"available: {', '.join(available) or '(none)'}")
      ds = f[name]
      if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}:{name}: is a group, not a dataset")
      if ds.ndim != 2:
        raise DataError(f"{path}:{name}: expected a 2-D dataset, got shape "
                        f"{ds.shape}")
      rows = ds[:limit] if limit and limit > 0 else ds[()]
      try:
        rows = np.asarray(rows, dtype=np.float64)
      except (TypeError, ValueError):
        raise DataError(f"{path}:{name}: not a numeric dataset "
                        f"(dtype {ds.dtype})") from None
      validate_rows(rows, n_tokens, f"{path}:{name}")
      out[split] = split_rows(rows, n_tokens)
  return out


def find_single_dataset(path: str, preferred: str = "X_test") -> str:
  """The dataset to use from an 'other' file: `preferred`, else the only one."""
  import h5py
  with _open(path, "file") as f:
    names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
  if preferred in names:
    return preferred
  if len(names) == 1:
    return names[0]
  raise DataError(f"{path}: no dataset '{preferred}' and not exactly one "
                  f"dataset to choose from (found: {', '.join(names) or 'none'})")


def _open(path: str, key: str):
  """h5py.File(path, "r") or a one-line DataError naming `key`."""
  import h5py
  if not os.path.exists(path):
    raise DataError(f"{path}: file not found ({key})")
  if os.path.isdir(path):
    raise DataError(f"{path}: is a folder, not an HDF5 file ({key})")
  try:
    return h5py.File(path, "r")
  except OSError as e:
    why = getattr(e, "strerror", None) or str(e).splitlines()[0]
    raise DataError(f"{path}: not a readable HDF5 file ({key}): "
                    f"{why}") from None
