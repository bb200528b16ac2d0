"""The plot-family registry and what a family receives.

A family is a function `plot(ctx: PlotContext) -> list[(suffix, Figure)]`
registered by name; `logging.families` selects families, `logging.moments`
the facts moments that trigger them. Add one by dropping a module into
`thesis_jax/monitoring/families/` (every module there is imported):

    from thesis_jax.monitoring.registry import FAMILIES

    @FAMILIES.register("adversarial")
    def plot(ctx):
      h = ctx.histories                   # {key: [per-epoch values]}
      fig, ax = new_figure()
      ...
      return [("", fig)]                  # [] when there is nothing to plot

Files: `{run_dir}/train_figures/{family}-{moment}-e{epoch:03d}[-{suffix}].png`,
epoch counted from 1. A family that cannot draw a run raises
`figures.Skip(reason)` (printed once).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from thesis_jax.registry import Registry

FAMILIES = Registry("plot family", "logging.families")


@dataclasses.dataclass
class PlotContext:
  """moment: facts moment; payload: the facts event (schema v1);
  loop/state/dataset: the live training objects when the driver passes them
  (needed by `recon`), else None."""
  run_dir: str
  moment: str
  payload: Dict[str, Any]
  logging_cfg: Any = None
  loop: Any = None
  state: Any = None
  dataset: Any = None

  @property
  def histories(self) -> Dict[str, list]:
    return self.payload.get("histories") or {}

  @property
  def epoch(self) -> Optional[int]:
    return self.payload.get("epoch")

  @property
  def run_name(self) -> str:
    import os
    return os.path.basename(os.path.normpath(self.run_dir))
