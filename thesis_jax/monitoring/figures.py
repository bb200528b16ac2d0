"""Matplotlib helpers without pyplot (no global state, safe in any thread)."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure


class Skip(Exception):
  """Raised by a family that cannot draw this run; the message says why
  (printed once per run and family)."""


def new_figure(nrows: int = 1, ncols: int = 1, size=(6.4, 4.2)):
  """-> (Figure, axes) with constrained layout; `size` is per panel [inch]."""
  fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
  axes = fig.subplots(nrows, ncols, squeeze=False)
  return fig, (axes[0, 0] if nrows == ncols == 1 else axes)


def save_png(fig: Figure, path: str, dpi: int = 110) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=dpi)
  os.replace(tmp, path)
  return path


def values(seq: Optional[Sequence]) -> np.ndarray:
  """History list with None -> float array with NaN."""
  return np.array([np.nan if v is None else v for v in (seq or [])], float)


def has_data(a: np.ndarray) -> bool:
  return a.size > 0 and bool(np.isfinite(a).any())


def maybe_log_y(ax, *arrays) -> None:
  """Log y axis when every finite value is positive and they span > 10x."""
  vals = np.concatenate([a[np.isfinite(a)] for a in arrays] or [np.array([])])
  if vals.size and (vals > 0).all() and vals.max() / vals.min() > 10:
    log_axis(ax, "y")


def log_axis(ax, axis: str = "y") -> None:
  """Log scale with plain numbers (3, 10, 40), not 4x10^0 minor labels."""
  from matplotlib.ticker import FuncFormatter, NullFormatter
  getattr(ax, f"set_{axis}scale")("log")
  a = getattr(ax, f"{axis}axis")
  a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
  a.set_minor_formatter(NullFormatter())


def epoch_axis(ax) -> None:
  """Epoch x axis (epochs count from 1): integer ticks, even for one
  epoch, limits [0.5, last + 0.5]. Call after plotting."""
  from matplotlib.ticker import MaxNLocator
  last = int(round(ax.dataLim.x1)) if np.isfinite(ax.dataLim.x1) else 0
  if last >= 1:
    ax.set_xlim(0.5, last + 0.5)
  ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def count_axis(ax, axis: str = "y") -> None:
  """Integer ticks on an axis that shows counts."""
  from matplotlib.ticker import MaxNLocator
  getattr(ax, f"{axis}axis").set_major_locator(
      MaxNLocator(integer=True, min_n_ticks=1))


MOMENT_WORDS = {"on_start": "start of training",
                "on_epoch_end": "after epoch {e}",
                "on_train_end": "end of training ({e} epochs)",
                "on_test_end": "test set, best epoch {e}"}


def when(moment: str, epoch) -> str:
  """A facts moment + its 0-based epoch -> words for a title; epochs are
  shown counting from 1 (README, "Epoch numbers")."""
  e = "-" if epoch is None else int(epoch) + 1
  text = MOMENT_WORDS.get(moment, moment.replace("_", " ")).format(e=e)
  return text.replace("(1 epochs)", "(1 epoch)")
