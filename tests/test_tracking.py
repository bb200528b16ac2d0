"""Trackers fed from facts events: what each backend writes, read back."""
import glob
import logging
import os
import struct
import time

import numpy as np
import pytest

from thesis_jax.facts.schema import build_event
from thesis_jax.tracking import make_trackers, tracker_names
from thesis_jax.tracking.sink import (Tracker, TrackerSink, event_scalars,
                                      figure_tag, flatten)

META = {"run_id": "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "git_commit": "abc1234",
        "seed": 1, "timestamp": "2026-01-01T00:00:00+00:00"}
VAL = [0.9, 0.5]
CONFIG = {"experiment": {"name": "trk"}, "phase1": {"trainer": {"lr": 0.001},
          "encoder": {"enc_hidden": (32, 32)}}}


def events(run_dir):
  """on_start, two epochs, on_train_end, on_test_end of a made-up run."""
  out = [build_event("on_start", run_dir, meta=META, step=0)]
  hist = {}
  for e, v in enumerate(VAL):
    for k, x in (("train_loss", v + 0.1), ("val_loss", v), ("perplex", 10.0 + e)):
      hist.setdefault(k, []).append(x)
    out.append(build_event(
        "on_epoch_end", run_dir, meta=META, epoch=e, step=10 * (e + 1),
        split="val", train_loss=v + 0.1, val_loss=v,
        metrics={"perplex": 10.0 + e}, epoch_time_s=2.0, throughput=100.0,
        histories={k: list(x) for k, x in hist.items()},
        extra={"train_time_s": 1.5}))
  out.append(build_event("on_train_end", run_dir, meta=META, epoch=1,
                         histories=hist,
                         extra={"best_val_loss": 0.5, "best_epoch": 1}))
  out.append(build_event("on_test_end", run_dir, meta=META, epoch=1,
                         split="test", metrics={"test_loss": 0.6}))
  return out


def write_png(path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig = plt.figure(figsize=(1, 1), dpi=20)
  fig.savefig(path)
  plt.close(fig)


def feed(run_dir, trackers, figure_at=1):
  """All events through one sink; a figure appears after epoch `figure_at`."""
  sink = TrackerSink(trackers, run_dir, CONFIG)
  for ev in events(run_dir):
    sink(ev)
    if ev["moment"] == "on_epoch_end" and ev["epoch"] == figure_at:
      write_png(os.path.join(run_dir, "train_figures",
                             f"losses-on_epoch_end-e{figure_at + 1:03d}.png"))
  sink.close("FINISHED")
  return sink


def test_event_scalars_and_helpers():
  evs = events("/r")
  s = event_scalars(evs[2])
  assert s["val_loss"] == 0.5 and s["train_loss"] == pytest.approx(0.6)
  assert s["perplex"] == 11.0 and s["metrics/perplex"] == 11.0
  assert s["train_time_s"] == 1.5 and s["epoch_time_s"] == 2.0
  assert "epoch" not in s and "schema_version" not in s and "step" not in s
  assert event_scalars(evs[0]) == {}
  assert event_scalars(evs[3]) == {"best_val_loss": 0.5, "best_epoch": 1.0}
  assert event_scalars(evs[4]) == {"test/test_loss": 0.6}
  assert figure_tag("recon-on_epoch_end-e003-tokens.png") == (
      "figures/recon/tokens", 2)
  assert figure_tag("losses-on_train_end-e010.png") == (
      "figures/losses/on_train_end", 9)
  assert flatten(CONFIG)["phase1.encoder.enc_hidden"] == "32,32"
  assert tracker_names(" tensorboard, mlflow,") == ["tensorboard", "mlflow"]
  assert tracker_names(("wandb",)) == ["wandb"]


def tb_records(logdir):
  """Every Event of every TFRecord file under `logdir` (top level only)."""
  from tensorboardX.proto.event_pb2 import Event
  out = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    with open(path, "rb") as f:
      data = f.read()
    i = 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])
      ev = Event()
      ev.ParseFromString(data[i + 12:i + 12 + n])
      out.append(ev)
      i += 12 + n + 4
  return out


