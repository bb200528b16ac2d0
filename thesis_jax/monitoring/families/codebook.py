"""`codebook`: code-usage histogram of the VQ codebook on the validation
split (from the `code_counts` list of VQ runs' on_epoch_end events)."""
from __future__ import annotations

import numpy as np

from thesis_jax.monitoring.figures import new_figure
from thesis_jax.monitoring.registry import FAMILIES

_LAST = {}   # run_dir -> (epoch, counts): on_train_end reuses the last epoch's


def _perplexity(p: np.ndarray) -> float:
  p = p[p > 0]
  return float(np.exp(-(p * np.log(p)).sum())) if p.size else float("nan")


@FAMILIES.register("codebook")
def plot(ctx):
  counts = ctx.payload.get("code_counts")
  if counts:
    _LAST[ctx.run_dir] = (ctx.epoch, counts)
  elif ctx.run_dir in _LAST:
    counts = _LAST[ctx.run_dir][1]
  if not counts:
    return []
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
  ax.legend(fontsize=8, loc="upper right")
  ax2 = axes[0, 1]
  srt = np.sort(p)[::-1]
  rank = np.arange(1, c.size + 1)
  ax2.plot(rank, srt, "-", c="C2", label="share of tokens")
  ax2.plot(rank, np.cumsum(srt), "-", c="C3", label="cumulative share")
  ax2.set_xscale("log")
  ax2.set(title="Codes ranked by usage", xlabel="code rank",
          ylabel="fraction of tokens", ylim=(0, 1.02))
  ax2.legend(fontsize=8)
  ax2.grid(alpha=0.3)
  ep = ctx.epoch
  fig.suptitle(f"{ctx.run_name} — epoch {'-' if ep is None else ep + 1}: "
               f"{used}/{c.size} codes used, perplexity {_perplexity(p):.1f}")
  return [("", fig)]
