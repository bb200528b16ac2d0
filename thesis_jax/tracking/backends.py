"""The three tracker backends; each imports its package only when opened.

  tensorboard  event files in `{run_dir}/tensorboard/` (tensorboardX writer)
  mlflow       a local store: `sqlite:///{output_root}/mlruns/mlflow.db`,
               artifacts (figures) in `{output_root}/mlruns/artifacts/`
  wandb        offline runs in `{run_dir}/wandb/` (`wandb sync` them later),
               unless WANDB_MODE or `logging.wandb_mode` says otherwise

No backend ever needs the network: MLflow's default store is a file, W&B's
default mode is offline.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Mapping, Optional

from thesis_jax.tracking.sink import Tracker


@dataclasses.dataclass
class TrackerSettings:
  output_root: str        # holds mlruns/ (MLflow's default store)
  experiment: str         # MLflow experiment / W&B group
  run_name: str
  tb_dir: str             # TensorBoard log folder of this run
  wandb_dir: str          # W&B writes {wandb_dir}/wandb/
  mlflow_uri: str = ""    # "" -> sqlite file under {output_root}/mlruns
  wandb_project: str = ""  # "" -> "thesis_jax"
  wandb_mode: str = ""    # "" -> $WANDB_MODE, else "offline"


class TensorBoardTracker(Tracker):
  name = "tensorboard"

  def __init__(self, s: TrackerSettings):
    from tensorboardX import SummaryWriter
    self.dir = s.tb_dir
    self.writer = SummaryWriter(logdir=s.tb_dir, flush_secs=30)
    self.params = {}
    self.final = {}

  def start(self, params, tags, resumed):
    self.params = dict(params)
    if not resumed:
      text = "\n".join(f"| {k} | {v} |" for k, v in {**tags, **params}.items())
      self.writer.add_text("config", "| key | value |\n|---|---|\n" + text, 0)

  def log(self, step, scalars, wall_time=None):
    for k, v in scalars.items():
      self.writer.add_scalar(k, v, step, walltime=wall_time)
      if k == "best_val_loss" or k.startswith("test/"):
        self.final[k] = v
    self.writer.flush()

  def image(self, step, tag, png_path):
    import matplotlib.image
    img = matplotlib.image.imread(png_path)          # [H, W, 3|4] in [0, 1]
    self.writer.add_image(tag, img[..., :3], step, dataformats="HWC")

  def close(self, status):
    if self.final and self.params:   # the HParams tab: config -> results
      self.writer.add_hparams(self.params, self.final, name="hparams")
    self.writer.close()


def mlflow_uri(s: TrackerSettings) -> str:
  if s.mlflow_uri:
    return s.mlflow_uri
  root = os.path.abspath(os.path.join(s.output_root, "mlruns"))
  os.makedirs(root, exist_ok=True)
  return "sqlite:///" + os.path.join(root, "mlflow.db")


class MLflowTracker(Tracker):
  name = "mlflow"

  def __init__(self, s: TrackerSettings):
    from mlflow.tracking import MlflowClient
    for name in ("mlflow", "alembic"):   # table-creation chatter
      logging.getLogger(name).setLevel(logging.WARNING)
    self.s = s
    self.uri = mlflow_uri(s)
    self.client = MlflowClient(tracking_uri=self.uri)
    self.run_id: Optional[str] = None

  def _experiment_id(self) -> str:
    exp = self.client.get_experiment_by_name(self.s.experiment)
    if exp is not None:
      return exp.experiment_id
    art = None
    if not self.s.mlflow_uri:
      art = "file://" + os.path.abspath(os.path.join(
          self.s.output_root, "mlruns", "artifacts"))
    return self.client.create_experiment(self.s.experiment,
                                         artifact_location=art)

  def start(self, params, tags, resumed):
    from mlflow.entities import Param
    eid = self._experiment_id()
    if resumed:   # continue the MLflow run of this run folder
      found = self.client.search_runs(
          [eid], filter_string=f"tags.run_dir = '{tags['run_dir']}'",
          max_results=1)
      if found:
        self.run_id = found[0].info.run_id
        self.client.update_run(self.run_id, status="RUNNING")
        return
    run = self.client.create_run(eid, run_name=self.s.run_name,
                                 tags=dict(tags))
    self.run_id = run.info.run_id
    items = [Param(k, v[:500]) for k, v in params.items()]
    for i in range(0, len(items), 100):   # MLflow's batch limit
      self.client.log_batch(self.run_id, params=items[i:i + 100])

  def log(self, step, scalars, wall_time=None):
    from mlflow.entities import Metric
    ms = int(1000 * (wall_time if wall_time is not None else time.time()))
    self.client.log_batch(self.run_id, metrics=[
        Metric(k, v, ms, step) for k, v in scalars.items()])

  def image(self, step, tag, png_path):
    self.client.log_artifact(self.run_id, png_path, "train_figures")

  def close(self, status):
    if self.run_id is not None:
      self.client.set_terminated(self.run_id, status)


class WandbTracker(Tracker):
  name = "wandb"

  def __init__(self, s: TrackerSettings):
    import wandb
    self.wandb = wandb
    self.s = s
    self.run = None
    self.pending = {}

  def start(self, params, tags, resumed):
    if not os.environ.get("WANDB_MODE", "x").strip():
      del os.environ["WANDB_MODE"]   # set but empty: W&B itself rejects it
    mode = self.s.wandb_mode or os.environ.get("WANDB_MODE") or "offline"
    os.makedirs(self.s.wandb_dir, exist_ok=True)
    self.run = self.wandb.init(
        project=self.s.wandb_project or "thesis_jax", dir=self.s.wandb_dir,
        name=self.s.run_name, group=self.s.experiment, mode=mode,
        id=tags.get("run_id"), resume="allow" if resumed else None,
        config=dict(params), tags=[self.s.experiment], reinit="create_new",
        settings=self.wandb.Settings(silent=True, console="off",
                                     disable_git=True))
    self.run.summary["run_dir"] = tags["run_dir"]

  def log(self, step, scalars, wall_time=None):
    data = dict(scalars, **self.pending)
    self.pending = {}
    self.run.log(data, step=step)

  def image(self, step, tag, png_path):
    # W&B steps only grow: figures go out with the next log call
    self.pending[tag] = self.wandb.Image(png_path)

  def close(self, status):
    if self.run is None:
      return
    if self.pending:
      self.run.log(self.pending)
    self.run.finish(exit_code=0 if status == "FINISHED" else 1)


# name -> (builder, pip package): `logging.trackers` names these.
TRACKERS = {
    "tensorboard": (TensorBoardTracker, "tensorboardX"),
    "mlflow": (MLflowTracker, "mlflow-skinny"),
    "wandb": (WandbTracker, "wandb"),
}