def _settings(tmp_path, run_dir):
  from thesis_jax.tracking.backends import TrackerSettings
  return TrackerSettings(output_root=str(tmp_path / "out"), experiment="trk",
                         run_name=os.path.basename(run_dir),
                         tb_dir=os.path.join(run_dir, "tensorboard"),
                         wandb_dir=run_dir)


def test_tensorboard_event_files(tmp_path):
  pytest.importorskip("tensorboardX")
  run_dir = str(tmp_path / "run_a")
  feed(run_dir, make_trackers(["tensorboard"], _settings(tmp_path, run_dir)))
  recs = tb_records(os.path.join(run_dir, "tensorboard"))
  scal = {}
  images, texts = [], []
  for ev in recs:
    for v in ev.summary.value:
      if v.HasField("image"):
        images.append((v.tag, ev.step))
      elif v.metadata.plugin_data.plugin_name == "text":
        texts.append(v.tag)
      elif v.HasField("simple_value"):
        scal.setdefault(v.tag, []).append((ev.step, v.simple_value))
  assert [s for s, _ in scal["val_loss"]] == [0, 1]
  np.testing.assert_allclose([x for _, x in scal["val_loss"]], VAL, rtol=1e-6)
  np.testing.assert_allclose(scal["metrics/perplex"][1][1], 11.0)
  np.testing.assert_allclose(scal["test/test_loss"][0][1], 0.6, rtol=1e-6)
  np.testing.assert_allclose(scal["best_val_loss"][0][1], 0.5)
  assert images == [("figures/losses", 1)]
  assert any(t.startswith("config") for t in texts)
  assert os.path.isdir(os.path.join(run_dir, "tensorboard", "hparams"))


@pytest.mark.slow   # MLflow creates its SQLite tables (~10 s)
def test_mlflow_local_store(tmp_path):
  pytest.importorskip("mlflow")
  from mlflow.tracking import MlflowClient
  from thesis_jax.tracking.backends import mlflow_uri
  run_dir = str(tmp_path / "run_b")
  s = _settings(tmp_path, run_dir)
  feed(run_dir, make_trackers(["mlflow"], s))
  assert os.path.isfile(tmp_path / "out" / "mlruns" / "mlflow.db")
  client = MlflowClient(tracking_uri=mlflow_uri(s))
  exp = client.get_experiment_by_name("trk")
  (run,) = client.search_runs([exp.experiment_id])
  assert run.info.status == "FINISHED"
  assert run.data.tags["run_dir"] == os.path.abspath(run_dir)
  assert run.data.tags["git_commit"] == "abc1234"
  assert run.data.params["phase1.trainer.lr"] == "0.001"
  hist = client.get_metric_history(run.info.run_id, "val_loss")
  assert [(m.step, m.value) for m in sorted(hist, key=lambda m: m.step)] == [
      (0, 0.9), (1, 0.5)]
  assert run.data.metrics["test/test_loss"] == 0.6
  arts = [a.path for a in client.list_artifacts(run.info.run_id, "train_figures")]
  assert arts == ["train_figures/losses-on_epoch_end-e002.png"]
  # a resumed run (first event is not on_start) continues the same MLflow run
  sink = TrackerSink(make_trackers(["mlflow"], s), run_dir, CONFIG)
  sink(dict(events(run_dir)[2], epoch=2, val_loss=0.25))
  sink.close("FINISHED")
  (again,) = client.search_runs([exp.experiment_id])
  assert again.info.run_id == run.info.run_id
  assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3


