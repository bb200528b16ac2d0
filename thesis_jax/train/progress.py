"""One progress line per epoch: epoch, ETA, losses, perplexity, events/s.

Epochs are shown counting from 1 ("epoch 20/20" is the last). The ETA uses
the wall time between epoch lines -- training, validation, facts, figures
and checkpoints together -- leaving out the first epoch (it includes
compilation) once a later one is measured.

Long epochs (a large streamed file) also get a line at most every
`every_s` seconds while they train: the share of the epoch's training
events done, the training events/s since the epoch's first chunk finished
(so compilation is left out) and the time left for the epoch's training.
"""
from __future__ import annotations

import datetime
import sys
import time


def _fmt(x, spec=".5g"):
  return "-" if x is None else format(x, spec)


class Progress:
  def __init__(self, epochs: int, enabled: bool = True, stream=None,
               every_s: float = 60.0):
    self.epochs = epochs
    self.enabled = enabled
    self.stream = stream or sys.stdout
    self.every_s = every_s
    self.walls = []                    # wall seconds per epoch, everything
    self._last = time.perf_counter()
    self._t_first = self._done_first = None   # first chunk of this epoch done

  def chunk_done(self, epoch: int, done: int, total: int, wait) -> None:
    """After each dispatched chunk: `done` of the epoch's `total` training
    events are dispatched; `wait()` blocks until they are computed. Waits
    only after the epoch's first chunk and when a line is due."""
    if not self.enabled:
      return
    if self._t_first is None:
      wait()
      self._t_first = self._said = time.perf_counter()
      self._done_first = done
    elif time.perf_counter() - self._said >= self.every_s:
      wait()
      self.within_epoch(epoch, done, total)

  def within_epoch(self, epoch: int, done: int, total: int) -> None:
    """`done` of `total` training events of this epoch have finished."""
    now = time.perf_counter()
    self._said = now
    rate = (done - self._done_first) / max(now - self._t_first, 1e-9)
    left = (total - done) / rate if rate > 0 else 0.0
    eta = str(datetime.timedelta(seconds=int(round(left))))
    self.print(f"epoch {epoch + 1:>3}/{self.epochs} | {done / total:4.0%} of "
               f"its training ({done:,}/{total:,} events) | {rate:,.0f} ev/s"
               f" | training ETA {eta}")

  def print(self, msg: str) -> None:
    if self.enabled:
      print(msg, file=self.stream, flush=True)

  def epoch(self, epoch: int, rec, epoch_time: float, events_per_s: float) -> None:
    self._t_first = None
    now = time.perf_counter()
    self.walls.append(now - self._last)
    self._last = now
    steady = self.walls[1:] or self.walls
    left = (self.epochs - epoch - 1) * (sum(steady) / len(steady))
    eta = str(datetime.timedelta(seconds=int(round(left))))
    perp = rec.metrics.get("perplex")
    usage = rec.history.get("code_usage")
    vq = (f" | perplex {_fmt(perp, '.1f')}" + (f" ({usage} codes)" if usage is not None else "")
          if perp is not None else "")
    self.print(f"epoch {epoch + 1:>3}/{self.epochs} | train {_fmt(rec.train_loss)}"
               f" | val {_fmt(rec.val_loss)}{vq} | {events_per_s:,.0f} ev/s"
               f" | {epoch_time:.1f}s | ETA {eta}")
