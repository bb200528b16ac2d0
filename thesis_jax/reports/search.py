"""`search`: the trials of a hyperparameter search folder (experiments.search).

The runs are read like a sweep's (trial parameters are the swept columns;
pruned trials have no on_train_end and are listed as skipped). The study in
`{inputs.sweep_dir}/study.db` adds every trial's state and objective.

Figures (training/figures/): search_objective_over_trials,
search_param_importances, search_parallel_coordinates.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List

import numpy as np

from thesis_jax.errors import ConfigError
from thesis_jax.monitoring.figures import maybe_log_y
from thesis_jax.reports.base import Report
from thesis_jax.reports.common import fmt
from thesis_jax.reports.style import figure_name, new_figure, save_png


def load_search(sdir: str):
  """-> (search.json spec, trial rows, parameter importances). Importances
  are Optuna's (PED-ANOVA) over the complete trials; {} with fewer than two."""
  import optuna
  from thesis_jax import search
  if not sdir or not os.path.isfile(os.path.join(sdir, "search.json")):
    raise ConfigError("report search: inputs.sweep_dir must be a search "
                      "folder (with search.json), e.g. outputs/multiruns/"
                      "search_20260101-120000_vq_ae")
  spec = search.read_spec(sdir)
  study = search.open_study(sdir, spec)
  rows = search.trial_rows(study, spec)
  imp = {}
  if sum(r["state"] == "complete" for r in rows) >= 2:
    try:
      imp = dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
      imp = {}   # e.g. every objective equal
  return spec, rows, imp


class SearchReport(Report):
  name = "search"

  def __init__(self):
    self._cache = None

  def check(self, runs, config) -> None:
    self._load(config)

  def _load(self, config):
    if self._cache is None:
      self._cache = load_search(str(config.inputs.sweep_dir or ""))
    return self._cache

  def figures(self, runs, config, fig_dir: str) -> List[str]:
    spec, rows, imp = self._load(config)
    dpi = int(config.figures.dpi)
    out = []
    for key, fig in (("search_objective_over_trials", _over_trials(spec, rows)),
                     ("search_param_importances", _importances(spec, imp)),
                     ("search_parallel_coordinates", _parallel(spec, rows))):
      out.append(save_png(fig, os.path.join(fig_dir, figure_name(key)), dpi=dpi))
    return out

  def summary(self, runs, config) -> Dict[str, Any]:
    from thesis_jax.search.summary import best_row
    spec, rows, imp = self._load(config)
    states: Dict[str, int] = {}
    for r in rows:
      states[r["state"]] = states.get(r["state"], 0) + 1
    return {"search": {
        "objective": spec["search"]["objective"],
        "direction": spec["search"]["direction"], "space": spec["space"],
        "states": states, "best": best_row(rows, spec["search"]["direction"]),
        "importances": imp, "trials": rows}}

  def text(self, runs, config) -> List[str]:
    from thesis_jax.search.summary import best_row
    spec, rows, imp = self._load(config)
    s = spec["search"]
    best = best_row(rows, s["direction"])
    lines = [f"{len(rows)} trials: " + ", ".join(
        f"{sum(r['state'] == st for r in rows)} {st}"
        for st in sorted({r['state'] for r in rows}))]
    if best:
      lines.append(f"best trial {best['trial']}: {s['objective']} "
                   f"{fmt(best['objective'])} | " + ", ".join(
                       f"{k}={best[k]}" for k in spec["space"]))
    if imp:
      lines.append("importance: " + ", ".join(f"{k} {v:.2f}"
                                              for k, v in imp.items()))
    return lines


def _over_trials(spec, rows):
  s = spec["search"]
  fig, ax = new_figure(size=(7.2, 4.4))
  done = [r for r in rows if r["state"] == "complete" and r["objective"] is not None]
  ax.scatter([r["trial"] for r in done], [r["objective"] for r in done],
             color="#1f77b4", s=30, zorder=3, label="complete")
  ys = [r["objective"] for r in done]
  if done:
    pick = min if s["direction"] == "minimize" else max
    best, xs, bs = None, [], []
    for r in done:
      best = r["objective"] if best is None else pick(best, r["objective"])
      xs.append(r["trial"])
      bs.append(best)
    ax.step(xs, bs, where="post", color="#d62728", label="best so far")
  pruned = [r for r in rows if r["state"] == "pruned"
            and r["last_reported"] is not None]
  if pruned:
    ax.scatter([r["trial"] for r in pruned], [r["last_reported"] for r in pruned],
               marker="x", color="grey", s=30, zorder=3,
               label="pruned (value where it stopped)")
    ys += [r["last_reported"] for r in pruned]
  maybe_log_y(ax, np.asarray(ys, float))
  ax.set(title=f"Search objective per trial ({s['direction']} {s['objective']})",
         xlabel="trial", ylabel=f"best {s['objective']} of the trial")
  ax.grid(alpha=0.3)
  ax.legend(loc="best", fontsize=8)
  return fig


def _importances(spec, imp):
  fig, ax = new_figure(size=(6.4, 0.5 + 0.45 * max(len(spec["space"]), 2)))
  if imp:
    names = list(imp)[::-1]
    ax.barh(names, [imp[n] for n in names], color="#2ca02c")
    ax.set(xlabel="importance (fraction of the objective's variation)",
           title="Parameter importances (Optuna, complete trials)")
  else:
    ax.text(0.5, 0.5, "needs two or more complete trials\nwith different "
            "objectives", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
  return fig


def _axis(values, spec) -> np.ndarray:
  """Parameter values -> [0, 1] along its range (log ranges in log)."""
  if spec["type"] == "categorical":
    ch = [str(c) for c in spec["choices"]]
    return np.array([ch.index(str(v)) / max(len(ch) - 1, 1) if str(v) in ch
                     else np.nan for v in values])
  lo, hi = float(spec["low"]), float(spec["high"])
  v = np.array([np.nan if x is None else float(x) for x in values])
  if spec.get("log"):
    v, lo, hi = np.log(v), math.log(lo), math.log(hi)
  return (v - lo) / (hi - lo)


def _parallel(spec, rows):
  import matplotlib
  names = list(spec["space"])
  done = [r for r in rows if r["state"] == "complete" and r["objective"] is not None]
  fig, ax = new_figure(size=(1.6 * len(names) + 2.4, 4.4))
  if done:
    obj = np.array([r["objective"] for r in done], float)
    cols = np.stack([_axis([r[n] for r in done], spec["space"][n])
                     for n in names], axis=1)
    norm = matplotlib.colors.Normalize(np.nanmin(obj), np.nanmax(obj))
    cmap = matplotlib.colormaps["viridis_r" if spec["search"]["direction"]
                                == "minimize" else "viridis"]
    for y, o in zip(cols, obj):
      ax.plot(range(len(names)), y, color=cmap(norm(o)), alpha=0.8, lw=1.4)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax,
                 label=spec["search"]["objective"])
  for i, n in enumerate(names):
    ax.axvline(i, color="black", lw=0.8)
    sp = spec["space"][n]
    lo, hi = ((sp["choices"][0], sp["choices"][-1]) if sp["type"] ==
              "categorical" else (sp["low"], sp["high"]))
    ax.text(i, -0.06, str(lo), ha="center", va="top", fontsize=7)
    ax.text(i, 1.06, str(hi), ha="center", va="bottom", fontsize=7)
  ax.set_xticks(range(len(names)), names)
  ax.set_ylim(-0.15, 1.15)
  ax.set_yticks([])
  ax.set(title="Parallel coordinates (complete trials; colour = objective)")
  return fig
