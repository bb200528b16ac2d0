"""One progress line per epoch: epoch, ETA, losses, perplexity, events/s.

Epochs are shown counting from 1 ("epoch 20/20" is the last). The ETA uses
the wall time between progress lines -- training, validation, facts,
figures and checkpoints together -- leaving out the first epoch (it includes
compilation) once a later one is measured.
"""
from __future__ import annotations

import datetime
import sys
import time


def _fmt(x, spec=".5g"):
  return "-" if x is None else format(x, spec)


class Progress:
  def __init__(self, epochs: int, enabled: bool = True, stream=None):
    self.epochs = epochs
    self.enabled = enabled
    self.stream = stream or sys.stdout
    self.walls = []                    # wall seconds per epoch, everything
    self._last = time.perf_counter()

  def print(self, msg: str) -> None:
    if self.enabled:
      print(msg, file=self.stream, flush=True)

  def epoch(self, epoch: int, rec, epoch_time: float, events_per_s: float) -> None:
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
