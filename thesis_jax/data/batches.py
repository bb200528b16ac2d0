"""Epoch order and batch stacks, the same for in-memory and streamed splits.

A row source (`MemoryRows` here, `stream.StreamRows` for HDF5 files) gives
normalised rows as dicts of per-event arrays ({"ids" int32 [N, T], "cont"
f32 [N, T, 4], "globals" f32 [N, 2]}, or e.g. the token prior's {"seq"});
the functions below turn them into `[K, B_local, ...]` stacks of K steps,
the same arrays plus "weight" f32, and `valid` [K] bool (False for steps
that only pad the last chunk of an epoch). Both sources go through the same code, so the
same seed gives the same batches either way.

Training order (two-level shuffle, a function of (seed, epoch) only):
  * a split of at most `buffer_rows` events: one permutation of all rows,
    `default_rng([seed, epoch]).permutation(n)`;
  * larger splits: the split is cut into blocks of `block_rows` rows, the
    blocks are permuted (same generator), consecutive groups of
    `buffer_rows // block_rows` permuted blocks form windows, and the rows of
    window w are permuted with `default_rng([seed, epoch, w])`.
The epoch is the concatenation of the windows; global batch s is positions
[s*B, (s+1)*B); the last incomplete batch is dropped. Process p of P keeps
positions [p*B/P, (p+1)*B/P) of every global batch and reads only those rows. With
drop_last=False the last batch is kept, filled up with weight-0 rows.
"""
from __future__ import annotations

from typing import Dict, Iterator, Tuple

import numpy as np

from thesis_jax.data.layout import as_dict
from thesis_jax.errors import ConfigError

Rows = Dict[str, np.ndarray]
Chunk = Tuple[Rows, np.ndarray]


class MemoryRows:
  """Row source over normalised in-memory splits {split: Events or dict}."""

  def __init__(self, splits: Dict[str, object],
               block_rows: int | Dict[str, int]):
    self.splits = {k: {n: np.asarray(x) for n, x in as_dict(v).items()}
                   for k, v in splits.items()}
    self.block_rows = (dict(block_rows) if isinstance(block_rows, dict) else
                       {k: int(block_rows) for k in splits})

  def size(self, split: str) -> int:
    return _len(self.splits[split])

  def read(self, split: str, start: int, stop: int) -> Rows:
    return {n: v[start:stop] for n, v in self.splits[split].items()}

  def take(self, split: str, rows: np.ndarray) -> Rows:
    return {n: v[rows] for n, v in self.splits[split].items()}


def _len(rows: Rows) -> int:
  return int(next(iter(rows.values())).shape[0])


