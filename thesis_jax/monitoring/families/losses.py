"""`losses`: train/val loss and the val loss components per epoch."""
from __future__ import annotations

import numpy as np

from thesis_jax.monitoring.figures import (epoch_axis, has_data, maybe_log_y,
                                          new_figure, values, when)

COMPONENTS = (("rec_tokens", "token reconstruction (MSE)"),
              ("rec_globals", "globals (MSE)"), ("commit", "VQ commitment"),
              ("codebook", "VQ codebook"))


def plot(ctx):
  h = ctx.histories
  tr, va = values(h.get("train_loss")), values(h.get("val_loss"))
  if not (has_data(tr) or has_data(va)):
    return []
  fig, axes = new_figure(1, 2, size=(5.2, 3.8))
  ax = axes[0, 0]
  for arr, label, style in ((tr, "train", "-o"), (va, "validation", "-s")):
    if has_data(arr):
      ax.plot(np.arange(1, arr.size + 1), arr, style, ms=3, label=label)
  maybe_log_y(ax, tr, va)
  ax.set(title="Total loss", xlabel="epoch", ylabel="loss (normalised units)")
  ax.legend()
  ax.grid(alpha=0.3)
  epoch_axis(ax)
  ax2 = axes[0, 1]
  shown = []
  for key, label in COMPONENTS:
    arr = values(h.get(key))
    if has_data(arr) and np.nanmax(np.abs(arr)) > 0:
      ax2.plot(np.arange(1, arr.size + 1), arr, "-o", ms=3, label=label)
      shown.append(arr)
  if shown:
    maybe_log_y(ax2, *shown)
    ax2.legend()
  else:
    ax2.text(0.5, 0.5, "no loss components recorded", ha="center",
             transform=ax2.transAxes)
  ax2.set(title="Validation loss components", xlabel="epoch",
          ylabel="loss (normalised units)")
  ax2.grid(alpha=0.3)
  epoch_axis(ax2)
  fig.suptitle(f"{ctx.run_name} — {when(ctx.moment, ctx.epoch)}")
  return [("", fig)]
