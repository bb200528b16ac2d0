"""Epoch order of a training split: the two-level shuffle, in S stripes.

Everything here is a function of (seed, epoch, S) and the split's size only,
never of the number of processes, so resume and multi-host stay exact.

S = 1 (`data.shuffle_stripes`, the default):
  * a split of at most `buffer_rows` events: one permutation of all rows,
    `default_rng([seed, epoch]).permutation(n)`;
  * larger splits: the split is cut into blocks of `block_rows` rows, the
    blocks are permuted (same generator), consecutive groups of
    `buffer_rows // block_rows` permuted blocks form windows, and the rows of
    window w are permuted with `default_rng([seed, epoch, w])`.
  Global batch i is positions [i*B, (i+1)*B) of the concatenated windows.

S > 1 (whatever the split's size): the blocks are permuted with the same
generator and dealt to S stripes of equal size (`stripe_ranges`); each
stripe is cut into windows of `buffer_rows // S // block_rows` of its blocks
(at least one), whose rows are permuted with
`default_rng([seed, epoch, S, s, w])`.
Positions [s*B/S, (s+1)*B/S) of global batch i are positions
[i*B/S, (i+1)*B/S) of stripe s's order. A global batch thus still mixes
`buffer_rows` rows (S windows of buffer_rows/S), and process p of P (S % P
== 0) reads only the rows of its stripes [p*S/P, (p+1)*S/P): whole blocks,
except where a stripe's last piece begins or ends inside a block.
"""
from __future__ import annotations

from typing import Iterator, List, Sequence, Tuple

import numpy as np

from thesis_jax.errors import ConfigError


def _window_rows(ranges: Sequence[Tuple[int, int]], per: int, key: List[int]
                 ) -> Iterator[np.ndarray]:
  """Rows of consecutive groups of `per` row ranges [start, stop), each
  group permuted with `default_rng(key + [w])`: int64 [rows of window w]."""
  for w, first in enumerate(range(0, len(ranges), per)):
    rows = np.concatenate([np.arange(a, b) for a, b in ranges[first:first + per]])
    yield rows[np.random.default_rng(key + [w]).permutation(rows.size)]


def _block(b: int, n: int, block_rows: int) -> Tuple[int, int]:
  return int(b) * block_rows, min((int(b) + 1) * block_rows, n)


def shuffle_windows(n: int, seed: int, epoch: int, block_rows: int,
                    buffer_rows: int) -> Iterator[np.ndarray]:
  """S = 1: yields the row indices of each window in epoch order."""
  rng = np.random.default_rng([seed, epoch])
  if n <= buffer_rows:
    yield rng.permutation(n)
    return
  order = rng.permutation(-(-n // block_rows))
  yield from _window_rows([_block(b, n, block_rows) for b in order],
                          max(buffer_rows // block_rows, 1), [seed, epoch])


def stripe_ranges(n: int, seed: int, epoch: int, block_rows: int,
                  stripes: int) -> List[List[Tuple[int, int]]]:
  """Row ranges [start, stop) of each of the S stripes, in stripe order.

  The blocks are permuted with `default_rng([seed, epoch])`. The first
  q*S full blocks in that order (q = full blocks // S) are dealt round
  robin, the j-th to stripe j % S. The rows of the other blocks (the
  remaining < S full blocks and a last partial block, in permuted order)
  are cut into S consecutive pieces of equal size (+-1 row), piece s
  appended to stripe s; a piece may end inside a block, so two processes
  may each read part of one block, never the same rows. Stripe sizes
  (`stripe_sizes`) thus differ by at most one row and are the same every
  epoch.
  """
  nb, n_full = -(-n // block_rows), n // block_rows
  order = np.random.default_rng([seed, epoch]).permutation(nb)
  dealt = order[order < n_full][:n_full // stripes * stripes]
  taken = set(dealt.tolist())
  rest = [_block(b, n, block_rows) for b in order if int(b) not in taken]
  ends = np.cumsum([0] + [b - a for a, b in rest]).tolist()
  out = []
  for s in range(stripes):
    lo, hi = s * ends[-1] // stripes, (s + 1) * ends[-1] // stripes
    piece = [(a + max(lo - e, 0), a + min(hi - e, b - a))
             for (a, b), e in zip(rest, ends) if e < hi and e + b - a > lo]
    out.append([_block(b, n, block_rows) for b in dealt[s::stripes]] + piece)
  return out


def stripe_sizes(n: int, block_rows: int, stripes: int) -> List[int]:
  """Rows of each stripe (see `stripe_ranges`), the same every epoch."""
  full = n // block_rows // stripes * block_rows
  rest = n - stripes * full
  return [full + (s + 1) * rest // stripes - s * rest // stripes
          for s in range(stripes)]


def stripe_windows(n: int, seed: int, epoch: int, block_rows: int,
                   buffer_rows: int, stripes: int, stripe: int
                   ) -> Iterator[np.ndarray]:
  """S > 1: yields the row indices of each window of stripe `stripe`
  (consecutive groups of buffer_rows // S // block_rows of its ranges, at
  least one)."""
  ranges = stripe_ranges(n, seed, epoch, block_rows, stripes)[stripe]
  per = max(buffer_rows // stripes // block_rows, 1)
  yield from _window_rows(ranges, per, [seed, epoch, stripes, stripe])


def check_stripes(stripes: int, batch_size: int, process_count: int) -> None:
  """`data.shuffle_stripes` against the global batch and the processes."""
  if stripes < 1:
    raise ConfigError(f"data.shuffle_stripes must be >= 1, got {stripes}")
  if stripes > 1 and batch_size % stripes:
    raise ConfigError(f"phase1.trainer.batch_size={batch_size} is not "
                      f"divisible by data.shuffle_stripes={stripes}")
  if stripes > 1 and stripes % process_count:
    raise ConfigError(f"data.shuffle_stripes={stripes} is not a multiple of "
                      f"the {process_count} processes")


def train_steps(n: int, batch_size: int, drop_last: bool = True,
                stripes: int = 1, block_rows: int = 1) -> int:
  """Global batches per epoch. S = 1: n // B (drop_last) or ceil(n / B).
  S > 1: each stripe gives B/S rows a step, so min over stripes of
  size // (B/S) (drop_last: the rest of the longer stripes is dropped this
  epoch), or the max of ceil(size / (B/S)) (shorter stripes padded with
  weight-0 rows)."""
  if stripes == 1:
    steps = n // batch_size if drop_last else -(-n // batch_size)
    if steps == 0:
      raise ConfigError(f"phase1.trainer.batch_size={batch_size} is larger "
                        f"than the train split ({n} events)")
    return steps
  sizes, b = stripe_sizes(n, block_rows, stripes), batch_size // stripes
  steps = min(sizes) // b if drop_last else -(-max(sizes) // b)
  if steps == 0:
    raise ConfigError(
        f"phase1.trainer.batch_size={batch_size} / data.shuffle_stripes="
        f"{stripes} = {b} rows a step is more than a stripe holds "
        f"({min(sizes)} of the {n} train events)")
  return steps
