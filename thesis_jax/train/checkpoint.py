"""All Orbax calls live here: keep the best (by val loss) and the last epoch.

Layout: `{run_dir}/checkpoints/{epoch}/` with items `state` (the TrainState
pytree, StandardSave) and `meta` (JSON: epoch, histories, normalisation, ...).
Restores use an abstract target so optimizer states keep their structure.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import jax
import orbax.checkpoint as ocp

_P = ocp.checkpoint_managers


class Checkpoints:
  def __init__(self, directory: str, create: bool = True):
    self.directory = os.path.abspath(directory)
    val = lambda m: m["val_loss"]
    policy = _P.AnyPreservationPolicy([
        _P.BestN(get_metric_fn=val, reverse=True, n=1,
                 keep_checkpoints_without_metrics=False),
        _P.LatestN(n=1)])
    options = ocp.CheckpointManagerOptions(
        best_fn=val, best_mode="min", preservation_policy=policy,
        create=create, enable_async_checkpointing=False)
    self.mngr = ocp.CheckpointManager(self.directory, options=options,
                                      item_names=("state", "meta"))

  def save(self, epoch: int, state, meta: Dict[str, Any], val_loss: float) -> None:
    self.mngr.save(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        metrics={"val_loss": float(val_loss)})
    self.mngr.wait_until_finished()

  def latest_epoch(self) -> Optional[int]:
    return self.mngr.latest_step()

  def best_epoch(self) -> Optional[int]:
    return self.mngr.best_step()

  def restore(self, epoch: int, abstract_state) -> Tuple[Any, Dict[str, Any]]:
    """-> (state with abstract_state's structure and shardings, meta dict)."""
    out = self.mngr.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        meta=ocp.args.JsonRestore()))
    return out["state"], dict(out["meta"])

  def restore_meta(self, epoch: int) -> Dict[str, Any]:
    out = self.mngr.restore(epoch, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))
    return dict(out["meta"])

  def close(self) -> None:
    self.mngr.close()


def abstract_like(tree):
  """ShapeDtypeStructs (with shardings) of a concrete pytree."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