@pytest.mark.slow   # W&B starts its service process (~5 s)
def test_wandb_offline_run(tmp_path, monkeypatch):
  pytest.importorskip("wandb")
  monkeypatch.delenv("WANDB_MODE", raising=False)
  run_dir = str(tmp_path / "run_c")
  feed(run_dir, make_trackers(["wandb"], _settings(tmp_path, run_dir)))
  (path,) = glob.glob(os.path.join(run_dir, "wandb", "offline-run-*",
                                   "run-*.wandb"))
  keys = (b"val_loss", b"test/test_loss", b"phase1.trainer.lr")
  for _ in range(100):   # W&B's service writes the file asynchronously
    with open(path, "rb") as f:
      data = f.read()
    if all(k in data for k in keys):
      break
    time.sleep(0.1)
  for key in keys:
    assert key in data


class Boom(Tracker):
  name = "boom"

  def __init__(self):
    self.calls = 0

  def log(self, step, scalars, wall_time=None):
    self.calls += 1
    raise RuntimeError("disk full")


class Record(Tracker):
  name = "record"

  def __init__(self):
    self.logged, self.status = [], None

  def log(self, step, scalars, wall_time=None):
    self.logged.append((step, dict(scalars)))

  def close(self, status):
    self.status = status


def test_failing_tracker_only_warns(tmp_path, caplog):
  boom, rec = Boom(), Record()
  with caplog.at_level(logging.WARNING, logger="thesis_jax.tracking"):
    feed(str(tmp_path / "run_d"), [boom, rec])
  warns = [r.getMessage() for r in caplog.records]
  assert len(warns) == 1 and "tracker 'boom' failed" in warns[0]
  assert "disk full" in warns[0]
  assert boom.calls == 1                   # switched off after the failure
  assert [s for s, _ in rec.logged] == [0, 1, 1, 1]   # the others go on
  assert rec.logged[1][1]["val_loss"] == 0.5 and rec.status == "FINISHED"


def test_unknown_or_missing_tracker_warns(tmp_path, caplog, monkeypatch):
  import builtins
  real = builtins.__import__

  def no_wandb(name, *a, **k):
    if name == "wandb" or name.startswith("wandb."):
      raise ImportError("No module named 'wandb'")
    return real(name, *a, **k)
  monkeypatch.setattr(builtins, "__import__", no_wandb)
  with caplog.at_level(logging.WARNING, logger="thesis_jax.tracking"):
    out = make_trackers(["nope", "wandb"], _settings(tmp_path, str(tmp_path)))
  assert out == []
  msgs = [r.getMessage() for r in caplog.records]
  assert "unknown tracker 'nope'" in msgs[0]
  assert "'wandb' needs the wandb package" in msgs[1]


def test_replay_original_run_into_tensorboard(tmp_path):
  pytest.importorskip("tensorboardX")
  from thesis_jax.errors import ConfigError
  from thesis_jax.facts.fake_runs import write_fake_run
  from thesis_jax.tracking.replay import replay_runs
  vals = [0.8, 0.4, 0.3]
  rd = write_fake_run(str(tmp_path / "runs" / "run_orig"), val_loss=vals,
                      layout="original", histories={"perplex": [5, 6, 7]})
  out = str(tmp_path / "out")
  assert replay_runs([rd], ["tensorboard"], out) == {rd: 6}
  recs = tb_records(os.path.join(out, "tensorboard", "run_orig"))
  got = sorted((ev.step, v.simple_value) for ev in recs
               for v in ev.summary.value if v.tag == "val_loss")
  np.testing.assert_allclose([x for _, x in got], vals, rtol=1e-6)
  assert [s for s, _ in got] == [0, 1, 2]
  texts = [v.tensor.string_val[0].decode() for ev in recs
           for v in ev.summary.value if v.tag.startswith("config")]
  assert "phase1.trainer.seed" in texts[0]      # the Hydra config as params
  assert not os.path.exists(os.path.join(rd, "tensorboard"))   # read only
  with pytest.raises(ConfigError, match="not a run folder"):
    replay_runs([str(tmp_path)], ["tensorboard"], out)
  # the command: `thesis-jax replay` (same code path)
  from thesis_jax.commands.replay import run
  run(["--trackers", "tensorboard", "--runs", rd, "--output_root",
       str(tmp_path / "out2")])
  assert tb_records(os.path.join(tmp_path, "out2", "tensorboard", "run_orig"))
