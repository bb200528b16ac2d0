"""`metrics`: codebook perplexity and code usage per epoch (VQ runs), plus
any other per-epoch metric history a loop records."""
from __future__ import annotations

import numpy as np

from thesis_jax.monitoring.figures import (count_axis, epoch_axis, has_data,
                                          new_figure, values, when)

NOT_METRICS = {"train_loss", "val_loss", "rec_tokens", "rec_globals", "commit",
               "codebook", "epoch_time_s", "throughput", "perplex",
               "train_perplex", "code_usage"}


def plot(ctx):
  h = ctx.histories
  perp, tperp = values(h.get("perplex")), values(h.get("train_perplex"))
  usage = values(h.get("code_usage"))
  others = {k: values(v) for k, v in h.items()
            if k not in NOT_METRICS and isinstance(v, list) and has_data(values(v))}
  panels = int(has_data(perp) or has_data(tperp)) + int(has_data(usage)) + int(bool(others))
  if not panels:
    return []
  fig, axes = new_figure(1, panels, size=(5.0, 3.8))
  it = iter(np.atleast_2d(axes)[0])   # one panel -> a single Axes
  k = _codebook_size(ctx)
  if has_data(perp) or has_data(tperp):
    ax = next(it)
    for arr, label in ((tperp, "train (batch mean)"), (perp, "validation")):
      if has_data(arr):
        ax.plot(np.arange(1, arr.size + 1), arr, "-o", ms=3, label=label)
    if k:
      ax.axhline(k, ls="--", c="grey", label=f"codebook size {k}")
    ax.set(title="Codebook perplexity", xlabel="epoch",
           ylabel="perplexity (effective codes)")
    ax.legend()
    ax.grid(alpha=0.3)
    epoch_axis(ax)
  if has_data(usage):
    ax = next(it)
    ax.plot(np.arange(1, usage.size + 1), usage, "-o", ms=3, c="C2",
            label="codes used (validation)")
    if k:
      ax.axhline(k, ls="--", c="grey", label=f"codebook size {k}")
    ax.set(title="Code usage", xlabel="epoch", ylabel="codes used (count)")
    ax.set_ylim(bottom=0)
    count_axis(ax)
    ax.legend()
    ax.grid(alpha=0.3)
    epoch_axis(ax)
  if others:
    ax = next(it)
    for name, arr in others.items():
      ax.plot(np.arange(1, arr.size + 1), arr, "-o", ms=3, label=name)
    ax.set(title="Other metrics", xlabel="epoch", ylabel="value")
    ax.legend()
    ax.grid(alpha=0.3)
    epoch_axis(ax)
  fig.suptitle(f"{ctx.run_name} — {when(ctx.moment, ctx.epoch)}")
  return [("", fig)]


def _codebook_size(ctx):
  counts = ctx.payload.get("code_counts")
  if counts:
    return len(counts)
  try:
    ls = ctx.loop.config.phase1.latent_space
    return int(ls.codebook_size) if ls.name == "vq" else None
  except AttributeError:
    return None
