"""End-to-end training: facts schema v1, determinism, resume, NaN stop."""
import csv
import json
import os

import pytest
import yaml

import thesis_jax
from conftest import CMS_H5, tiny_config, train_interrupted
from thesis_jax.errors import NonFiniteLossError
from thesis_jax.facts.schema import AE_HISTORY_KEYS

# End-to-end training runs (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

HEADER = ["epoch", "split", "train_loss", "val_loss", "epoch_time_s",
          "throughput", "max_memory_mib", "metric_perplex"]


def read_events(run_dir):
  with open(os.path.join(run_dir, "facts", "events.jsonl")) as f:
    return [json.loads(line) for line in f]


def read_scalars(run_dir):
  with open(os.path.join(run_dir, "facts", "scalars.csv"), newline="") as f:
    return list(csv.reader(f))


def cms(tmp, **kw):
  return tiny_config(tmp, **{"data.path": CMS_H5, "phase1.trainer.epochs": 4, **kw})


@pytest.fixture(scope="module")
def cms_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("cms")
  res = thesis_jax.train_model(cms(tmp), overrides=["phase1.trainer.epochs=4"])
  return res


def test_facts_schema_v1(cms_run):
  rows = read_scalars(cms_run.run_dir)
  assert rows[0] == HEADER
  assert [r[:2] for r in rows[1:]] == [[str(e), s] for e in range(4)
                                       for s in ("train", "val")]
  for r in rows[1:]:
    train_row = r[1] == "train"
    assert (r[2] != "") == train_row and (r[3] != "") == (not train_row)
    for cell in (r[2] or r[3], r[4], r[5], r[7]):
      assert cell == f"{float(cell):.8g}"
    assert r[6] == ""                         # no memory stats on CPU
  events = read_events(cms_run.run_dir)
  moments = [e["moment"] for e in events]
  assert moments == ["on_start"] + ["on_epoch_end"] * 4 + ["on_train_end", "on_test_end"]
  base = ["schema_version", "moment", "run_dir", "epoch", "step", "split",
          "train_loss", "val_loss", "metrics", "epoch_time_s", "total_time_s",
          "throughput", "max_memory_mib", "meta", "histories"]
  for e in events:
    assert list(e)[:len(base)] == base and e["schema_version"] == 1
    assert set(e["meta"]) >= {"timestamp", "run_id", "git_commit", "hostname",
                              "cuda_info", "seed", "jax_info"}
    assert e["meta"]["cuda_info"]["available"] is False
    assert e["meta"]["seed"] == 42
  assert len({e["meta"]["run_id"] for e in events}) == 1
  last = events[4]
  assert last["epoch"] == 3 and last["step"] == 4 * (1452 // 64)
  for k in AE_HISTORY_KEYS:
    assert len(last["histories"][k]) == 4 and last[f"history_{k}"] == last["histories"][k]
  assert list(last["histories"])[:8] == list(AE_HISTORY_KEYS)
  assert [f"{v:.8g}" for v in last["histories"]["val_loss"]] == [r[3] for r in rows[2::2]]
  assert last["metrics"]["perplex"] == last["histories"]["perplex"][-1]
  assert len(last["code_counts"]) == 32
  test = events[-1]
  assert test["split"] == "test" and test["metrics"]["test_loss"] == cms_run.test_loss
  # the loss components add up to the total
  h = last["histories"]
  total = h["rec_tokens"][-1] + h["commit"][-1] + h["codebook"][-1] + h["rec_globals"][-1]
  assert total == pytest.approx(h["val_loss"][-1], rel=1e-6)


def test_run_folder_contents(cms_run):
  d = cms_run.run_dir
  assert os.path.basename(d).startswith("run_") and d.endswith("_default")
  cfg = yaml.safe_load(open(os.path.join(d, "cfg.yaml")))
  assert cfg["phase1"]["latent_space"]["name"] == "vq"
  assert cfg["data"]["path"] == CMS_H5
  assert yaml.safe_load(open(os.path.join(d, "overrides.yaml"))) == ["phase1.trainer.epochs=4"]
  norm = json.load(open(os.path.join(d, "normalization.json")))
  assert norm["normalize_globals"] is True and len(norm["cont_mean"]) == 4
  # folders count epochs from 1, like cms_run.best_epoch; the best + last two
  ckpts = sorted(int(x) for x in os.listdir(os.path.join(d, "checkpoints")) if x.isdigit())
  assert ckpts == sorted({cms_run.best_epoch, 3, 4})


def test_loss_goes_down_on_cms(cms_run):
  h = cms_run.histories
  val, train = h["val_loss"], h["train_loss"]
  # Token reconstruction roughly halves in 4 tiny epochs; MET is harder.
  assert h["rec_tokens"][-1] < 0.7 * h["rec_tokens"][0]
  assert min(val) < 0.9 * val[0] and train[-1] < 0.9 * train[0]
  assert cms_run.best_val_loss == min(val)


def test_same_seed_same_numbers(cms_run, tmp_path):
  again = thesis_jax.train_model(cms(tmp_path))
  for k in ("train_loss", "val_loss", "rec_tokens", "rec_globals", "perplex"):
    assert again.histories[k] == cms_run.histories[k], k
  assert again.test_loss == cms_run.test_loss
  assert read_scalars(again.run_dir)[1][2] == read_scalars(cms_run.run_dir)[1][2]


def test_resume_matches_uninterrupted(cms_run, tmp_path, monkeypatch):
  train_interrupted(thesis_jax.train_model, cms(tmp_path), monkeypatch)
  run_dir = os.path.join(tmp_path, "runs", os.listdir(os.path.join(tmp_path, "runs"))[0])
  # simulate a torn, half-written last line from a hard kill
  with open(os.path.join(run_dir, "facts", "events.jsonl"), "a") as f:
    f.write('{"schema_version": 1, "moment": "on_epo')
  res = thesis_jax.train_model(cms(tmp_path, **{"phase1.trainer.resume": True}))
  assert res.run_dir == run_dir
  for k in ("train_loss", "val_loss", "rec_tokens", "perplex", "codebook"):
    assert res.histories[k] == cms_run.histories[k], k
  assert res.test_loss == cms_run.test_loss
  moments = [e["moment"] for e in read_events(run_dir)]
  assert moments == ["on_start"] + ["on_epoch_end"] * 4 + ["on_train_end", "on_test_end"]
  assert [r[0] for r in read_scalars(run_dir)[1:]] == ["0", "0", "1", "1", "2", "2", "3", "3"]


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
  from thesis_jax.train.loops import ae
  orig = ae.record
  calls = []

  def poisoned(train_metrics, val_sums, **kw):
    rec = orig(train_metrics, val_sums, **kw)
    calls.append(1)
    if len(calls) == 2:
      rec.train_loss = float("nan")
    return rec

  monkeypatch.setattr(ae, "record", poisoned)
  with pytest.raises(NonFiniteLossError, match="non-finite loss at epoch 2.*last good checkpoint: epoch 1"):
    thesis_jax.train_model(cms(tmp_path))
  run_dir = os.path.join(tmp_path, "runs", os.listdir(os.path.join(tmp_path, "runs"))[0])
  events = read_events(run_dir)
  assert [e["moment"] for e in events] == ["on_start", "on_epoch_end"]
  assert os.listdir(os.path.join(run_dir, "checkpoints")) == ["1"]
  assert len(read_scalars(run_dir)) == 3


def test_real_nan_from_divergence(tmp_path):
  cfg = cms(tmp_path, **{"phase1.trainer.lr": 1e30, "phase1.trainer.grad_clip": 0.0,
                         "phase1.trainer.epochs": 3})
  with pytest.raises(NonFiniteLossError):
    thesis_jax.train_model(cfg)


@pytest.mark.parametrize("latent", ["none", "linear"])
def test_other_bottlenecks_train(tmp_path, latent):
  res = thesis_jax.train_model(cms(tmp_path, **{"phase1.latent_space.name": latent,
                                          "phase1.trainer.epochs": 2,
                                          "phase1.loss.mask_padding": True}))
  assert res.histories["perplex"] == [None, None]
  assert res.histories["val_loss"][1] < res.histories["val_loss"][0]
  rows = read_scalars(res.run_dir)
  assert rows[2][7] == ""           # no perplexity for non-VQ bottlenecks
