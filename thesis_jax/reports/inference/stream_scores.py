"""Inference data read and scored block by block (memory independent of N).

  with ExitStack() as stack:
    scored, train, source = open_run_data(loaded, cfg, stack)
    base = Baselines.fit_blocks(train.events(), n_events=len(train))
    clean, changed = score_blocks(scored, score_fn)            # float64 [N]
    anom, changed = score_blocks(scored, score_fn, corrupt=("drop_tokens", 0.5, seed))

A `Blocks` is one split (or anomaly file) as contiguous row blocks of
`inference.block_rows` (0: the run's `data.block_rows`; rounded up to the
file's HDF5 chunk rows), read (and validated) on demand in a background
thread one block ahead. What stays in memory is the per-event scores
(float64, 8 B per event and score name) and, for the baselines, the train
MET column (8 B per train event); events exist one block at a time.
Block b > 0 is corrupted with its own stream (`corruptions.make_rng`), so a
split that fits in one block is corrupted exactly as in one piece.
"""
from __future__ import annotations

import time
from contextlib import closing
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np

from thesis_jax.data import h5
from thesis_jax.data.layout import Events
from thesis_jax.data.pipeline import SPLITS, load_raw, open_split_file
from thesis_jax.data.stream import prefetch
from thesis_jax.errors import ConfigError, DataError
from thesis_jax.reports.inference import corruptions

Scores = Dict[str, np.ndarray]


class Blocks:
  """Rows [0, n) of one split as raw `Events` blocks of `rows` rows.

  read(start, stop) -> Events; `wrap(DataError) -> DataError` rewrites read
  errors (to name where the path came from); `on_read_all()` runs once every
  block has been read (a file's split is then validated: later passes, one
  per corruption, skip the checks).
  """

  def __init__(self, read: Callable[[int, int], Events], n: int, rows: int,
               n_tokens: int, where: str,
               wrap: Optional[Callable[[DataError], DataError]] = None,
               on_read_all: Optional[Callable[[], None]] = None):
    self.read, self.n, self.rows = read, int(n), max(int(rows), 1)
    self.n_tokens, self.where, self.wrap = int(n_tokens), where, wrap
    self.on_read_all = on_read_all

  def __len__(self) -> int:
    return self.n

  def head(self, n: int) -> Events:
    """The first min(n, len) events."""
    return self._read(0, min(int(n), self.n))

  def _read(self, a: int, b: int) -> Events:
    try:
      return self.read(a, b)
    except DataError as e:
      if self.wrap is None:
        raise
      raise self.wrap(e) from None

  def _gen(self) -> Iterator[Tuple[int, int, Events]]:
    for i, a in enumerate(range(0, self.n, self.rows)):
      yield i, a, self._read(a, min(a + self.rows, self.n))
    if self.on_read_all is not None:
      self.on_read_all()

  def __iter__(self) -> Iterator[Tuple[int, int, Events]]:
    """(block index, first row, Events), read one block ahead."""
    return prefetch(self._gen(), depth=1)

  def events(self) -> Iterator[Events]:
    return (ev for _, _, ev in self)


def memory_blocks(ev: Events, rows: int, where: str) -> Blocks:
  """In-memory Events (e.g. synthetic data) as Blocks."""
  return Blocks(lambda a, b: ev.take(np.arange(a, b)), len(ev), rows,
                ev.n_tokens, where)


def file_blocks(f: h5.SplitFile, split: str, n: int = 0,
                wrap=None) -> Blocks:
  """Split `split` of an open SplitFile (first `n` rows if n > 0)."""
  size = f.sizes[split] if n <= 0 else min(int(n), f.sizes[split])
  whole = size == f.sizes[split]       # only then is the split all validated
  return Blocks(lambda a, b: f.read(split, a, b), size, f.block_rows[split],
                f.n_tokens, f.where(split), wrap,
                (lambda: f.mark_validated(split)) if whole else None)


def block_rows(data_cfg, cfg) -> int:
  """`inference.block_rows`, else the run's `data.block_rows`."""
  rows = int(cfg.get("block_rows", 0) or 0) or int(
      data_cfg.get("block_rows", h5.READ_ROWS))
  if rows <= 0:
    raise ConfigError(f"inference.block_rows must be >= 0, got {rows}")
  return rows


