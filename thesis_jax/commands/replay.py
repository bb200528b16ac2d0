"""`thesis-jax replay` / `python -m experiments.replay`: send the facts of
finished runs (thesis_jax or thesis-ml) to experiment trackers.

  thesis-jax replay --trackers tensorboard,mlflow \
      --runs outputs/runs/run_20260101-120000_default
  thesis-jax replay --trackers mlflow \
      --sweep_dir outputs/multiruns/exp_20260101-120000_compare_latent_spaces
  thesis-jax replay --trackers wandb --output_root outputs \
      --runs /path/to/thesis-ml/outputs/runs/run_X,/path/to/run_Y

Writes TensorBoard logs to {output_root}/tensorboard/{run}/, MLflow runs to
sqlite:///{output_root}/mlruns/mlflow.db, W&B offline runs to
{output_root}/wandb/ (`wandb sync` them). The run folders are only read.
"""
from __future__ import annotations

from thesis_jax.cli import Parser, UsageError, run_command


def _main(args, config, overrides, config_file) -> None:
  del config, overrides, config_file
  from thesis_jax.config_tools import split_list
  from thesis_jax.facts.discovery import discover_runs, order_key
  from thesis_jax.tracking import tracker_names
  from thesis_jax.tracking.replay import replay_runs
  runs = split_list(args.runs)
  if args.sweep_dir:
    runs += sorted(discover_runs(args.sweep_dir), key=order_key)
  if not runs:
    raise UsageError("give --runs and/or --sweep_dir (see --help)")
  done = replay_runs(runs, tracker_names(args.trackers), args.output_root,
                     experiment=args.experiment, mlflow_uri=args.mlflow_uri,
                     wandb_project=args.wandb_project,
                     wandb_mode=args.wandb_mode)
  for rd, n in done.items():
    print(f"{rd}: {n} events")
  print(f"replayed {len(done)} run(s) into {args.trackers} under "
        f"{args.output_root}")


def run(argv=None, prog: str = "thesis-jax replay") -> None:
  p = Parser(prog=prog, description="Replay finished runs' facts into "
             "experiment trackers.",
             usage=f"{prog} --trackers NAMES (--runs DIRS | --sweep_dir DIR)")
  p.add_argument("--trackers", default="",
                 help="comma-separated: tensorboard, mlflow, wandb")
  p.add_argument("--runs", default="", help="comma-separated run folders")
  p.add_argument("--sweep_dir", default="",
                 help="a sweep or search folder: replay all its runs")
  p.add_argument("--output_root", default="outputs",
                 help="where the trackers write (see above)")
  p.add_argument("--experiment", default="", help="MLflow experiment / W&B "
                 "group (default: the run config's experiment.name, or "
                 "thesis-ml for original runs)")
  p.add_argument("--mlflow_uri", default="", help="MLflow tracking URI "
                 "(default: the local store above)")
  p.add_argument("--wandb_project", default="", help="W&B project")
  p.add_argument("--wandb_mode", default="",
                 help="W&B mode (default: $WANDB_MODE, else offline)")
  run_command("replay", p, _main, argv)
