"""Training-time figures: families from facts payloads, safety, driver hook."""
import logging
import os

import matplotlib.image as mpimg
import ml_collections
import numpy as np
import pytest

from conftest import tiny_config
from thesis_jax.facts.schema import build_event
from thesis_jax.monitoring import FAMILIES, handle_event
from thesis_jax.monitoring.families import codebook

HIST = {"train_loss": [2.0, 1.5, 1.2], "val_loss": [1.9, 1.4, 1.25],
        "rec_tokens": [1.0, 0.8, 0.7], "rec_globals": [0.9, 0.6, 0.55],
        "codebook": [0.0, 0.0, 0.0], "perplex": [10.0, 14.0, 17.0],
        "commit": [0.01, 0.02, 0.02], "code_usage": [20, 26, 30],
        "train_perplex": [9.0, 13.0, 16.0], "epoch_time_s": [3.0, 0.4, 0.41],
        "throughput": [3000.0, 22000.0, 21500.0]}


def _cfg(**kw):
  c = {"make_plots": True, "moments": ("on_epoch_end", "on_train_end"),
       "families": ("losses", "metrics", "recon", "codebook", "latency")}
  c.update(kw)
  return ml_collections.ConfigDict(c)


def _payload(run_dir, moment="on_epoch_end", hist=HIST, **extra):
  return build_event(moment, run_dir, meta={}, epoch=2, histories=hist,
                     total_time_s=3.81, extra=extra)


def _png(path):
  img = mpimg.imread(path)
  assert img.shape[0] > 200 and img.shape[1] > 300 and img[..., :3].std() > 0.01


def test_families_from_payload(tmp_path):
  run = str(tmp_path / "run_x")
  counts = list(np.random.default_rng(0).integers(0, 50, 32))
  paths = handle_event(_cfg(), "on_epoch_end",
                       _payload(run, code_counts=counts, train_throughput=25000.0),
                       run)
  names = sorted(os.path.basename(p) for p in paths)
  assert names == ["codebook-on_epoch_end-e003.png", "latency-on_epoch_end-e003.png",
                   "losses-on_epoch_end-e003.png", "metrics-on_epoch_end-e003.png"]
  for p in paths:   # recon needs the live model: nothing without a context
    assert os.path.dirname(p) == os.path.join(run, "train_figures")
    _png(p)
  # on_train_end carries no code_counts: codebook reuses the last epoch's
  paths = handle_event(_cfg(families=("codebook",)), "on_train_end",
                       _payload(run, "on_train_end"), run)
  assert [os.path.basename(p) for p in paths] == ["codebook-on_train_end-e003.png"]


def test_moments_switch_and_non_vq(tmp_path):
  run = str(tmp_path / "run_y")
  assert handle_event(_cfg(), "on_start", _payload(run, "on_start"), run) == []
  assert handle_event(_cfg(make_plots=False), "on_epoch_end", _payload(run), run) == []
  non_vq = {k: v for k, v in HIST.items()
            if k not in ("perplex", "train_perplex", "code_usage")}
  paths = handle_event(_cfg(families="losses,metrics,codebook"), "on_epoch_end",
                       _payload(run, hist=non_vq), run)
  assert [os.path.basename(p) for p in paths] == ["losses-on_epoch_end-e003.png"]
  assert not os.path.exists(os.path.join(run, "train_figures", "x"))


def test_plotting_never_raises(tmp_path, caplog, monkeypatch):
  def boom(ctx):
    raise RuntimeError("kaboom")
  monkeypatch.setitem(FAMILIES, "test_boom", boom)
  run = str(tmp_path / "run_z")
  cfg = _cfg(families=("test_boom", "nope", "losses", "latency"))
  bad = dict(_payload(run), histories={"train_loss": "oops", "epoch_time_s": [None]})
  with caplog.at_level(logging.WARNING, logger="thesis_jax.monitoring"):
    handle_event(cfg, "on_epoch_end", bad, run)
    paths = handle_event(cfg, "on_epoch_end", _payload(run), run)
    assert handle_event(None, "on_epoch_end", None, run) == []
  assert "kaboom" in caplog.text and "unknown plot family 'nope'" in caplog.text
  assert sorted(os.path.basename(p) for p in paths) == [
      "latency-on_epoch_end-e003.png", "losses-on_epoch_end-e003.png"]


def test_perplexity_of_code_usage():
  assert codebook._perplexity(np.full(4, 0.25)) == pytest.approx(4.0)
  assert codebook._perplexity(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)


@pytest.mark.slow
def test_driver_writes_train_figures(tmp_path):
  import thesis_jax
  cfg = tiny_config(tmp_path, **{"logging.make_plots": True,
                                 "logging.families": ("losses", "recon", "codebook"),
                                 "phase1.trainer.epochs": 1,
                                 "phase1.latent_space.kmeans_init": False,
                                 "logging.save_artifacts": False})
  cfg.data.synthetic.update(n_train=256, n_val=128, n_test=128)
  res = thesis_jax.train_model(cfg)
  got = sorted(os.listdir(os.path.join(res.run_dir, "train_figures")))
  assert got == sorted(f"{fam}-{m}-e001.png" for fam in ("losses", "recon", "codebook")
                       for m in ("on_epoch_end", "on_train_end"))
  for name in got:
    _png(os.path.join(res.run_dir, "train_figures", name))
