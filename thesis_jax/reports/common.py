"""Helpers shared by the reports: grouping, legends, number formatting."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from thesis_jax.facts.schema import clean_number, json_safe
from thesis_jax.reports.style import (SEED_STYLES, bottleneck_color, bottleneck_label,
                                      order_bottlenecks)


def fmt(x, digits: int = 4) -> str:
  if x is None or (isinstance(x, float) and not math.isfinite(x)):
    return "-"
  if isinstance(x, (int, np.integer)):
    return f"{int(x):,}"
  x = float(x)
  if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
    return f"{x:.{digits - 1}e}"
  return f"{x:.{digits}g}"


def curves(runs, key: str = "val_loss") -> pd.DataFrame:
  """Per-epoch rows joined with the run's tokenizer/seed/globals_beta."""
  cols = [c for c in ("run_dir", "run_name", "tokenizer", "seed", "globals_beta",
                      "encoder") if c in runs.summary]
  df = runs.per_epoch.merge(runs.summary[cols], on="run_dir", how="inner")
  return df[df[key].notna()] if key in df else df.iloc[0:0]


def seed_styles(summary: pd.DataFrame) -> Dict[Any, str]:
  seeds = sorted({s for s in summary["seed"].tolist() if s is not None and s == s},
                 key=str)
  return {s: SEED_STYLES[i % len(SEED_STYLES)] for i, s in enumerate(seeds)}


def bottleneck_legend(ax, names: Sequence, seeds: Dict[Any, str] | None = None,
                  extra: List | None = None, **kw) -> None:
  """Legend with one colour per latent space (+ one line style per seed)."""
  handles = [Line2D([], [], color=bottleneck_color(n), lw=2.5, marker="o",
                    label=bottleneck_label(n)) for n in order_bottlenecks(names)]
  if seeds and len(seeds) > 1:
    handles += [Line2D([], [], color="grey", ls=st, label=f"seed {s}")
                for s, st in seeds.items()]
  handles += extra or []
  ax.legend(handles=handles, **kw)


def group_stats(summary: pd.DataFrame, by: Sequence[str],
                cols: Sequence[str]) -> List[Dict[str, Any]]:
  """Mean / std (ddof 0) / min / n over runs per group, JSON-friendly."""
  out = []
  for key, g in summary.groupby(list(by), dropna=False, sort=False):
    key = key if isinstance(key, tuple) else (key,)
    row: Dict[str, Any] = {b: json_safe(k) for b, k in zip(by, key)}
    row["n_runs"] = int(len(g))
    for c in cols:
      v = pd.to_numeric(g[c], errors="coerce").dropna() if c in g else pd.Series([], dtype=float)
      row[c] = {"mean": clean_number(v.mean()) if len(v) else None,
                "std": clean_number(v.std(ddof=0)) if len(v) else None,
                "min": clean_number(v.min()) if len(v) else None, "n": int(len(v))}
    out.append(row)
  return out


def best_row(summary: pd.DataFrame, col: str = "loss.total_best") -> Dict[str, Any]:
  s = pd.to_numeric(summary[col], errors="coerce")
  if s.notna().any():
    return summary.loc[s.idxmin()].to_dict()
  return summary.iloc[0].to_dict()
