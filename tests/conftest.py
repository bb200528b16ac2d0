"""Shared test fixtures: tiny configs and the real CMS events in tests/data/."""
import os

import pytest

from thesis_jax.config_tools import set_dotted

DATA = os.path.join(os.path.dirname(__file__), "data")
CMS_H5 = os.path.join(DATA, "cms_hzz_tokens.h5")


def tiny_config(output_root, **updates):
  """A small, fast training config (synthetic data unless data.path is set).

  `updates` are dotted keys: tiny_config(tmp, **{"phase1.trainer.epochs": 3}).
  """
  from configs.default import get_config
  c = get_config()
  c.data.synthetic.update(n_train=512, n_val=256, n_test=256)
  c.phase1.encoder.enc_hidden = (32, 32)
  c.phase1.decoder.dec_hidden = (32, 32)
  c.phase1.latent_space.update(latent_dim=8, codebook_size=32,
                               kmeans_samples=512, restart_after=4)
  c.phase1.trainer.update(epochs=2, batch_size=64, eval_batch_size=256,
                          steps_per_dispatch=4)
  c.logging.output_root = str(output_root)
  c.logging.progress = False
  for k, v in updates.items():
    set_dotted(c, k, v)
  return c


@pytest.fixture
def cms_h5():
  return CMS_H5
