"""The run's bookkeeping across epochs: histories, best epoch, time, run id.

One value the driver updates per epoch, saves inside every checkpoint
(`checkpoint_meta`) and restores on resume (`from_checkpoint_meta`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List

from thesis_jax.facts.schema import AE_HISTORY_KEYS


@dataclasses.dataclass
class RunHistory:
  run_id: str
  histories: Dict[str, List] = dataclasses.field(default_factory=dict)
  best_val_loss: float = math.inf
  best_epoch: int = -1
  total_time_s: float = 0.0

  def add_epoch(self, epoch: int, values: Dict[str, Any], val_loss: float,
                epoch_time_s: float) -> bool:
    """Appends one epoch's history values; -> True if it is the new best."""
    for k, v in values.items():
      self.histories.setdefault(k, []).append(v)
    self.total_time_s += epoch_time_s
    if val_loss < self.best_val_loss:
      self.best_val_loss, self.best_epoch = val_loss, epoch
      return True
    return False

  def ordered(self) -> Dict[str, list]:
    """The schema's AE keys first (in the original's order), then loop extras."""
    keys = [k for k in AE_HISTORY_KEYS if k in self.histories]
    keys += [k for k in self.histories if k not in keys]
    return {k: self.histories[k] for k in keys}

  def final(self) -> Dict[str, Any]:
    return {k: v[-1] for k, v in self.histories.items()}

  def checkpoint_meta(self, epoch: int, dataset, loop_name: str) -> Dict[str, Any]:
    """The JSON item saved with every checkpoint (resume and inference read it)."""
    return {"epoch": epoch, "histories": self.histories,
            "best_val_loss": self.best_val_loss, "best_epoch": self.best_epoch,
            "total_time_s": self.total_time_s, "run_id": self.run_id,
            "normalization": dataset.norm.to_dict(),
            "num_types": dataset.num_types, "n_tokens": dataset.n_tokens,
            "loop": loop_name}

  @classmethod
  def from_checkpoint_meta(cls, meta: Dict[str, Any], run_id: str) -> "RunHistory":
    return cls(run_id=meta.get("run_id", run_id),
               histories={k: list(v) for k, v in meta["histories"].items()},
               best_val_loss=meta["best_val_loss"], best_epoch=meta["best_epoch"],
               total_time_s=float(meta["total_time_s"]))
