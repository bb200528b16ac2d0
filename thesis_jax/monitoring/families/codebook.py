"""`codebook`: code-usage histogram of the VQ codebook on the validation
split (from the `code_counts` list of VQ runs' on_epoch_end events)."""
from __future__ import annotations

import numpy as np

from thesis_jax.facts.schema import iter_events
from thesis_jax.monitoring.figures import (Skip, count_axis, log_axis,
                                          new_figure, when)



_LAST = {}   # run_dir -> the last code counts plotted


def _counts(ctx):
  """This event's code counts, else the last epoch's (from the last plot or
  events.jsonl, so `logging.moments=on_train_end` alone draws it too)."""
  if ctx.payload.get("code_counts"):
    _LAST[ctx.run_dir] = ctx.payload["code_counts"]
    return ctx.payload["code_counts"]
  if ctx.run_dir in _LAST:
    return _LAST[ctx.run_dir]
  last = None
  for e in iter_events(ctx.run_dir):
    if e.get("moment") == "on_epoch_end" and e.get("code_counts"):
      last = e["code_counts"]
  return last


def _perplexity(p: np.ndarray) -> float:
  p = p[p > 0]
  return float(np.exp(-(p * np.log(p)).sum())) if p.size else float("nan")


def plot(ctx):
  counts = _counts(ctx)
  if not counts:
    raise Skip("no code counts in the facts (only VQ runs have a codebook)")
  c = np.asarray(counts, float)
  total = c.sum()
  p = c / total if total > 0 else c
  used = int((c > 0).sum())
  fig, axes = new_figure(1, 2, size=(5.4, 3.8))
  ax = axes[0, 0]
  ax.stairs(c, np.arange(c.size + 1) - 0.5, fill=True, color="C2",
            label="tokens per code")
  if total > 0:
    ax.axhline(total / c.size, ls="--", c="grey", label="uniform usage")
  ax.set(title="Code-usage histogram (validation tokens)", xlabel="code index",
         ylabel="tokens assigned (count)")
  ax.set_xlim(-0.5, c.size - 0.5)
  ax.set_ylim(bottom=0)
  count_axis(ax, "x")
  count_axis(ax, "y")
  ax.legend(fontsize=8, loc="upper right")
  ax2 = axes[0, 1]
  srt = np.sort(p)[::-1]
  rank = np.arange(1, c.size + 1)
  # Per-code shares are ~1/K: on a log axis they stay visible next to the
  # cumulative share (which ends at 1).
  pos = srt > 0
  ax2.plot(rank[pos], srt[pos], "-", lw=1.8, c="C2", label="share of tokens (this code)")
  ax2.plot(rank, np.cumsum(srt), "-", c="C3", label="cumulative share")
  log_axis(ax2, "x")
  log_axis(ax2, "y")
  lo = srt[pos].min() if pos.any() else 1e-3
  ax2.set(title="Codes ranked by usage", xlabel="code rank (1 = most used)",
          ylabel="fraction of tokens (log)", ylim=(lo / 2, 1.5))
  ax2.legend(fontsize=8, loc="lower left")
  ax2.grid(alpha=0.3, which="both")
  fig.suptitle(f"{ctx.run_name} — {when(ctx.moment, ctx.epoch)}: "
               f"{used}/{c.size} codes used, perplexity {_perplexity(p):.1f}")
  return [("", fig)]