def shuffle_windows(n: int, seed: int, epoch: int, block_rows: int,
                    buffer_rows: int) -> Iterator[np.ndarray]:
  """Yields the row indices of each window in epoch order (see module doc)."""
  rng = np.random.default_rng([seed, epoch])
  if n <= buffer_rows:
    yield rng.permutation(n)
    return
  n_blocks = -(-n // block_rows)
  order = rng.permutation(n_blocks)
  per = max(buffer_rows // block_rows, 1)
  for w, first in enumerate(range(0, n_blocks, per)):
    rows = np.concatenate([np.arange(b * block_rows, min((b + 1) * block_rows, n))
                           for b in order[first:first + per]])
    yield rows[np.random.default_rng([seed, epoch, w]).permutation(rows.size)]


def _stack(ev: Rows, steps: int, k: int, local: int,
           zero_padding: bool = False) -> Chunk:
  """Rows (with "weight") of `steps * local` events -> K-step stack; steps
  < K are padded with copies of the last batch (valid False; weight 0 when
  `zero_padding`)."""
  out = {n: v.reshape((steps, local) + v.shape[1:]) for n, v in ev.items()}
  if steps < k:
    out = {n: np.concatenate([v, np.repeat(v[-1:], k - steps, axis=0)])
           for n, v in out.items()}
    if zero_padding:
      out["weight"][steps:] = 0.0
  return out, np.arange(k) < steps


def _weighted(ev: Rows, w: float) -> Rows:
  return dict(ev, weight=np.full(_len(ev), w, np.float32))


def train_steps(n: int, batch_size: int, drop_last: bool = True) -> int:
  steps = n // batch_size if drop_last else -(-n // batch_size)
  if steps == 0:
    raise ConfigError(f"phase1.trainer.batch_size={batch_size} is larger than "
                      f"the train split ({n} events)")
  return steps


class _Queue:
  """Rows waiting to become chunks: a list of pieces, taken from the front.

  Chunks are fresh copies, and a leftover is copied before the next window
  arrives, so a window's arrays are freed as soon as its rows are used.
  """

  def __init__(self):
    self.pieces, self.count = [], 0

  def add(self, rows: Rows) -> None:
    self.pieces = [{n: v.copy() for n, v in p.items()} for p in self.pieces]
    self.pieces.append(rows)
    self.count += _len(rows)

  def pop(self, m: int) -> Rows:
    """The first `m` rows (all if fewer), as new arrays."""
    parts, need = [], min(m, self.count)
    while need:
      p = self.pieces[0]
      t = min(need, _len(p))
      parts.append({n: v[:t] for n, v in p.items()})
      if t == _len(p):
        self.pieces.pop(0)
      else:
        self.pieces[0] = {n: v[t:] for n, v in p.items()}
      need -= t
      self.count -= t
    return {n: np.concatenate([q[n] for q in parts]) for n in parts[0]}


def _take_steps(rows, split: str, idx: np.ndarray) -> Iterator:
  """A source's incremental take (None per block read, then the rows), or
  its plain take as one step."""
  if hasattr(rows, "take_steps"):
    return rows.take_steps(split, idx)
  return iter([rows.take(split, idx)])


def train_chunks(rows, batch_size: int, seed: int, epoch: int, k: int,
                 buffer_rows: int, process_index: int = 0,
                 process_count: int = 1, split: str = "train",
                 drop_last: bool = True) -> Iterator[Chunk]:
  """One epoch of shuffled training batches in chunks of K steps.

  Yields ({name: [K, B_local, ...]}, valid [K]); `rows` is a row source.
  The last incomplete batch is dropped, or with `drop_last=False` (the
  original's DataLoader) kept at full shape, its missing rows filled with
  weight-0 copies of the epoch's first row. While the chunks of one window
  are handed out, the next window is read one block per chunk (double
  buffering), so a window change does not stall the consumer.
  """
  n = rows.size(split)
  steps = train_steps(n, batch_size, drop_last)
  used = steps * batch_size
  local = batch_size // process_count
  lo, per_chunk = process_index * local, k * local

  def mine(at):
    return (at < used) & (at % batch_size >= lo) & (at % batch_size < lo + local)

  def selections():         # (this process's rows of each window, weight)
    pos, first = 0, None
    for order in shuffle_windows(n, seed, epoch, rows.block_rows[split],
                                 buffer_rows):
      first = order[0] if first is None else first
      keep = mine(pos + np.arange(order.size))
      pos += order.size
      if keep.any():
        yield order[keep], 1.0
      if pos >= used:
        break
    pad = int(mine(np.arange(n, used)).sum())
    if pad:
      yield np.full(pad, first), 0.0

  def start(sel):           # -> [steps iterator, weight, result or None]
    return None if sel is None else [_take_steps(rows, split, sel[0]), sel[1], None]

  def advance(job) -> None:
    if job is not None and job[2] is None:
      job[2] = next(job[0])

  sels = selections()
  queue, job = _Queue(), start(next(sels, None))
  while job is not None:
    while job[2] is None:
      advance(job)
    data, weight = job[2], job[1]
    job = start(next(sels, None))
    queue.add(_weighted(data, weight))
    del data
    while queue.count >= per_chunk:
      yield _stack(queue.pop(per_chunk), k, k, local)
      advance(job)
  if queue.count:
    m = queue.count
    yield _stack(queue.pop(m), m // local, k, local)


def eval_chunks(rows, split: str, batch_size: int, k: int,
                process_index: int = 0, process_count: int = 1
                ) -> Iterator[Chunk]:
  """The whole split in order, in chunks of K = min(k, steps) batches.

  The last batch is filled with copies of the split's last row and the last
  chunk with copies of its last batch, all with weight 0, so weighted sums
  are exact split totals.
  """
  n = rows.size(split)
  steps = -(-n // batch_size)
  k = min(k, steps)
  local = batch_size // process_count
  sl = slice(process_index * local, (process_index + 1) * local)
  for s0 in range(0, steps, k):
    m = min(k, steps - s0)
    a, b = s0 * batch_size, min((s0 + m) * batch_size, n)
    idx = np.arange(m * batch_size)
    weight = (a + idx < n).astype(np.float32).reshape(m, batch_size)[:, sl]
    idx = np.minimum(idx, b - a - 1).reshape(m, batch_size)[:, sl].reshape(-1)
    ev = {name: v[idx] for name, v in rows.read(split, a, b).items()}
    ev["weight"] = weight.reshape(-1)
    yield _stack(ev, m, k, local, zero_padding=True)
