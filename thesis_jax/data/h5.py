"""Reader for HDF5 token files in the original layout (`layout.py`).

Splits are read in contiguous row blocks (never the whole file as float64):
each block is validated (rows numbered from the start of the split) and
converted to float32 `Events`, so peak memory is the result plus one block.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping

import numpy as np

from thesis_jax.data.layout import Events, row_width, split_rows, validate_rows
from thesis_jax.errors import DataError

READ_ROWS = 65536   # rows per read when a file has no chunking of its own


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
  with SplitFile(path, datasets, n_tokens, limit) as f:
    return {split: f.read_all(split) for split in datasets}


class SplitFile:
  """An open HDF5 file whose datasets are checked (name, rank, width, dtype,
  not empty) on opening and read in validated row blocks.

  `sizes[split]` is the number of rows used (at most `limit` when > 0);
  `block_rows[split]` is the read size: `read_rows` rounded up to a multiple
  of the file's chunk rows, so reads line up with its chunks.
  `validated`: the splits all of whose used rows have been validated (see
  `mark_validated`); reads from them skip the checks, so a streamed run
  validates each row once, in its start-up pass, not again every epoch.
  """

  def __init__(self, path: str, datasets: Mapping[str, str], n_tokens: int,
               limit: int = 0, read_rows: int = READ_ROWS):
    import h5py
    self.path, self.n_tokens = path, int(n_tokens)
    self.names = dict(datasets)
    if not path:
      raise DataError("data.path is empty: give an HDF5 file")
    self._f = _open(path, "data.path")
    self._ds, self.sizes, self.block_rows = {}, {}, {}
    self.validated: set = set()
    available = sorted(self._f.keys())
    for split, name in self.names.items():
      if name not in self._f:
        self.close()
        raise DataError(
            f"{path}: dataset '{name}' ({_CONFIG_KEY.get(split, split)}) not found; "
            f"available: {', '.join(available) or '(none)'}")
      ds = self._f[name]
      where = f"{path}:{name}"
      try:
        if not isinstance(ds, h5py.Dataset):
          raise DataError(f"{where}: is a group, not a dataset")
        if ds.ndim != 2:
          raise DataError(f"{where}: expected a 2-D dataset, got shape "
                          f"{ds.shape}")
        if ds.dtype.kind not in "biuf":
          raise DataError(f"{where}: not a numeric dataset (dtype {ds.dtype})")
        if ds.shape[1] != row_width(self.n_tokens):
          validate_rows(np.zeros((1, ds.shape[1])), self.n_tokens, where)
        if ds.shape[0] == 0:
          raise DataError(f"{where}: dataset is empty (0 rows)")
      except DataError:
        self.close()
        raise
      n = int(ds.shape[0])
      self._ds[split] = ds
      self.sizes[split] = min(n, int(limit)) if limit and limit > 0 else n
      chunk = int(ds.chunks[0]) if ds.chunks else 1
      self.block_rows[split] = -(-max(int(read_rows), 1) // chunk) * chunk

  def where(self, split: str) -> str:
    return f"{self.path}:{self.names[split]}"

  def read(self, split: str, start: int, stop: int) -> Events:
    """Rows [start, stop) of `split` as raw float32 Events, validated unless
    the whole split already was (`validated`)."""
    rows = self._ds[split][start:stop]
    if split in self.validated:   # checked once already: the file is read-only
      return split_rows(rows, self.n_tokens)
    if rows.dtype != np.float32:   # float32 files are checked as they are
      rows = np.asarray(rows, dtype=np.float64)
    validate_rows(rows, self.n_tokens, self.where(split), row_offset=start)
    return split_rows(rows, self.n_tokens)

  def mark_validated(self, split: str) -> None:
    """Records that every used row of `split` passed `read`'s checks (call
    after reading all of `blocks(split, ...)`): later reads skip them."""
    self.validated.add(split)

  def blocks(self, split: str, rows: int = 0):
    """Yields (start, stop) row ranges covering the split, `rows` at a time
    (default: block_rows[split])."""
    step = int(rows) or self.block_rows[split]
    n = self.sizes[split]
    for a in range(0, n, step):
      yield a, min(a + step, n)

  def read_all(self, split: str) -> Events:
    """The whole split (first `limit` rows) as raw Events, block by block."""
    n, t = self.sizes[split], self.n_tokens
    out = Events(np.empty((n, t), np.int32), np.empty((n, t, 4), np.float32),
                 np.empty((n, 2), np.float32))
    for a, b in self.blocks(split):
      ev = self.read(split, a, b)
      for dst, src in zip(out, ev):
        dst[a:b] = src
    return out

  def close(self) -> None:
    self._f.close()

  def __enter__(self) -> "SplitFile":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def find_single_dataset(path: str, preferred: str = "X_test", key: str = "file",
                        dataset_key: str = "") -> str:
  """The dataset to use from an 'other' file: `preferred`, else the only one.
  `key` / `dataset_key`: the config keys the file and `preferred` came from,
  named in the one-line errors."""
  import h5py
  with _open(path, key) as f:
    names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
  if preferred in names:
    return preferred
  if len(names) == 1:
    return names[0]
  raise DataError(f"{path}: no dataset '{preferred}'"
                  + (f" ({dataset_key})" if dataset_key else "")
                  + " and not exactly one dataset to choose from (found: "
                  f"{', '.join(names) or 'none'}; {key})")


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
