"""Replay the facts of finished runs (thesis_jax or thesis-ml) into trackers.

  python -m experiments.replay --trackers tensorboard,mlflow \
      --runs outputs/runs/run_20260101-120000_default
  python -m experiments.replay --trackers mlflow \
      --sweep_dir outputs/multiruns/exp_20260101-120000_compare_latent_spaces
  python -m experiments.replay --trackers wandb --output_root outputs \
      --runs /path/to/thesis-ml/outputs/runs/run_X,/path/to/run_Y

Writes TensorBoard logs to {output_root}/tensorboard/{run}/, MLflow runs to
sqlite:///{output_root}/mlruns/mlflow.db, W&B offline runs to
{output_root}/wandb/ (`wandb sync` them). The run folders are only read.
"""
from absl import flags

from thesis_jax.cli import run_main

_TRACKERS = flags.DEFINE_string(
    "trackers", "", "Comma-separated: tensorboard, mlflow, wandb.")
_RUNS = flags.DEFINE_string("runs", "", "Comma-separated run folders.")
_SWEEP = flags.DEFINE_string(
    "sweep_dir", "", "A sweep or search folder: replay all its runs.")
_ROOT = flags.DEFINE_string("output_root", "outputs",
                            "Where the trackers write (see above).")
_EXPERIMENT = flags.DEFINE_string(
    "experiment", "", "MLflow experiment / W&B group (default: the run "
    "config's experiment.name, or thesis-ml for original runs).")
_MLFLOW_URI = flags.DEFINE_string(
    "mlflow_uri", "", "MLflow tracking URI (default: the local store above).")
_WANDB_PROJECT = flags.DEFINE_string("wandb_project", "", "W&B project.")
_WANDB_MODE = flags.DEFINE_string(
    "wandb_mode", "", "W&B mode (default: $WANDB_MODE, else offline).")


def main(argv):
  del argv
  from thesis_jax.errors import ConfigError
  from thesis_jax.facts.discovery import discover_runs, order_key
  from thesis_jax.tracking import tracker_names
  from thesis_jax.tracking.replay import replay_runs
  runs = [r.strip() for r in _RUNS.value.split(",") if r.strip()]
  if _SWEEP.value:
    runs += sorted(discover_runs(_SWEEP.value), key=order_key)
  if not runs:
    raise ConfigError("give --runs and/or --sweep_dir")
  done = replay_runs(runs, tracker_names(_TRACKERS.value), _ROOT.value,
                     experiment=_EXPERIMENT.value, mlflow_uri=_MLFLOW_URI.value,
                     wandb_project=_WANDB_PROJECT.value,
                     wandb_mode=_WANDB_MODE.value)
  for rd, n in done.items():
    print(f"{rd}: {n} events")
  print(f"replayed {len(done)} run(s) into {_TRACKERS.value} under "
        f"{_ROOT.value}")


if __name__ == "__main__":
  run_main(main)
