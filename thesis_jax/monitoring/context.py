"""What a plot family receives: `PlotContext`.

A family is a function `plot(ctx: PlotContext) -> list[(suffix, Figure)]`
([] when there is nothing to plot); `orchestrator.FAMILIES` lists them by name.
Files: `{run_dir}/train_figures/{family}-{moment}-e{epoch:03d}[-{suffix}].png`,
epoch counted from 1. A family that cannot draw a run raises
`figures.Skip(reason)` (printed once).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Optional


@dataclasses.dataclass
class PlotContext:
  """moment: facts moment; payload: the facts event (schema v1);
  loop/state/dataset: the live training objects when the driver passes them
  (`recon` and `diffusion` call `loop.reconstruct(state, batch)`), else None."""
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
    return os.path.basename(os.path.normpath(self.run_dir))
