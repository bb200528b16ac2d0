"""What a training loop (`config.loop`) provides to the shared driver.

The driver (`driver.py`) owns everything loops share: data, devices, run
folder, facts, checkpoints, resume, NaN handling, progress. A loop supplies
pure jitted-step functions and turns their outputs into facts.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Dict, Optional, Sequence

from thesis_jax.registry import Registry

LOOPS = Registry("training loop", "loop")


@dataclasses.dataclass
class EpochRecord:
  """One epoch's numbers for facts and progress.

  train_loss/val_loss: floats; metrics: scalars.csv metric columns
  (keys = Loop.metric_keys); history: {history key: value} appended to the
  run's histories; extra: top-level event fields (JSON-serialisable).
  """
  train_loss: float
  val_loss: float
  metrics: Dict[str, Optional[float]]
  history: Dict[str, Optional[float]]
  extra: Dict[str, Any] = dataclasses.field(default_factory=dict)


class Loop(abc.ABC):
  """Base class; subclasses are registered in LOOPS by name.

  Pure functions (jitted by the driver):
    train_step(state, batch, rng) -> (state, metrics {name: scalar})
    eval_step(state, batch) -> sums (pytree of arrays, summed over batches)
  Host functions:
    init_state(rng, dataset) -> TrainState
    data_init(state, dataset, rng) -> TrainState   (fresh runs only)
    record(train_metrics {name: np [S]}, val_sums) -> EpochRecord
    test_metrics(test_sums) -> {name: float} with "test_loss"
  Optional pure function for inference/anomaly scores:
    score_step(state, batch) -> {name: per-event array [B]}
  """
  name: str = ""
  metric_keys: Sequence[str] = ()

  def __init__(self, config):
    self.config = config

  @abc.abstractmethod
  def init_state(self, rng, dataset):
    """-> TrainState (host-side init)."""

  def data_init(self, state, dataset, rng):
    return state

  train_step: Callable
  eval_step: Callable

  @abc.abstractmethod
  def record(self, train_metrics, val_sums) -> EpochRecord:
    """Epoch numbers -> EpochRecord."""

  @abc.abstractmethod
  def test_metrics(self, test_sums) -> Dict[str, float]:
    """Test sums -> {"test_loss": ..., ...}."""
