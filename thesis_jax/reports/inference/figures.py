"""Inference figures: ROC curves per strategy, score histograms, AUROC vs
strength. Each function writes one PNG and returns its path."""
from __future__ import annotations

import math
import os
from typing import Dict, List, Sequence

import numpy as np

from thesis_jax.reports.inference import metrics


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def _grid(n: int, size=(4.6, 3.8)):
  plt = _plt()
  cols = min(n, 3)
  rows = math.ceil(n / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows),
                           squeeze=False)
  for ax in axes.ravel()[n:]:
    ax.set_visible(False)
  return plt, fig, axes.ravel()


def _save(plt, fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


# A ROC drawn from at most ~6x this many points (see `thin_curve`).
CURVE_POINTS = 2000


def thin_curve(eb: np.ndarray, es: np.ndarray, n: int = CURVE_POINTS):
  """ROC points (eps_B, eps_S, both non-decreasing) -> the points nearest
  to n values of eps_B spaced linearly and logarithmically and n of eps_S
  (each with its predecessor, so steps keep their corners): the same curve at
  figure resolution on linear and log axes, without plotting millions of
  points. Curves of at most 6n points are returned as they are."""
  if eb.size <= 6 * n:
    return eb, es
  pos = eb[eb > 0]
  lo = pos[0] if pos.size else 1.0
  idx = np.concatenate([np.searchsorted(eb, np.linspace(0, 1, n)),
                        np.searchsorted(eb, np.geomspace(lo, 1, n)),
                        np.searchsorted(es, np.linspace(0, 1, n))])
  idx = np.unique(np.clip(np.concatenate([idx, idx - 1, [0, eb.size - 1]]),
                          0, eb.size - 1))
  return eb[idx], es[idx]


def roc_figure(path: str, title: str, groups: Dict[str, List[dict]],
               clean: np.ndarray, score: str, notes: Dict[str, str] = None
               ) -> str:
  """One panel per strategy; one ROC curve per strength (or file).

  groups: {strategy: [{"label", "scores" (anomalous scores), "auroc"}]};
  notes: {strategy: short text shown in that panel}.
  """
  notes = notes or {}
  plt, fig, axes = _grid(len(groups))
  for ax, (name, items) in zip(axes, groups.items()):
    cmap = plt.get_cmap("viridis")
    for i, it in enumerate(items):
      eb, es = thin_curve(*metrics.roc_curve(clean, it["scores"])[:2])
      ax.plot(eb, es, color=cmap(0.15 + 0.7 * i / max(len(items) - 1, 1)),
              lw=1.6, label=f"{it['label']}  (AUROC {it['auroc']:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title=name,
           xlabel=r"clean events flagged $\varepsilon_B$ (false-positive rate)",
           ylabel=r"anomalous events flagged $\varepsilon_S$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if name in notes:
      ax.text(0.03, 0.97, notes[name], transform=ax.transAxes, fontsize=7,
              va="top", bbox={"facecolor": "lightyellow", "alpha": 0.9,
                              "edgecolor": "0.7"})
  fig.suptitle(f"{title}\nROC of per-event '{score}' (anomalous vs clean)",
               fontsize=10)
  return _save(plt, fig, path)


def score_roc_figure(path: str, title: str, clean: Dict[str, np.ndarray],
                     panels: List[dict], shown: Sequence[str] = ("mse", "loss")
                     ) -> str:
  """Learned scores against the model-free baselines: one panel per
  anomalous sample, one ROC per score (baselines dashed), AUROC and its
  bootstrap interval in the legend. Log eps_B axis: the low-eps_B corner
  is where a trigger-level selection works.

  clean: {score: clean scores [N]}; panels: [{"label", "anom" {score:
  anomalous scores}, "rec" (the sample's record: auroc_by_score,
  auroc_ci_by_score)}]; shown: reconstruction scores drawn besides every
  prior_* and baseline_* score (the summary has all of them).
  """
  plt, fig, axes = _grid(len(panels))
  names = [k for k in clean if np.isfinite(clean[k]).all()
           and (k in shown or k.startswith(("prior_", "baseline_")))]
  cmap = plt.get_cmap("tab10")
  for ax, p in zip(axes, panels):
    for i, name in enumerate(names):
      auc = p["rec"]["auroc_by_score"].get(name)
      a = np.asarray(p["anom"][name], np.float64)
      if auc is None or not np.isfinite(a).all():
        continue
      eb, es = thin_curve(*metrics.roc_curve(clean[name], a)[:2])
      ci = p["rec"].get("auroc_ci_by_score", {}).get(name) or [None, None]
      band = "" if ci[0] is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]"
      base = name.startswith("baseline_")
      ax.step(eb, es, where="post", lw=1.2 if base else 1.7,
              ls="--" if base else "-", color=cmap(i % 10),
              label=f"{name}  {auc:.3f}{band}")
    n = max(int(p["rec"]["n_clean"]), 1)
    x = np.geomspace(1.0 / n, 1.0, 50)
    ax.plot(x, x, ls=":", color="grey", lw=1, label="chance")
    ax.set(xscale="log", xlim=(1.0 / n, 1.0), ylim=(0, 1.01), title=p["label"],
           xlabel=r"clean events flagged $\varepsilon_B$",
           ylabel=r"anomalous flagged $\varepsilon_S$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", title="AUROC [bootstrap CI]",
              title_fontsize=6)
  fig.suptitle(f"{title}\nlearned scores (solid) vs model-free baselines "
               "(dashed)", fontsize=10)
  return _save(plt, fig, path)


def histogram_figure(path: str, title: str, groups: Dict[str, dict],
                     clean: np.ndarray, score: str, bins: int = 60) -> str:
  """One panel per strategy: clean vs anomalous score distributions (log x,
  log-spaced bins shared per panel, each histogram normalised to 1).
  groups: {strategy: {"label", "scores"}}."""
  plt, fig, axes = _grid(len(groups))
  for ax, (name, it) in zip(axes, groups.items()):
    a = np.asarray(it["scores"])
    both = np.concatenate([clean, a])
    both = both[np.isfinite(both) & (both > 0)]
    if both.size == 0:
      ax.set_title(f"{name}: no positive scores")
      continue
    lo, hi = np.percentile(both, [0.1, 99.9])
    edges = np.geomspace(max(lo, 1e-12), max(hi, lo * 1.01, 1e-11), bins + 1)
    ax.hist(np.clip(clean, edges[0], edges[-1]), edges, histtype="stepfilled",
            weights=np.full(clean.size, 1.0 / clean.size), color="tab:blue",
            alpha=0.35, label=f"clean (n={clean.size})")
    ax.hist(np.clip(a, edges[0], edges[-1]), edges, histtype="step", lw=1.4,
            weights=np.full(a.size, 1.0 / max(a.size, 1)), color="tab:red",
            ls="--", label=f"{it['label']} (n={a.size})")
    ax.set_xscale("log")
    ax.set(title=name, xlabel=f"per-event {score} (z-scored features)",
           ylabel="fraction of events per bin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  fig.suptitle(f"{title}\nscore distributions (overflow in the edge bins)",
               fontsize=10)
  return _save(plt, fig, path)


def auroc_vs_strength_figure(path: str, per_run: Dict[str, List[dict]],
                             score: str, latents: Dict[str, str],
                             units: Dict[str, str],
                             notes: Dict[str, str] = None) -> str:
  """One panel per corruption strategy, one line per run (colour = latent
  space, marker/line style cycling within), one legend below the panels.

  per_run: {run label: anomaly records}; latents: {run label: latent space};
  units: {strategy: strength axis label}; notes: {strategy: panel text}.
  """
  notes = notes or {}
  from thesis_jax.reports.style import MARKERS, SEED_STYLES, bottleneck_color
  strategies: List[str] = []
  for recs in per_run.values():
    for r in recs:
      if r["kind"] == "corruption" and r["strategy"] not in strategies:
        strategies.append(r["strategy"])
  plt = _plt()
  n = max(len(strategies), 1)
  cols = min(n, 3)
  rows = math.ceil(n / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows + 0.4
                                                + 0.18 * len(per_run)),
                           squeeze=False, layout="constrained")
  axes = axes.ravel()
  for ax in axes[n:]:
    ax.set_visible(False)
  count: Dict[str, int] = {}
  styles = {}
  for label in per_run:
    lat = latents.get(label, "")
    i = count[lat] = count.get(lat, -1) + 1
    styles[label] = dict(color=bottleneck_color(lat), marker=MARKERS[i % len(MARKERS)],
                         ls=SEED_STYLES[(i // len(MARKERS)) % len(SEED_STYLES)])
  for ax, name in zip(axes, strategies):
    top = 0.0
    for label, recs in per_run.items():
      pts = sorted((r["strength"], r["auroc"]) for r in recs
                   if r["kind"] == "corruption" and r["strategy"] == name
                   and r["auroc"] is not None)
      if pts:
        x, y = zip(*pts)
        top = max(top, max(x))
        ax.plot(x, y, label=label, ms=4, lw=1.3, **styles[label])
    ax.axhline(0.5, ls="--", color="grey", lw=1, label="chance (0.5)")
    ax.set(title=name, xlabel=f"strength: {units.get(name, '')}",
           ylabel=f"AUROC of per-event {score}", ylim=(0.0, 1.02),
           xlim=(-0.02 * max(top, 1e-3), 1.05 * max(top, 1e-3)))
    ax.grid(alpha=0.3)
    if name in notes:
      ax.text(0.03, 0.97, notes[name], transform=ax.transAxes, fontsize=7,
              va="top", bbox={"facecolor": "lightyellow", "alpha": 0.9,
                              "edgecolor": "0.7"})
  handles, labels = axes[0].get_legend_handles_labels()
  fig.legend(handles, labels, loc="outside lower center",
             ncol=min(3, len(labels)), fontsize=7)
  fig.suptitle("Anomaly detection: AUROC vs corruption strength "
               "(corrupted vs clean events)", fontsize=10)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def safe_name(label: str) -> str:
  """A file-name-safe version of a run label."""
  keep = [c if c.isalnum() or c in "-_." else "_" for c in label]
  return "".join(keep).strip("._") or "run"


def unique_labels(labels: Sequence[str]) -> List[str]:
  """Appends _2, _3 to repeated labels."""
  seen: Dict[str, int] = {}
  out = []
  for lab in labels:
    seen[lab] = seen.get(lab, 0) + 1
    out.append(lab if seen[lab] == 1 else f"{lab}_{seen[lab]}")
  return out


def figure_path(fig_dir: str, kind: str, label: str) -> str:
  os.makedirs(fig_dir, exist_ok=True)
  return os.path.join(fig_dir, f"figure-{kind}-{safe_name(label)}.png")
