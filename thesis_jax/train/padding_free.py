"""Padding-free or dense compute: decided once per loop (training, inference).

Padding-free compute (`data.packing` buffers, `models.packed`) gives the
dense numbers up to float32 summation order, so it is used whenever it is
exact: the `ae` loop, a token-wise model without dropout
(`models.packed.supports_packing`), one process. A stack whose padding slots
carry different features stays dense (`data.packing.Packer`).
`phase1.trainer.packed = False` forces dense compute (debugging,
comparisons).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import jax

from thesis_jax.data.packing import Packer
from thesis_jax.models.packed import supports_packing

PACKING_LOOPS = ("ae",)


def choose(config, shards: Optional[int] = None
           ) -> Tuple[Optional[Callable[[], Packer]], str]:
  """-> (a factory of stack packers, or None for dense; a one-line note).

  shards: devices each batch is split over (default: all devices; one
  packed block per device). Each stack kind (train / eval / scoring) takes
  its own packer.
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
  n = jax.device_count() if shards is None else int(shards)
  return (lambda: Packer(n)), ("padding-free compute: real tokens only "
                               "(dense: --config.phase1.trainer.packed=False)")
