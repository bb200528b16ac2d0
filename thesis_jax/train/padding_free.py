"""Padding-free or dense compute: decided once per run (or inference).

Padding-free compute (`data.packing` buffers, `models.packed`) gives the
dense numbers up to float32 summation order, so it is used whenever it is
exact: the `ae` loop, a token-wise model without dropout
(`models.packed.supports_packing`), every split's padding slots carrying the
same features, one process. `phase1.trainer.packed = False` forces dense
compute (debugging, comparisons).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import jax

from thesis_jax.data.layout import Events
from thesis_jax.data.packing import Packer, padding_features
from thesis_jax.models.packed import supports_packing

PACKING_LOOPS = ("ae",)


def choose(config, dataset, shards: int
           ) -> Tuple[Optional[Callable[[], Packer]], str]:
  """-> (a factory of stack packers, or None for dense; a one-line reason).

  shards: devices the batch is split over (one packed block per device).
  Each stack kind (train / eval / scoring) takes its own packer.
  """
  if not bool(config.phase1.trainer.get("packed", True)):
    return None, "dense compute (phase1.trainer.packed=False)"
  if config.loop not in PACKING_LOOPS:
    return None, (f"dense compute (loop '{config.loop}' needs every slot; "
                  "padding-free compute covers the ae loop)")
  why = supports_packing(config.phase1)
  if why:
    return None, f"dense compute ({why})"
  if jax.process_count() > 1:
    return None, "dense compute (padding-free compute runs in one process only)"
  for name, ev in dataset.splits.items():
    if not isinstance(ev, Events):
      return None, f"dense compute (the {name} split is not token events)"
    if padding_features(ev.ids, ev.cont) is None:
      return None, (f"dense compute (padding slots of the {name} split carry "
                    "different features)")
  return (lambda: Packer(shards)), ("padding-free compute (real tokens only; "
                                    "phase1.trainer.packed=False for dense)")
