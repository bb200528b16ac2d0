"""Routes facts events to plot families; never lets plotting stop training."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional

from thesis_jax.config_tools import split_list
from thesis_jax.errors import ConfigError, lookup
from thesis_jax.facts.schema import MOMENTS
from thesis_jax.monitoring.context import PlotContext
from thesis_jax.monitoring.families import (adversarial, codebook, diffusion,
                                            latency, losses, metrics, recon)
from thesis_jax.monitoring.figures import Skip, save_png

log = logging.getLogger("thesis_jax.monitoring")
FIG_DIR = "train_figures"
_SKIPPED = set()   # (run_dir, family) already told why it drew nothing

# `logging.families` names -> plot(ctx) -> [(suffix, Figure)].
FAMILIES = {
    "losses": losses.plot,            # loss terms per epoch
    "metrics": metrics.plot,          # perplexity, code usage, other metrics
    "recon": recon.plot,              # true vs reconstructed features (live model)
    "codebook": codebook.plot,        # code usage histogram
    "latency": latency.plot,          # epoch time and throughput
    "adversarial": adversarial.plot,  # gan_ae: discriminator histories
    "diffusion": diffusion.plot,      # diffusion_ae: loss vs noise level, samples
}


def _get(cfg, key, default):
  try:
    v = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
  except Exception:
    return default
  return default if v is None else v


def _names(x) -> List[str]:
  return [str(s) for s in split_list(x)]


def figure_path(run_dir: str, family: str, moment: str, epoch, suffix: str) -> str:
  """`{family}-{moment}-e{epoch}` with the epoch counted from 1 (e001 =
  after the first epoch), like the console and the figure titles."""
  ep = "" if epoch is None else f"-e{int(epoch) + 1:03d}"
  sfx = f"-{suffix}" if suffix else ""
  return os.path.join(run_dir, FIG_DIR, f"{family}-{moment}{ep}{sfx}.png")


def handle_event(logging_cfg, moment: str, payload: Dict[str, Any],
                 run_dir: str, context: Optional[Dict[str, Any]] = None
                 ) -> List[str]:
  """Plots `payload` with every family of `logging_cfg.families` when
  `logging_cfg.make_plots` and `moment` is in `logging_cfg.moments`.

  context: optional {"loop", "state", "dataset"} for families that need the
  model (recon). Returns the PNG paths written. Never raises: a failing
  family (or anything else) is logged as a warning.
  """
  written: List[str] = []
  try:
    if not _get(logging_cfg, "make_plots", True):
      return written
    if moment not in _names(_get(logging_cfg, "moments", ())):
      return written
    ctx = PlotContext(run_dir, moment, payload, logging_cfg, **(context or {}))
    for name in _names(_get(logging_cfg, "families", ())):
      if name not in FAMILIES:
        log.warning("logging.families: unknown plot family '%s' (valid: %s)",
                    name, ", ".join(sorted(FAMILIES)))
        continue
      try:
        for suffix, fig in FAMILIES[name](ctx):
          path = figure_path(run_dir, name, moment, payload.get("epoch"), suffix)
          written.append(save_png(fig, path))
      except Skip as e:
        if (run_dir, name) not in _SKIPPED:
          _SKIPPED.add((run_dir, name))
          log.warning("figure family '%s' skipped: %s", name, e)
      except Exception as e:  # plotting must never stop training
        log.warning("plot family '%s' failed at %s (epoch %s): %s: %s", name,
                    moment, payload.get("epoch"), type(e).__name__, e)
  except Exception as e:
    log.warning("training figures failed at %s: %s: %s", moment,
                type(e).__name__, e)
  return written


def check_figures(logging_cfg) -> None:
  """Raises ConfigError for unknown `logging.families` / `logging.moments`
  when `logging.make_plots` is on (before any folder is made)."""
  if not _get(logging_cfg, "make_plots", False):
    return
  for name in _names(_get(logging_cfg, "families", ())):
    lookup(FAMILIES, name, "plot family", "logging.families")
  for name in _names(_get(logging_cfg, "moments", ())):
    if name not in MOMENTS:
      raise ConfigError(f"logging.moments: unknown moment '{name}'; valid: "
                        f"{', '.join(MOMENTS)}")


def figure_hook(logging_cfg):
  """-> the driver's `on_event` hook drawing training figures, or None when
  `logging.make_plots` is off. Checks the family and moment names first."""
  check_figures(logging_cfg)
  if not _get(logging_cfg, "make_plots", False):
    return None

  def hook(moment, payload, context):
    handle_event(logging_cfg, moment, payload, payload["run_dir"], context)
  return hook