def open_run_data(loaded, cfg, stack) -> Tuple[Blocks, Blocks, str]:
  """-> (Blocks of `inference.split` (first `inference.max_events`), Blocks of
  the train split, source) from the run's data (or `inference.data_path`).
  The file is closed by `stack` (a contextlib.ExitStack)."""
  split = str(cfg.split)
  if split not in SPLITS:
    raise ConfigError(f"inference.split must be one of {', '.join(SPLITS)}, "
                      f"got '{split}'")
  data_cfg = loaded.config.data
  if cfg.get("data_path", ""):
    data_cfg = data_cfg.copy_and_resolve_references()
    data_cfg.path = str(cfg.data_path)
  where = ("inference.data_path" if cfg.get("data_path", "") else
           "data.path of the run's cfg.yaml")

  def wrap(e: DataError) -> DataError:
    return DataError(f"run {loaded.run_dir}: {e}; the path comes from {where}")
  rows = block_rows(data_cfg, cfg)
  n = int(cfg.get("max_events", 0) or 0)
  if not data_cfg.path:                       # synthetic: generated in memory
    raw, source = load_raw(data_cfg)
    ev = raw[split].take(np.arange(min(n, len(raw[split])))) if n > 0 \
        else raw[split]
    return (memory_blocks(ev, rows, f"{source}:{split}"),
            memory_blocks(raw["train"], rows, f"{source}:train"), source)
  try:
    f = open_split_file(data_cfg, [s for s in SPLITS if s in ("train", split)],
                        rows)
  except DataError as e:
    raise wrap(e) from None
  stack.callback(f.close)
  return (file_blocks(f, split, n, wrap), file_blocks(f, "train", 0, wrap),
          str(data_cfg.path))


def changed(a: Events, b: Events) -> np.ndarray:
  """bool [N]: events whose ids, features or globals differ."""
  return ((a.ids != b.ids).any(1) | (a.cont != b.cont).any((1, 2))
          | (a.globals != b.globals).any(1))


def score_blocks(blocks: Blocks, score: Callable[[Events], Scores],
                 corrupt: Optional[Tuple[str, float, int]] = None,
                 check: Optional[Callable[[Events], None]] = None
                 ) -> Tuple[Scores, Optional[np.ndarray]]:
  """Scores every event once, block by block -> ({name: [N]}, changed).

  `corrupt` = (name, strength, seed): each block is corrupted first (block i
  with `corruptions.apply(..., block=i)`) and `changed` [N] bool says which
  events the corruption changed (None without `corrupt`). `check(ev)` runs
  on each raw block before it is scored.
  """
  if not len(blocks):
    raise ConfigError(f"inference: no events to score in {blocks.where}")
  out: Scores = {}
  moved = np.zeros(len(blocks), bool) if corrupt is not None else None
  with closing(iter(blocks)) as it:       # an error stops the reader at once
    for i, a, ev in it:
      if check is not None:
        check(ev)
      bad = ev
      if corrupt is not None:
        name, strength, seed = corrupt
        bad = corruptions.apply(name, ev, strength, seed, block=i)
        moved[a:a + len(ev)] = changed(ev, bad)
      part = score(bad)
      if not out:
        out = {k: np.empty((len(blocks),) + v.shape[1:], v.dtype)
               for k, v in part.items()}
      for k, v in part.items():
        out[k][a:a + len(ev)] = v
  return out, moved


class TimedScorer:
  """Normalised-events scorer wrapper that times the device calls
  (compilation excluded) -> `events_per_s`."""

  def __init__(self, scorer):
    self.scorer, self.seconds, self.events = scorer, 0.0, 0

  def __call__(self, ev) -> Scores:
    c0, t = self.scorer.compile_s, time.perf_counter()
    out = self.scorer(ev)
    self.seconds += time.perf_counter() - t - (self.scorer.compile_s - c0)
    self.events += len(ev)
    return out

  @property
  def events_per_s(self) -> float:
    return self.events / max(self.seconds, 1e-9)
