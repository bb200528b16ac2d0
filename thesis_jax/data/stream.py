"""Streaming HDF5 splits: one statistics pass at start, then block reads.

`open_stream` reads every split once, block by block (validating each block
with the same checks and messages as the in-memory reader, and accumulating
the train statistics and the largest type id), and returns a `StreamRows`
source that `batches.train_chunks` / `eval_chunks` read from during training.
Memory: one read block plus what a chunk consumer holds (at most the shuffle
buffer's share of this process), independent of the file's size.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional, Tuple

import numpy as np

from thesis_jax.data.batches import Rows
from thesis_jax.data.h5 import SplitFile
from thesis_jax.data.layout import as_dict
from thesis_jax.data.normalization import STAT_ROWS, Normalizer, TrainStats


class StreamRows:
  """Row source reading normalised rows of an open `SplitFile` on demand."""

  def __init__(self, f: SplitFile, norm: Normalizer):
    self.file, self.norm = f, norm
    self.block_rows = dict(f.block_rows)

  def size(self, split: str) -> int:
    return self.file.sizes[split]

  def read(self, split: str, start: int, stop: int) -> Rows:
    return as_dict(self.norm.apply(self.file.read(split, start, stop)))

  def take(self, split: str, rows: np.ndarray) -> Rows:
    """Rows `rows` (any order), see `take_steps`."""
    for out in self.take_steps(split, rows):
      pass
    return out

  def take_steps(self, split: str, rows: np.ndarray) -> Iterator:
    """Reads rows `rows` (any order) one block per step: yields None after
    each block, then the rows. Of each block holding some of them, the span
    from the first to the last wanted row is read once (one contiguous read:
    the whole block when a shuffle window wants all its rows; with shuffle
    stripes a stripe may want only part of a block), and its wanted rows are
    normalised straight into the output, so memory is the output plus one
    block."""
    blocks = rows // self.block_rows[split]
    by_block = np.argsort(blocks, kind="stable")
    starts = np.flatnonzero(np.diff(blocks[by_block], prepend=-1))
    out = None
    for pos in np.split(by_block, starts[1:]):
      want = rows[pos]
      a = int(want.min())
      ev = self.file.read(split, a, int(want.max()) + 1)
      part = as_dict(self.norm.apply(ev.take(want - a)))
      if out is None:
        out = {n: np.empty((rows.size,) + v.shape[1:], v.dtype)
               for n, v in part.items()}
      for n, v in part.items():
        out[n][pos] = v
      yield None
    yield out


def scan_file(f: SplitFile, fit_stats: bool) -> Tuple[Optional[TrainStats], int]:
  """One validating pass over every split -> (train statistics if asked,
  largest type id). Statistics blocks are STAT_ROWS events from row 0, as in
  `Normalizer.fit`, so the result equals the in-memory one bit for bit.
  Each split read to the end is marked validated in `f`, so the epochs'
  reads skip the checks (bad data still fails here, before any run folder)."""
  stats = TrainStats() if fit_stats else None
  top = 0
  for split in f.names:
    step = STAT_ROWS if split == "train" else f.block_rows[split]
    for a, b in f.blocks(split, step):
      ev = f.read(split, a, b)
      top = max(top, int(ev.ids.max()))
      if stats is not None and split == "train":
        stats.add(ev)
    f.mark_validated(split)
  return stats, top


def open_stream(f: SplitFile, normalize_globals: bool,
                norm: Optional[Normalizer] = None
                ) -> Tuple[StreamRows, Normalizer, int]:
  """Open file -> (row source, normaliser (fitted unless given), num_types).
  Closes the file if the pass fails."""
  try:
    stats, top = scan_file(f, norm is None)
  except BaseException:
    f.close()
    raise
  if norm is None:
    norm = stats.normalizer(normalize_globals)
  return StreamRows(f, norm), norm, top + 1


def prefetch(chunks: Iterator, depth: int = 2) -> Iterator:
  """Runs `chunks` in a background thread, `depth` items ahead.

  Reading, validating and gathering rows (numpy and h5py, which release the
  GIL for the heavy parts) overlap with the device work of the previous
  chunks. Errors are re-raised in the consumer; a consumer that stops early
  stops the thread at its next item.
  """
  q: queue.Queue = queue.Queue(maxsize=max(int(depth), 1))
  stop = threading.Event()
  done = object()

  def put(entry) -> bool:
    while not stop.is_set():
      try:
        q.put(entry, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def work():
    try:
      for item in chunks:
        if not put((item, None)):
          return
      put((done, None))
    except BaseException as e:  # handed to the consumer
      put((done, e))

  t = threading.Thread(target=work, daemon=True, name="prefetch")
  t.start()
  try:
    while True:
      item, err = q.get()
      if item is done:
        if err is not None:
          raise err
        return
      yield item
  finally:
    stop.set()
    t.join(timeout=5)
