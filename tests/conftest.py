"""Shared test fixtures: tiny configs and the real CMS events in tests/data/."""
import os

import pytest

from thesis_jax.config_tools import set_dotted

# In-process trainings keep JAX's own device count (thesis_jax.train would
# otherwise split the CPU into host devices when it happens to run first).
os.environ.setdefault("THESIS_JAX_HOST_DEVICES", "0")

DATA = os.path.join(os.path.dirname(__file__), "data")
CMS_H5 = os.path.join(DATA, "cms_hzz_tokens.h5")


def tiny_config(output_root, **updates):
  """A small, fast training config (synthetic data unless data.path is set).

  `updates` are dotted keys: tiny_config(tmp, **{"phase1.trainer.epochs": 3}).
  """
  from configs.default import get_config
  c = get_config("tiny")
  c.logging.output_root = str(output_root)
  c.logging.progress = False
  for k, v in updates.items():
    set_dotted(c, k, v)
  return c


@pytest.fixture
def cms_h5():
  return CMS_H5


def train_interrupted(train, config, monkeypatch, after_epoch: int = 1):
  """Runs `train(config)` and kills it (KeyboardInterrupt) right after the
  0-based epoch `after_epoch` has been reported, as a hard stop would."""
  from thesis_jax.train import progress
  orig = progress.Progress.epoch

  def interrupt(self, epoch, *a, **k):
    orig(self, epoch, *a, **k)
    if epoch == after_epoch:
      raise KeyboardInterrupt(f"simulated kill after epoch {after_epoch + 1}")
  monkeypatch.setattr(progress.Progress, "epoch", interrupt)
  with pytest.raises(KeyboardInterrupt):
    train(config)
  monkeypatch.setattr(progress.Progress, "epoch", orig)
