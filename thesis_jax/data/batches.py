"""Batch stacks, the same for in-memory and streamed splits.

A row source (`MemoryRows` here, `stream.StreamRows` for HDF5 files) gives
normalised rows as dicts of per-event arrays ({"ids" int32 [N, T], "cont"
f32 [N, T, 4], "globals" f32 [N, 2]}, or e.g. the token prior's {"seq"});
the functions below turn them into `[K, B_local, ...]` stacks of K steps,
the same arrays plus "weight" f32, and `valid` [K] bool (False for steps
that only pad the last chunk of an epoch). Both sources go through the same code, so the
same seed gives the same batches either way.

The training order is the two-level shuffle of `shuffle.py` (a function of
(seed, epoch, S) only). S = 1: global batch i is positions [i*B, (i+1)*B)
of the epoch order; process p of P keeps positions [p*B/P, (p+1)*B/P) of
every global batch (reading every block of each window). S > 1: process p
reads only the blocks of its stripes [p*S/P, (p+1)*S/P), which fill exactly
those positions. The last incomplete batch is dropped; with drop_last=False
it is kept, filled up with weight-0 rows.
"""
from __future__ import annotations

from typing import Dict, Iterator, Tuple

import numpy as np

from thesis_jax.data.layout import as_dict
from thesis_jax.data.shuffle import (check_stripes, shuffle_windows,
                                     stripe_sizes, stripe_windows, train_steps)

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


class _Lane:
  """One stream of rows for this process: with S = 1 its positions of the
  epoch order, with S > 1 one of its stripes. `windows`: the lane's order
  (n rows); positions >= `used` are dropped; the process owns positions
  with lo <= pos % period < lo + width, `width` rows a step.

  `fill` reads selections until `m` rows wait in the queue; `advance` reads
  one block of the next selection (double buffering).
  """

  def __init__(self, rows, split: str, windows: Iterator[np.ndarray],
               n: int, used: int, period: int, lo: int, width: int):
    self.rows, self.split, self.width = rows, split, width
    self.sels = self._selections(windows, n, used, period, lo, width)
    self.queue = _Queue()
    self.job = self._start()

  @staticmethod
  def _selections(windows, n, used, period, lo, width):
    """(rows this process keeps of each window, weight 1), then weight-0
    copies of the lane's first row for positions [n, used) it owns."""
    def mine(at):
      return (at < used) & (at % period >= lo) & (at % period < lo + width)
    pos, first = 0, None
    for order in windows:
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

  def _start(self):          # -> [steps iterator, weight, result or None]
    sel = next(self.sels, None)
    return None if sel is None else [_take_steps(self.rows, self.split, sel[0]),
                                     sel[1], None]

  def advance(self) -> None:
    if self.job is not None and self.job[2] is None:
      self.job[2] = next(self.job[0])

  def fill(self, m: int) -> None:
    while self.queue.count < m and self.job is not None:
      while self.job[2] is None:
        self.advance()
      data, weight = self.job[2], self.job[1]
      self.job = self._start()
      self.queue.add(_weighted(data, weight))
      del data


def _merge(parts, steps: int) -> Rows:
  """Per-lane rows [steps * width_l] -> rows [steps * sum(width_l)] with
  each step's lanes side by side (lane l at that step's columns)."""
  if len(parts) == 1:
    return parts[0]
  return {n: np.concatenate(
      [q[n].reshape((steps, -1) + q[n].shape[1:]) for q in parts], axis=1
  ).reshape((-1,) + parts[0][n].shape[1:]) for n in parts[0]}


def train_chunks(rows, batch_size: int, seed: int, epoch: int, k: int,
                 buffer_rows: int, process_index: int = 0,
                 process_count: int = 1, split: str = "train",
                 drop_last: bool = True, stripes: int = 1) -> Iterator[Chunk]:
  """One epoch of shuffled training batches in chunks of K steps.

  Yields ({name: [K, B_local, ...]}, valid [K]); `rows` is a row source,
  `stripes` is S (`shuffle.py`). The last incomplete batch is dropped, or
  with `drop_last=False` (the original's DataLoader) kept at full shape, its
  missing rows filled with weight-0 copies of the epoch's (S > 1: the
  stripe's) first row. While the chunks of one window are handed out, the
  next window is read one block per chunk (double buffering), so a window
  change does not stall the consumer.
  """
  check_stripes(stripes, batch_size, process_count)
  n, br = rows.size(split), rows.block_rows[split]
  steps = train_steps(n, batch_size, drop_last, stripes, br)
  local = batch_size // process_count
  if stripes == 1:
    lanes = [_Lane(rows, split, shuffle_windows(n, seed, epoch, br, buffer_rows),
                   n, steps * batch_size, batch_size, process_index * local,
                   local)]
  else:
    b, mine = batch_size // stripes, stripes // process_count
    sizes = stripe_sizes(n, br, stripes)
    lanes = [_Lane(rows, split, stripe_windows(n, seed, epoch, br, buffer_rows,
                                               stripes, s),
                   sizes[s], steps * b, b, 0, b)
             for s in range(process_index * mine, (process_index + 1) * mine)]
  while True:
    for lane in lanes:
      lane.fill(k * lane.width)
    left = lanes[0].queue.count // lanes[0].width   # the same in every lane
    if left == 0:
      return
    m = min(left, k)
    yield _stack(_merge([lane.queue.pop(m * lane.width) for lane in lanes], m),
                 m, k, local)
    if m < k:
      return
    for lane in lanes:
      lane.advance()


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
