"""`latency`: epoch time and training throughput per epoch."""
from __future__ import annotations

import numpy as np

from thesis_jax.monitoring.figures import (epoch_axis, has_data, maybe_log_y,
                                          new_figure, values, when)


def plot(ctx):
  h = ctx.histories
  t, thr = values(h.get("epoch_time_s")), values(h.get("throughput"))
  if not (has_data(t) or has_data(thr)):
    return []
  fig, axes = new_figure(1, 2, size=(5.0, 3.6))
  ax = axes[0, 0]
  ep = np.arange(1, t.size + 1)
  ax.bar(ep, t, color="C0")
  ax.set(title="Epoch wall time (train + validation)", xlabel="epoch",
         ylabel="time [s]")
  if t.size > 1:
    ax.annotate("epoch 1 includes compilation", (1, t[0]), fontsize=8,
                xytext=(0.35, 0.9), textcoords="axes fraction",
                arrowprops={"arrowstyle": "->", "lw": 0.8})
  ax.grid(alpha=0.3, axis="y")
  maybe_log_y(ax, t)
  epoch_axis(ax)
  ax2 = axes[0, 1]
  ax2.plot(np.arange(1, thr.size + 1), thr, "-o", ms=3, c="C1",
           label="train events / epoch time")
  tt = ctx.payload.get("train_throughput")
  if tt:
    ax2.axhline(tt, ls="--", c="grey",
                label=f"this epoch, training only: {tt:,.0f}/s")
  ax2.set(title="Throughput", xlabel="epoch", ylabel="throughput [events/s]")
  ax2.set_ylim(bottom=0)
  ax2.legend(fontsize=8)
  ax2.grid(alpha=0.3)
  epoch_axis(ax2)
  total = ctx.payload.get("total_time_s")
  sub = f", total {total:.1f} s" if total else ""
  fig.suptitle(f"{ctx.run_name} — {when(ctx.moment, ctx.epoch)}{sub}")
  return [("", fig)]
