"""Matplotlib helpers without pyplot (no global state, safe in any thread)."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure


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
    ax.set_yscale("log")


def epoch_axis(ax) -> None:
  """Integer ticks on an epoch x axis."""
  from matplotlib.ticker import MaxNLocator
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
