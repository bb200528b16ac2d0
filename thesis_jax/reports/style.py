"""Shared look of report figures: one colour per latent space, everywhere."""
from __future__ import annotations

from typing import Iterable, List

from thesis_jax.monitoring.figures import new_figure, save_png  # noqa: F401

LATENT_ORDER = ("none", "linear", "vq")
LATENT_COLORS = {"none": "#1f77b4", "linear": "#ff7f0e", "vq": "#2ca02c"}
_EXTRA = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
LATENT_LABELS = {"none": "none (identity)", "linear": "linear", "vq": "VQ"}
SEED_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LOSS_UNITS = "MSE, normalised units"


def order_latents(names: Iterable) -> List[str]:
  """none, linear, vq first (the original's order), then any other names sorted."""
  names = {str(n) for n in names if n is not None}
  return [n for n in LATENT_ORDER if n in names] + sorted(names - set(LATENT_ORDER))


def latent_color(name) -> str:
  name = str(name)
  if name in LATENT_COLORS:
    return LATENT_COLORS[name]
  return _EXTRA[sum(map(ord, name)) % len(_EXTRA)]


def latent_label(name) -> str:
  return LATENT_LABELS.get(str(name), str(name))


def figure_name(key: str) -> str:
  """Report figure file name as in the original: `figure-<key>.png`."""
  return f"figure-{key}.png"
