"""`compare_globals_heads`: the latent space x globals_beta grid (x seeds).

Figures (training/figures/): grid_best_val_loss, grid_best_rec_globals,
grid_best_rec_tokens (heat maps: mean over seeds, ± std, n runs),
tradeoff_rec_tokens_vs_rec_globals, val_curves, train_curves.
The total loss includes `globals_beta x rec_globals`, so compare it across
columns with care; rec_tokens and rec_globals are comparable everywhere: the
reader gives every run's rec_globals as the plain mse (thesis-ml logs
globals_beta x mse; `facts.run_config.CONVENTION`), NaN for a thesis-ml run
with beta 0 (its logged 0 carries no mse).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D

from thesis_jax.errors import ConfigError
from thesis_jax.facts.schema import clean_number
from thesis_jax.monitoring.figures import epoch_axis, maybe_log_y
from thesis_jax.reports.common import (best_row, curves, fmt,
                                       bottleneck_legend, seed_styles)
from thesis_jax.reports.base import Report
from thesis_jax.reports.style import (LOSS_UNITS, MARKERS, figure_name,
                                      bottleneck_color, bottleneck_label, new_figure,
                                      order_bottlenecks, save_png)

GRIDS = (("grid_best_val_loss", "loss.total_best", "best validation loss (total)"),
         ("grid_best_rec_globals", "loss.rec_globals_best",
          "globals reconstruction (MET, MET phi) at the best epoch"),
         ("grid_best_rec_tokens", "loss.recon_best",
          "token reconstruction at the best epoch"))


def grid(summary: pd.DataFrame, col: str) -> Dict[str, Any]:
  """-> {"latents", "betas", "mean" [L,B], "std" [L,B], "n" [L,B]} (NaN: no run)."""
  lat = order_bottlenecks(summary["tokenizer"])
  betas = sorted({float(b) for b in summary["globals_beta"]})
  shape = (len(lat), len(betas))
  mean, std, n = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, int)
  for i, tok in enumerate(lat):
    for j, b in enumerate(betas):
      v = pd.to_numeric(summary[(summary["tokenizer"] == tok)
                                & (summary["globals_beta"].astype(float) == b)][col],
                        errors="coerce").dropna().to_numpy(float)
      n[i, j] = v.size
      if v.size:
        mean[i, j], std[i, j] = v.mean(), v.std()
  return {"latents": lat, "betas": betas, "mean": mean, "std": std, "n": n}


def _grid_json(g) -> Dict[str, Any]:
  out: Dict[str, Any] = {}
  for i, tok in enumerate(g["latents"]):
    out[tok] = {fmt(b): {"mean": clean_number(g["mean"][i, j]),
                         "std": clean_number(g["std"][i, j]), "n": int(g["n"][i, j])}
                for j, b in enumerate(g["betas"])}
  return out


class CompareGlobalsHeads(Report):
  name = "compare_globals_heads"

  def check(self, runs, config) -> None:
    s = runs.summary
    for col, key in (("globals_beta", "phase1.decoder.globals_beta"),
                     ("tokenizer", "phase1.latent_space")):
      bad = s[s[col].isna()]["run_dir"].tolist()
      if bad:
        raise ConfigError(f"compare_globals_heads: no {key} in the config of "
                          f"{len(bad)} run(s), e.g. {bad[0]}")

  def figures(self, runs, config, fig_dir: str) -> List[str]:
    s, dpi = runs.summary, int(config.figures.dpi)
    figs = [(key, _heatmap(grid(s, col), title)) for key, col, title in GRIDS]
    figs.append(("tradeoff_rec_tokens_vs_rec_globals", _tradeoff(s)))
    figs.append(("val_curves", _curves(runs, "val_loss", "validation")))
    figs.append(("train_curves", _curves(runs, "train_loss", "training")))
    return [save_png(f, os.path.join(fig_dir, figure_name(k)), dpi=dpi)
            for k, f in figs]

  def summary(self, runs, config) -> Dict[str, Any]:
    grids = {key: _grid_json(grid(runs.summary, col)) for key, col, _ in GRIDS}
    return {"group_by": ["tokenizer", "globals_beta"], "grids": grids}

  def text(self, runs, config) -> List[str]:
    s = runs.summary
    lines = []
    for key, col, _ in GRIDS:
      g = grid(s, col)
      lines.append(f"{key[5:] + ' (mean over seeds)':<36}"
                   + "".join(f"{'beta=' + fmt(b):>10}" for b in g["betas"]))
      for i, tok in enumerate(g["latents"]):
        lines.append(f"  {tok:<34}" + "".join(
            f"{fmt(g['mean'][i, j]):>10}" for j in range(len(g["betas"]))))
    b = best_row(s, "loss.recon_best")
    lines.append(f"best token reconstruction: {b['run_name']} ({b['tokenizer']}, "
                 f"globals_beta {fmt(b['globals_beta'])}, seed {b['seed']}): "
                 f"rec_tokens {fmt(b['loss.recon_best'])}, rec_globals "
                 f"{fmt(b['loss.rec_globals_best'])}")
    return lines


def _heatmap(g, title: str):
  nl, nb = len(g["latents"]), len(g["betas"])
  fig, ax = new_figure(size=(1.9 * nb + 3.2, 1.1 * nl + 2.2))
  m = np.ma.masked_invalid(g["mean"])
  vals = g["mean"][np.isfinite(g["mean"])]
  norm = Normalize()
  if vals.size and (vals > 0).all() and vals.max() / vals.min() > 10:
    norm = LogNorm(vals.min(), vals.max())
  cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd")
  im = ax.imshow(m, cmap=cmap, norm=norm, aspect="auto")
  for i in range(nl):
    for j in range(nb):
      n = g["n"][i, j]
      if n == 0:
        txt, color = "no runs", "black"
      else:
        txt = (f"{fmt(g['mean'][i, j], 3)}\n(1 run)" if n == 1 else
               f"{fmt(g['mean'][i, j], 3)}\n± {fmt(g['std'][i, j], 2)}\n"
               f"({n} runs)")   # one run: no spread to show
        rgba = cmap(norm(g["mean"][i, j]))
        color = "black" if 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] > 0.5 else "white"
      ax.text(j, i, txt, ha="center", va="center", fontsize=8, color=color)
  ax.set_xticks(range(nb), [fmt(b) for b in g["betas"]])
  ax.set_yticks(range(nl), [bottleneck_label(t) for t in g["latents"]])
  span = _relative_span(vals)
  if span is not None and span < NARROW_SPAN:
    # Viridis stretches any range over the full palette: say how small the
    # differences are instead of letting colours exaggerate them.
    title += f"\n(colours span only {100 * span:.1f}% of the value)"
  ax.set(title=title, xlabel="weight of the globals loss (globals_beta)",
         ylabel="latent space")
  fig.colorbar(im, ax=ax, label=f"mean over seeds ({LOSS_UNITS})")
  return fig


NARROW_SPAN = 0.1   # (max - min) / max below this: the note above


def _relative_span(vals):
  if vals.size < 2 or not (vals > 0).all():
    return None
  return float((vals.max() - vals.min()) / vals.max())


def _tradeoff(s: pd.DataFrame):
  fig, ax = new_figure(size=(7.0, 4.8))
  betas = sorted({float(b) for b in s["globals_beta"]})
  mk = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(betas)}
  for _, r in s.iterrows():
    ax.scatter(r["loss.recon_best"], r["loss.rec_globals_best"], s=50, zorder=3,
               color=bottleneck_color(r["tokenizer"]), marker=mk[float(r["globals_beta"])],
               edgecolor="black", linewidth=0.4)
  x = pd.to_numeric(s["loss.recon_best"], errors="coerce").to_numpy(float)
  y = pd.to_numeric(s["loss.rec_globals_best"], errors="coerce").to_numpy(float)
  for arr, axis in ((x, "x"), (y, "y")):
    a = arr[np.isfinite(arr)]
    if a.size and (a > 0).all() and a.max() / a.min() > 10:
      getattr(ax, f"set_{axis}scale")("log")
  ax.set(title="Token vs globals reconstruction (one point per run)",
         xlabel=f"token reconstruction at best epoch ({LOSS_UNITS})",
         ylabel=f"globals reconstruction at best epoch ({LOSS_UNITS})")
  ax.grid(alpha=0.3, which="both")
  extra = [Line2D([], [], color="grey", ls="", marker=mk[b],
                  label=f"globals_beta = {fmt(b)}") for b in betas]
  # Outside the axes: a legend inside would hide points.
  bottleneck_legend(ax, s["tokenizer"], extra=extra, fontsize=8,
                loc="upper left", bbox_to_anchor=(1.02, 1.0))
  return fig


def _curves(runs, key: str, label: str):
  s = runs.summary
  betas = sorted({float(b) for b in s["globals_beta"]})
  fig, axes = new_figure(1, len(betas), size=(4.6, 3.9))
  axes = np.atleast_2d(axes)      # one beta -> a single Axes
  ep = curves(runs, key)
  styles = seed_styles(s)
  for j, b in enumerate(betas):
    ax = axes[0, j]
    sub = ep[ep["globals_beta"].astype(float) == b]
    arrays = []
    for _, g in sub.groupby("run_dir", sort=False):
      g = g.sort_values("epoch")
      ax.plot(g["epoch"] + 1, g[key], ls=styles.get(g["seed"].iloc[0], "-"),
              color=bottleneck_color(g["tokenizer"].iloc[0]), marker=".", ms=4)
      arrays.append(g[key].to_numpy(float))
    maybe_log_y(ax, *arrays)
    epoch_axis(ax)
    ax.set(title=f"globals-loss weight {fmt(b)}", xlabel="epoch",
           ylabel=f"{label} loss ({LOSS_UNITS})")
    ax.grid(alpha=0.3)
  bottleneck_legend(axes[0, -1], s["tokenizer"], styles, fontsize=8)
  fig.suptitle(f"All {label} curves (total loss, including the weighted "
               "globals term)")
  return fig
