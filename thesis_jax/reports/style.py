"""Shared look of report figures: one colour per bottleneck (config: latent space), everywhere."""
from __future__ import annotations

from typing import Iterable, List

from thesis_jax.monitoring.figures import new_figure, save_png  # noqa: F401

BOTTLENECK_ORDER = ("none", "linear", "vq")
BOTTLENECK_COLORS = {"none": "#1f77b4", "linear": "#ff7f0e", "vq": "#2ca02c"}
_EXTRA = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BOTTLENECK_LABELS = {"none": "none (identity)", "linear": "linear", "vq": "VQ"}
SEED_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LOSS_UNITS = "MSE, normalised units"


def order_bottlenecks(names: Iterable) -> List[str]:
  """none, linear, vq first (the original's order), then any other names sorted."""
  names = {str(n) for n in names if n is not None}
  return [n for n in BOTTLENECK_ORDER if n in names] + sorted(names - set(BOTTLENECK_ORDER))


def bottleneck_color(name) -> str:
  name = str(name)
  if name in BOTTLENECK_COLORS:
    return BOTTLENECK_COLORS[name]
  return _EXTRA[sum(map(ord, name)) % len(_EXTRA)]


def bottleneck_label(name) -> str:
  return BOTTLENECK_LABELS.get(str(name), str(name))


def figure_name(key: str) -> str:
  """Report figure file name as in the original: `figure-<key>.png`."""
  return f"figure-{key}.png"
