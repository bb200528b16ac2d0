"""What a training loop (`config.loop`) gives the shared driver.

The driver (`driver.py`) owns everything loops share: data, devices, run
folder, facts, checkpoints, resume, NaN handling, progress. A loop is a `Loop`
value: pure step functions plus host functions that turn their outputs into
facts. Loops are built by `loops/<name>.py:build(config, dataset)` from the
pieces in `loop_parts.py`; `loops/__init__.py` lists them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Sequence


@dataclasses.dataclass
class EpochRecord:
  """One epoch's numbers for facts and progress.

  train_loss/val_loss: floats; metrics: scalars.csv metric columns
  (keys = Loop.metric_keys); history: {history key: value} appended to the
  run's histories; extra: top-level event fields (JSON-serialisable);
  train_metrics: the `train` row's metric columns (training values, e.g. the
  training perplexity), None -> `metrics`.
  """
  train_loss: float
  val_loss: float
  metrics: Dict[str, Optional[float]]
  history: Dict[str, Optional[float]]
  extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
  train_metrics: Optional[Dict[str, Optional[float]]] = None


def keep_state(state, dataset, rng):
  """The default `data_init`: nothing to initialise from data."""
  return state


@dataclasses.dataclass
class Loop:
  """A training loop's functions (batch layout: see `loop_parts.py`).

  Pure (jitted by the driver / inference):
    train_step(state, batch, rng) -> (state, metrics {name: scalar})
    eval_step(state, batch) -> sums (pytree of arrays, summed over batches)
    score_step(state, batch) -> {score name: per-event array [B]}
    reconstruct(state, batch) -> (x_hat [B,T,C], globals_hat [B,G] or None),
      normalised units (training figures, inference)
  Host:
    init_state(rng, dataset) -> TrainState
    data_init(state, dataset, rng) -> TrainState   (fresh runs only)
    record(train_metrics {name: np [S]}, val_sums) -> EpochRecord
    test_metrics(test_sums) -> {"test_loss": ..., ...}
  `dataset` needs only num_types, n_tokens and norm for init_state.
  Padding-free compute (`train/padding_free.py`): `packer()` -> a fresh
  stack packer (one per stack kind; every pure step takes its packed
  stacks), None for dense compute; `compute` says which, for the log.
  """
  name: str
  config: Any
  model: Any
  init_state: Callable
  train_step: Callable
  eval_step: Callable
  score_step: Callable
  reconstruct: Callable
  record: Callable
  test_metrics: Callable
  data_init: Callable = keep_state
  metric_keys: Sequence[str] = ("perplex",)
  packer: Optional[Callable] = None
  compute: str = "dense compute"
