"""`compare_tokenizers`: runs grouped by latent space (none / linear / vq).

Figures (training/figures/): val_mse_vs_time, pareto_error_vs_compression,
vq_perplexity_boxplot, throughput_vs_best_val, time_to_threshold.
Losses are in the model's normalised units; times are cumulative epoch wall
times [s] from the facts (thesis_jax's first epoch includes compilation).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from thesis_jax.facts.schema import clean_number
from thesis_jax.monitoring.figures import maybe_log_y
from thesis_jax.reports.common import (best_row, curves, fmt,
                                       group_stats, bottleneck_legend, seed_styles)
from thesis_jax.reports.base import Report
from thesis_jax.reports.style import (LOSS_UNITS, MARKERS, figure_name,
                                      bottleneck_color, bottleneck_label, new_figure,
                                      order_bottlenecks, save_png)

INPUT_BITS = 4 * 32   # one token: (E, pT, eta, phi) as float32
STATS = ("loss.total_best", "loss.recon_best", "loss.rec_globals_best",
         "metric_perplex_final", "throughput_mean", "total_time_s",
         "time_to_threshold_s")


def threshold(summary: pd.DataFrame, config) -> float:
  """`thresholds.val_loss`, or (<= 0) the worst best val loss of the runs,
  a quality level every run reaches."""
  t = float(config.get("thresholds", {}).get("val_loss", 0.0) or 0.0)
  return t if t > 0 else float(pd.to_numeric(summary["loss.total_best"]).max())


def time_to(per_run: pd.DataFrame, thr: float):
  hit = per_run[per_run["val_loss"] <= thr]
  return float(hit["time_s"].iloc[0]) if len(hit) and "time_s" in hit else None


def _with_thresholds(runs, config) -> pd.DataFrame:
  s = runs.summary.copy()
  thr = threshold(s, config)
  ep = curves(runs)
  t = {rd: time_to(g.sort_values("epoch"), thr) for rd, g in ep.groupby("run_dir")}
  s["time_to_threshold_s"] = [t.get(rd) for rd in s["run_dir"]]
  s["compression"] = [INPUT_BITS / b if b else None
                      for b in s["latent_bits_per_token"]]
  return s


class CompareTokenizers(Report):
  name = "compare_tokenizers"

  def figures(self, runs, config, fig_dir: str) -> List[str]:
    s = _with_thresholds(runs, config)
    out = []
    for key, fn in (("val_mse_vs_time", _val_vs_time),
                    ("pareto_error_vs_compression", _pareto),
                    ("vq_perplexity_boxplot", _perplexity),
                    ("throughput_vs_best_val", _throughput),
                    ("time_to_threshold", _time_to_threshold)):
      fig = fn(runs, s, config)
      out.append(save_png(fig, os.path.join(fig_dir, figure_name(key)),
                          dpi=int(config.figures.dpi)))
    return out

  def summary(self, runs, config) -> Dict[str, Any]:
    s = _with_thresholds(runs, config)
    return {"group_by": "tokenizer", "threshold_val_loss": threshold(s, config),
            "time_to_threshold_s": dict(zip(s["run_name"],
                                            map(clean_number, s["time_to_threshold_s"]))),
            "groups": group_stats(s, ["tokenizer"], STATS)}

  def text(self, runs, config) -> List[str]:
    s = _with_thresholds(runs, config)
    lines = [f"{'latent':<8}{'runs':>5}{'best val loss':>22}{'rec_tokens':>12}"
             f"{'perplexity':>12}{'events/s':>11}{'t(thr) [s]':>12}"]
    for g in group_stats(s, ["tokenizer"], STATS):
      m = lambda c: g[c]["mean"]
      sd = g["loss.total_best"]["std"]
      lines.append(f"{str(g['tokenizer']):<8}{g['n_runs']:>5}"
                   f"{fmt(m('loss.total_best')):>12} ± {fmt(sd, 2):<7}"
                   f"{fmt(m('loss.recon_best')):>12}"
                   f"{fmt(m('metric_perplex_final')):>12}"
                   f"{fmt(clean_number(m('throughput_mean')) and round(m('throughput_mean'))):>11}"
                   f"{fmt(m('time_to_threshold_s'), 3):>12}")
    b = best_row(s)
    lines.append(f"best run: {b['run_name']} ({b['tokenizer']}, seed {b['seed']}): "
                 f"val loss {fmt(b['loss.total_best'])} at epoch "
                 f"{int(b['best_epoch']) + 1}; threshold {fmt(threshold(s, config))}")
    return lines


def _val_vs_time(runs, s, config):
  fig, ax = new_figure(size=(7.2, 4.6))
  ep = curves(runs)
  styles = seed_styles(s)
  arrays = []
  for rd, g in ep.groupby("run_dir", sort=False):
    g = g.sort_values("epoch")
    ax.plot(g["time_s"], g["val_loss"], ls=styles.get(g["seed"].iloc[0], "-"),
            color=bottleneck_color(g["tokenizer"].iloc[0]), marker=".", ms=4,
            alpha=0.85)
    arrays.append(g["val_loss"].to_numpy(float))
  maybe_log_y(ax, *arrays)
  ax.set(title="Validation loss vs training time",
         xlabel="training time [s] (cumulative epoch wall time)",
         ylabel=f"validation loss ({LOSS_UNITS})")
  ax.grid(alpha=0.3)
  bottleneck_legend(ax, s["tokenizer"], styles, title="latent space",
                loc="upper left", bbox_to_anchor=(1.01, 1.0))
  return fig


def _pareto(runs, s, config):
  fig, ax = new_figure(size=(7.2, 4.6))
  d = s[s["compression"].notna()]
  for tok in order_bottlenecks(d["tokenizer"]):
    g = d[d["tokenizer"] == tok]
    ax.scatter(g["compression"], g["loss.total_best"], s=45,
               color=bottleneck_color(tok), label=bottleneck_label(tok), zorder=3)
  pts = sorted(zip(d["compression"], d["loss.total_best"]), key=lambda p: -p[0])
  front, best = [], np.inf
  for x, y in pts:   # most compressed first: keep points that lower the error
    if y < best:
      front.append((x, y))
      best = y
  if len(front) > 1:
    fx, fy = zip(*front)
    ax.step(fx, fy, where="post", ls="--", c="grey", label="Pareto front")
  ax.set_xscale("log")
  maybe_log_y(ax, d["loss.total_best"].to_numpy(float))
  ax.set(title="Error vs compression (one point per run)",
         xlabel="compression ratio per token (128 input bits / latent bits)",
         ylabel=f"best validation loss ({LOSS_UNITS})")
  ax.grid(alpha=0.3, which="both")
  ax.legend(title="latent space")
  return fig


def _perplexity(runs, s, config):
  fig, ax = new_figure(size=(6.4, 4.4))
  v = s[(s["tokenizer"] == "vq") & s["metric_perplex_final"].notna()]
  if v.empty:
    ax.text(0.5, 0.5, "no VQ runs (with perplexity) in this selection",
            ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
  else:
    sizes = sorted(v["codebook_size"].dropna().unique().tolist()) or [None]
    data = [v[v["codebook_size"] == k]["metric_perplex_final"].to_numpy(float)
            if k is not None else v["metric_perplex_final"].to_numpy(float)
            for k in sizes]
    ax.boxplot(data, positions=range(1, len(sizes) + 1), widths=0.5,
               patch_artist=True, boxprops={"facecolor": bottleneck_color("vq"),
                                            "alpha": 0.4})
    rng = np.random.default_rng(0)
    for i, (k, d) in enumerate(zip(sizes, data), start=1):
      ax.scatter(i + rng.uniform(-0.08, 0.08, d.size), d, s=20, zorder=3,
                 color=bottleneck_color("vq"), label="runs" if i == 1 else None)
      if k:
        ax.hlines(k, i - 0.3, i + 0.3, colors="grey", ls="--",
                  label="codebook size" if i == 1 else None)
    ax.set_xticks(range(1, len(sizes) + 1),
                  [f"K = {int(k)}" if k else "?" for k in sizes])
    top = max([k or 0 for k in sizes] + [float(np.nanmax(np.concatenate(data)))])
    ax.set_ylim(0, 1.08 * top)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, axis="y")
  ax.set(title="VQ codebook perplexity at the last epoch",
         xlabel="codebook size", ylabel="validation perplexity (effective codes)")
  return fig


def _throughput(runs, s, config):
  fig, ax = new_figure(size=(7.2, 4.6))
  encs = sorted({str(e) for e in s["encoder"]})
  for _, r in s.iterrows():
    ax.scatter(r["throughput_mean"], r["loss.total_best"], s=45, zorder=3,
               color=bottleneck_color(r["tokenizer"]),
               marker=MARKERS[encs.index(str(r["encoder"])) % len(MARKERS)])
  maybe_log_y(ax, s["loss.total_best"].to_numpy(float))
  ax.set(title="Training speed vs quality (one point per run)",
         xlabel="mean training throughput [events/s]",
         ylabel=f"best validation loss ({LOSS_UNITS})")
  ax.grid(alpha=0.3)
  extra = ([Line2D([], [], color="grey", ls="", marker=MARKERS[i % len(MARKERS)],
                   label=f"encoder {e}") for i, e in enumerate(encs)]
           if len(encs) > 1 else [])
  bottleneck_legend(ax, s["tokenizer"], extra=extra, title="latent space")
  return fig


def _time_to_threshold(runs, s, config):
  fig, ax = new_figure(size=(6.8, 4.4))
  thr = threshold(s, config)
  toks = order_bottlenecks(s["tokenizer"])
  rng = np.random.default_rng(0)
  for i, tok in enumerate(toks):
    g = s[s["tokenizer"] == tok]
    t = pd.to_numeric(g["time_to_threshold_s"], errors="coerce")
    reached = t.dropna().to_numpy(float)
    if reached.size:
      ax.bar(i, reached.mean(), yerr=reached.std() if reached.size > 1 else None,
             color=bottleneck_color(tok), alpha=0.45, capsize=4, width=0.6)
      ax.scatter(i + rng.uniform(-0.1, 0.1, reached.size), reached, s=20,
                 color=bottleneck_color(tok), zorder=3)
    missed = int(t.isna().sum())
    if missed:
      ax.annotate(f"{missed} run(s) never\nreached it", (i, 0), ha="center",
                  va="bottom", fontsize=8, xytext=(0, 4), textcoords="offset points")
  ax.set_xticks(range(len(toks)), [bottleneck_label(t) for t in toks])
  ax.set(title=f"Time to reach validation loss ≤ {fmt(thr)}",
         xlabel="latent space", ylabel="training time [s] (mean ± std, dots: runs)")
  ax.grid(alpha=0.3, axis="y")
  return fig
