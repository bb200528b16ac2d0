"""Experiment trackers fed from the facts: TensorBoard, MLflow, W&B.

    logging.trackers = "tensorboard,mlflow,wandb"     # default "" (none)

The facts stay the record; a tracker mirrors each facts event (see sink.py)
on process 0. Packages come with `pip install 'thesis_jax[track]'`; nothing
here is imported unless a tracker is asked for. A tracker that cannot start
(package missing, bad setting) gives one warning and training goes on.

    train(config, on_event=tracker_hook(config))   # None when none is set

The hook opens the trackers at a run's first event and closes them after
`on_test_end`; a run that stops early (error, pruned search trial) is closed
by `sink.close_all` (also at interpreter exit) with status FAILED/KILLED.

`replay.py` sends the facts of finished runs to the same trackers.
"""
from __future__ import annotations

import atexit
import logging
import os
from typing import Any, List, Mapping, Sequence

from thesis_jax.tracking.sink import TrackerSink, close_all

log = logging.getLogger("thesis_jax.tracking")


def tracker_names(value) -> List[str]:
  """"tensorboard, mlflow" / ("tensorboard",) -> ["tensorboard", "mlflow"]."""
  from thesis_jax.config_tools import split_list
  return [str(v) for v in split_list(value or "")]


def make_trackers(names: Sequence[str], settings) -> list:
  """Opens each named tracker; one warning for each that cannot open."""
  from thesis_jax.tracking.backends import TRACKERS
  out = []
  for name in names:
    if name not in TRACKERS:
      log.warning("logging.trackers: unknown tracker '%s' (valid: %s); not "
                  "tracking to it", name, ", ".join(TRACKERS))
      continue
    builder, package = TRACKERS[name]
    try:
      out.append(builder(settings))
    except ImportError as e:
      log.warning("logging.trackers: '%s' needs the %s package (pip install "
                  "'thesis_jax[track]'): %s; not tracking to it", name,
                  package, e)
    except Exception as e:  # bad settings must not stop training
      log.warning("logging.trackers: '%s' could not start: %s: %s; not "
                  "tracking to it", name, type(e).__name__, e)
  return out


def open_sinks(config, run_dir: str) -> List[TrackerSink]:
  """The sinks `config.logging.trackers` asks for (call on process 0)."""
  lg = config.logging
  names = tracker_names(lg.get("trackers", ""))
  if not names:
    return []
  from thesis_jax.config_tools import to_plain
  from thesis_jax.tracking.backends import TrackerSettings
  settings = TrackerSettings(
      output_root=str(lg.output_root), experiment=str(config.experiment.name),
      run_name=os.path.basename(os.path.normpath(run_dir)),
      tb_dir=os.path.join(run_dir, "tensorboard"), wandb_dir=run_dir,
      mlflow_uri=str(lg.get("mlflow_uri", "") or ""),
      wandb_project=str(lg.get("wandb_project", "") or ""),
      wandb_mode=str(lg.get("wandb_mode", "") or ""))
  plain = to_plain(config)
  # trackers open in the sink's thread (imports, databases: seconds)
  return [TrackerSink(lambda: make_trackers(names, settings), run_dir, plain)]


def tracker_hook(config):
  """-> the training driver's `on_event` hook for `logging.trackers`, or None
  when no tracker is set. The driver calls it on process 0 only."""
  if not tracker_names(config.logging.get("trackers", "")):
    return None
  sinks: dict = {}

  def hook(moment: str, payload: Mapping[str, Any], context=None) -> None:
    run_dir = payload["run_dir"]
    if run_dir not in sinks:
      try:
        sinks[run_dir] = open_sinks(config, run_dir)
      except Exception as e:  # trackers must never stop training
        log.warning("logging.trackers: could not open: %s: %s; not tracking "
                    "this run", type(e).__name__, e)
        sinks[run_dir] = []
    for s in sinks[run_dir]:
      s(payload)
      if moment == "on_test_end":
        s.close("FINISHED")
  return hook


atexit.register(close_all, "FAILED")   # a run that died without closing
