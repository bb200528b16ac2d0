"""`diffusion`: denoising loss vs noise level, loss curves, and a few
reconstructed events (runs of `loop = diffusion_ae`).

Loss vs noise level comes from the `diffusion_loss_vs_t` field of each
on_epoch_end event (validation loss per bin of t/T, read back from
facts/events.jsonl so every epoch is drawn). The events figure needs the live
loop (`loop.reconstruct`, DDIM with the EMA weights) and is skipped without it.
"""
from __future__ import annotations

import jax
import matplotlib
import numpy as np

from thesis_jax.facts.schema import iter_events
from thesis_jax.monitoring.figures import (epoch_axis, has_data, maybe_log_y,
                                          new_figure, values, when)

N_EVENTS = 4
_JITTED = {}


def _levels(ctx):
  """-> [(epoch, t_frac [K], loss [K])] from events.jsonl (+ this payload)."""
  out = {}
  for e in iter_events(ctx.run_dir):
    if e.get("moment") == "on_epoch_end" and e.get("diffusion_loss_vs_t"):
      out[e["epoch"]] = e["diffusion_loss_vs_t"]
  if ctx.payload.get("diffusion_loss_vs_t"):
    out[ctx.epoch] = ctx.payload["diffusion_loss_vs_t"]
  return [(ep, np.asarray(v["t_frac"], float), values(v["loss"]))
          for ep, v in sorted(out.items())]


def _ep(ctx):
  return "-" if ctx.epoch is None else ctx.epoch + 1


def _curves(ctx, levels):
  h = ctx.histories
  fig, axes = new_figure(1, 2, size=(5.2, 3.8))
  ax = axes[0, 0]
  cmap = matplotlib.colormaps["viridis"]
  n = len(levels)
  for i, (ep, t, loss) in enumerate(levels):
    last = i == n - 1
    ax.plot(t, loss, "-o" if last else "-", ms=3, lw=2 if last else 1,
            c=cmap(i / max(n - 1, 1)),
            label=f"epoch {ep + 1}" if (last or i == 0) else None)
  maybe_log_y(ax, *[l for _, _, l in levels])
  ax.set(title="Validation denoising loss vs noise level",
         xlabel="noise level t / T (0 = clean, 1 = pure noise)",
         ylabel="denoising MSE (eps or v, normalised units)", xlim=(0, 1))
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  ax = axes[0, 1]
  shown = []
  for key, label, style in (("train_loss", "denoising loss, train", "-o"),
                            ("diffusion_loss", "denoising loss, validation", "-s"),
                            ("recon_mse", "DDIM reconstruction MSE, validation", "-^")):
    arr = values(h.get(key))
    if has_data(arr):
      ax.plot(np.arange(1, arr.size + 1), arr, style, ms=3, label=label)
      shown.append(arr)
  maybe_log_y(ax, *shown)
  ax.set(title="Losses per epoch", xlabel="epoch", ylabel="MSE (normalised units)")
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  epoch_axis(ax)
  fig.suptitle(f"{ctx.run_name} — {when(ctx.moment, ctx.epoch)}")
  return fig


def _events(ctx):
  """eta-phi maps of a few validation events: true vs DDIM-reconstructed
  tokens (marker area ~ pT), physical units."""
  ds, loop = ctx.dataset, ctx.loop
  ev, raw = ds.splits["val"], ds.raw["val"]
  n_real = (ev.ids > 0).sum(1)
  pick = np.flatnonzero(n_real >= 2)[:N_EVENTS]
  if pick.size == 0:
    return None
  key = id(loop)
  if key not in _JITTED:
    _JITTED.clear()
    _JITTED[key] = jax.jit(loop.reconstruct)
  batch = {"ids": ev.ids[pick], "cont": ev.cont[pick], "globals": ev.globals[pick],
           "weight": np.ones(pick.size, np.float32)}
  x_hat, _ = _JITTED[key](ctx.state, batch)
  rec = np.asarray(ds.norm.invert_cont(np.asarray(x_hat)))
  true = raw.cont[pick]
  fig, axes = new_figure(1, pick.size, size=(3.6, 3.6))
  axes = np.atleast_2d(axes)
  scale = 150.0 / max(float(np.percentile(true[..., 1][ev.ids[pick] > 0], 90)), 1e-6)
  for j, ax in enumerate(axes[0]):
    m = ev.ids[pick[j]] > 0
    t, r = true[j][m], rec[j][m]
    for a, b in zip(t, r):
      ax.plot([a[2], b[2]], [a[3], b[3]], c="grey", lw=0.8)
    ax.scatter(t[:, 2], t[:, 3], s=np.clip(t[:, 1] * scale, 8, 400), c="C0",
               alpha=0.5, label="true")
    ax.scatter(r[:, 2], r[:, 3], s=np.clip(r[:, 1] * scale, 8, 400), c="C3",
               marker="x", label="reconstructed")
    for a, b in zip(t, r):
      ax.annotate(f"{a[1]:.0f}→{b[1]:.0f}", (b[2], b[3]), fontsize=7,
                  xytext=(3, 3), textcoords="offset points")
    ax.set(title=f"val event {pick[j]} ({int(m.sum())} tokens)",
           xlabel=r"$\eta$", ylabel=r"$\phi$ [rad]", xlim=(-5, 5),
           ylim=(-3.6, 3.6))
    ax.grid(alpha=0.3)
  axes[0, 0].legend(fontsize=8, loc="lower left")
  fig.suptitle(f"{ctx.run_name} — DDIM reconstructions (labels: $p_T$ true→"
               f"reconstructed [GeV], marker area ~ $p_T$), epoch {_ep(ctx)}")
  return fig


def plot(ctx):
  levels = _levels(ctx)
  if not levels:
    return []
  out = [("", _curves(ctx, levels))]
  if ctx.loop is not None and ctx.state is not None and ctx.dataset is not None:
    fig = _events(ctx)
    if fig is not None:
      out.append(("events", fig))
  return out
