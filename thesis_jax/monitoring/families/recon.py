"""`recon`: true vs reconstructed token features and MET on validation events.

Needs the live model: the driver passes `context={"loop", "state",
"dataset"}` and the family calls `loop.reconstruct(state, batch) -> (x_hat
[B,T,4], globals_hat [B,2] or None)` (normalised units). Without a context
the family plots nothing.
"""
from __future__ import annotations

import jax
import numpy as np

from thesis_jax.monitoring.figures import count_axis, new_figure, when

N_EVENTS = 512
FEATURES = (("E", "E [GeV]"), ("$p_T$", "$p_T$ [GeV]"), (r"$\eta$", r"$\eta$"),
            (r"$\phi$", r"$\phi$ [rad]"))
_JITTED = {}


def _forward(loop):
  key = id(loop)
  if key not in _JITTED:
    _JITTED.clear()   # one live loop at a time
    _JITTED[key] = jax.jit(loop.reconstruct)
  return _JITTED[key]


def sample(loop, state, dataset, n: int = N_EVENTS):
  """-> dict of physical-unit arrays: cont/cont_hat [N,T,4], mask [N,T],
  met/met_hat [N] (met_hat None without a globals head)."""
  ev = dataset.splits["val"]
  n = min(n, len(ev))
  batch = {"ids": ev.ids[:n], "cont": ev.cont[:n], "globals": ev.globals[:n],
           "weight": np.ones(n, np.float32)}
  if getattr(loop, "packer", None) is not None:     # padding-free compute
    one = loop.packer()({k: v[None] for k, v in batch.items()})
    batch = {k: v[0] for k, v in one.items()}
  x_hat, g_hat = _forward(loop)(state, batch)
  norm = dataset.norm
  out = {"cont": np.asarray(dataset.raw["val"].cont[:n]),
         "cont_hat": np.asarray(norm.invert_cont(np.asarray(x_hat))),
         "mask": ev.ids[:n] > 0,
         "met": np.asarray(dataset.raw["val"].globals[:n, 0]), "met_hat": None}
  if g_hat is not None:
    out["met_hat"] = np.asarray(norm.invert_globals(np.asarray(g_hat)))[:, 0]
  return out


def plot(ctx):
  if ctx.loop is None or ctx.state is None or ctx.dataset is None:
    return []
  s = sample(ctx.loop, ctx.state, ctx.dataset)
  m = s["mask"]
  fig, axes = new_figure(2, 3, size=(4.2, 3.3))
  for i, (name, label) in enumerate(FEATURES):
    ax = axes.flat[i]
    t, r = s["cont"][..., i][m], s["cont_hat"][..., i][m]
    lo, hi = np.percentile(np.concatenate([t, r]), [0.5, 99.5])
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
    ax.hist(t, bins, histtype="stepfilled", alpha=0.35, label="true")
    ax.hist(r, bins, histtype="step", lw=1.5, label="reconstructed")
    ax.set(title=f"{name} of real tokens", xlabel=label, ylabel="tokens")
    count_axis(ax)
    ax.legend(fontsize=8)
  ax = axes.flat[4]
  if s["met_hat"] is not None:
    t, r = s["met"], s["met_hat"]
    bins = np.linspace(0, max(np.percentile(np.concatenate([t, r]), 99.5), 1), 40)
    ax.hist(t, bins, histtype="stepfilled", alpha=0.35, label="true")
    ax.hist(r, bins, histtype="step", lw=1.5, label="predicted (globals head)")
    ax.legend(fontsize=8)
  else:
    ax.text(0.5, 0.5, "no globals head", ha="center", transform=ax.transAxes)
  ax.set(title="Missing transverse energy", xlabel="MET [GeV]", ylabel="events")
  count_axis(ax)
  ax = axes.flat[5]
  t, r = s["cont"][..., 1][m], s["cont_hat"][..., 1][m]
  ax.scatter(t, r, s=3, alpha=0.3, c="C0", label="real tokens")
  hi = np.percentile(t, 99.5) if t.size else 1.0
  ax.plot([0, hi], [0, hi], "--", c="grey", label="perfect reconstruction")
  ax.set(title="$p_T$: reconstructed vs true", xlabel="true $p_T$ [GeV]",
         ylabel="reconstructed $p_T$ [GeV]", xlim=(0, hi), ylim=(0, hi))
  ax.legend(fontsize=8)
  fig.suptitle(f"{ctx.run_name} — reconstruction of {m.shape[0]} validation "
               f"events, {when(ctx.moment, ctx.epoch)}")
  return [("", fig)]
