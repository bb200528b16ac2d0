"""`adversarial`: discriminator/generator losses, discriminator scores and the
R1 penalty per epoch (histories of `loop = gan_ae` runs)."""
from __future__ import annotations

import numpy as np

from thesis_jax.monitoring.figures import (epoch_axis, has_data, maybe_log_y,
                                          new_figure, values, when)


def _line(ax, arr, label, style="-o", **kw):
  if has_data(arr):
    ax.plot(np.arange(1, arr.size + 1), arr, style, ms=3, label=label, **kw)


def plot(ctx):
  h = ctx.histories
  d, g = values(h.get("d_loss")), values(h.get("g_loss"))
  if not (has_data(d) or has_data(g)):
    return []
  fig, axes = new_figure(1, 3, size=(4.6, 3.8))
  ax = axes[0, 0]
  _line(ax, d, "discriminator")
  _line(ax, g, "generator (adversarial term)")
  ax.set(title="Adversarial losses (train means)", xlabel="epoch",
         ylabel="loss")
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)

  ax = axes[0, 1]
  _line(ax, values(h.get("d_real")), "real, train", "-o", c="C2")
  _line(ax, values(h.get("d_fake")), "reconstructed, train", "-o", c="C3")
  _line(ax, values(h.get("val_d_real")), "real, validation", "--s", c="C2")
  _line(ax, values(h.get("val_d_fake")), "reconstructed, validation", "--s",
        c="C3")
  ax.axhline(0.0, c="grey", lw=0.8)
  ax.set(title="Discriminator scores (mean)", xlabel="epoch",
         ylabel="discriminator output (raw score)")
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)

  ax = axes[0, 2]
  r1 = values(h.get("r1"))
  _line(ax, r1, r"$E\,\|\nabla_x D(x)\|^2$ on real events", c="C4")
  maybe_log_y(ax, r1)
  ax.set(title="R1 gradient penalty (before gamma/2)", xlabel="epoch",
         ylabel="squared gradient norm")
  if has_data(r1):
    ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  for ax in axes[0]:
    epoch_axis(ax)
  fig.suptitle(f"{ctx.run_name} — {when(ctx.moment, ctx.epoch)}")
  return [("", fig)]
