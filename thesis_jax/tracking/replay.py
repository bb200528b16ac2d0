"""Replays the facts of finished runs (thesis_jax or thesis-ml) into trackers.

    replay_runs(["outputs/runs/run_A", "/data/thesis-ml/runs/run_B"],
                ["tensorboard", "mlflow"], output_root="outputs")

Each run's `facts/events.jsonl` goes through the same `TrackerSink` as live
training, with the run's config snapshot (`cfg.yaml` or `.hydra/config.yaml`)
as hyperparameters and its `train_figures/*.png` as images. Run folders are
only read (they may be read-only): TensorBoard writes to
`{output_root}/tensorboard/{run name}/`, MLflow to its store (default
`{output_root}/mlruns/`), W&B to `{output_root}/wandb/`.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

from thesis_jax.errors import ConfigError
from thesis_jax.facts.discovery import is_run_dir
from thesis_jax.facts.run_config import read_run_config
from thesis_jax.facts.schema import iter_events
from thesis_jax.tracking import make_trackers
from thesis_jax.tracking.backends import TrackerSettings
from thesis_jax.tracking.sink import TrackerSink


def _experiment(config: dict, kind: str) -> str:
  name = (config.get("experiment") or {}).get("name") if isinstance(
      config.get("experiment"), dict) else None
  return str(name or ("thesis-ml" if kind == "original" else "thesis_jax"))


def replay_run(run_dir: str, names: Sequence[str], output_root: str,
               **settings: str) -> Tuple[int, List[str]]:
  """-> (events replayed, names of the trackers that opened)."""
  events = list(iter_events(run_dir))
  if not events:
    raise ConfigError(f"{run_dir}: no facts/events.jsonl to replay")
  rc = read_run_config(run_dir)
  config = rc.config if rc else {}
  kind = rc.kind if rc else "thesis_jax"
  run_name = os.path.basename(os.path.normpath(run_dir))
  s = TrackerSettings(
      output_root=output_root,
      experiment=settings.get("experiment") or _experiment(config, kind),
      run_name=run_name,
      tb_dir=os.path.join(output_root, "tensorboard", run_name),
      wandb_dir=output_root, mlflow_uri=settings.get("mlflow_uri", ""),
      wandb_project=settings.get("wandb_project", ""),
      wandb_mode=settings.get("wandb_mode", ""))
  trackers = make_trackers(names, s)
  if not trackers:
    return 0, []
  opened = [t.name for t in trackers]
  sink = TrackerSink(trackers, run_dir, config)
  for ev in events:
    sink(ev)
  finished = any(ev.get("moment") == "on_train_end" for ev in events)
  sink.close("FINISHED" if finished else "FAILED")
  return len(events), opened


def replay_runs(run_dirs: Sequence[str], names: Sequence[str],
                output_root: str, **settings: str) -> Dict[str, int]:
  """Replays every run; -> {run_dir: events replayed}. Bad folders raise
  ConfigError before anything is written."""
  if not names:
    raise ConfigError("--trackers: name at least one of tensorboard, mlflow, "
                      "wandb")
  for rd in run_dirs:
    if not os.path.isdir(rd) or not is_run_dir(rd):
      raise ConfigError(f"{rd}: not a run folder (no facts/, cfg.yaml or "
                        ".hydra/config.yaml)")
    if not os.path.isfile(os.path.join(rd, "facts", "events.jsonl")):
      raise ConfigError(f"{rd}: no facts/events.jsonl to replay")
  return {rd: replay_run(rd, names, output_root, **settings)[0]
          for rd in run_dirs}
