"""Adversarial autoencoder: losses vs hand values, R1 vs finite differences,
the discriminator's invariances, and the `gan_ae` loop end to end."""
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CMS_H5, tiny_config
from thesis_jax.errors import ConfigError
from thesis_jax.models.adversarial import (ADV_LOSSES, r1_per_event, r1_penalty,
                                           weighted_mean)
from thesis_jax.models.discriminator import SetDiscriminator
from configs.gan_ae import gan_block

R = jnp.array([1.0, -0.5])
F = jnp.array([0.2, -2.0])
sp = lambda x: math.log1p(math.exp(x))   # softplus


@pytest.mark.parametrize("name,d_want,g_want", [
    ("non_saturating", [sp(-1.0) + sp(0.2), sp(0.5) + sp(-2.0)], [sp(-0.2), sp(2.0)]),
    ("hinge", [0.0 + 1.2, 1.5 + 0.0], [-0.2, 2.0]),
    ("least_squares", [0.5 * (0.0 + 0.04), 0.5 * (2.25 + 4.0)],
     [0.5 * 0.64, 0.5 * 9.0]),
])
def test_losses_match_hand_values(name, d_want, g_want):
  loss = ADV_LOSSES[name]
  np.testing.assert_allclose(np.asarray(loss.d_loss(R, F)), d_want, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(loss.g_loss(F)), g_want, rtol=1e-6)
  w = jnp.array([1.0, 0.0])                     # batch padding row ignored
  assert float(weighted_mean(loss.d_loss(R, F), w)) == pytest.approx(d_want[0])


def _disc_inputs(seed=0, b=3, t=5):
  rng = np.random.default_rng(seed)
  ids = np.array([[1, 2, 3, 0, 0], [2, 2, 0, 0, 0], [1, 3, 3, 2, 1]], np.int32)[:b]
  cont = rng.normal(size=(b, t, 4))
  return jnp.asarray(cont), jnp.asarray(ids), jnp.asarray(rng.normal(size=(b, 2)))


def test_r1_matches_finite_differences():
  with jax.enable_x64(True):
    cont, ids, glob = _disc_inputs()
    disc = SetDiscriminator(num_types=4, hidden=8, layers=1)
    params = disc.init(jax.random.PRNGKey(0), cont, ids, glob)
    f = jax.jit(lambda c, g: disc.apply(params, c, ids, g))
    got = np.asarray(r1_per_event(f, cont, glob))
    eps, b = 1e-5, cont.shape[0]
    x = np.concatenate([np.asarray(cont).reshape(b, -1), np.asarray(glob)], 1)
    n_in = x.shape[1]
    want = np.zeros(b)
    for i in range(n_in):
      d = np.zeros_like(x)
      d[:, i] = eps
      ev = lambda y: np.asarray(f(jnp.asarray(y[:, :-2].reshape(cont.shape)),
                                  jnp.asarray(y[:, -2:])))
      want += ((ev(x + d) - ev(x - d)) / (2 * eps)) ** 2
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.min() > 0
    w = jnp.array([1.0, 1.0, 0.0])
    assert float(r1_penalty(f, cont, glob, w)) == pytest.approx(want[:2].mean())


def test_discriminator_is_permutation_invariant_and_ignores_padding():
  cont, ids, glob = _disc_inputs(1)
  disc = SetDiscriminator(num_types=4, hidden=8, layers=2)
  v = disc.init(jax.random.PRNGKey(1), cont, ids, glob)
  s = disc.apply(v, cont, ids, glob)
  perm = np.array([4, 2, 0, 3, 1])
  np.testing.assert_allclose(np.asarray(disc.apply(v, cont[:, perm], ids[:, perm],
                                                   glob)), np.asarray(s), atol=1e-5)
  noisy = jnp.where((ids == 0)[..., None], 7.0, cont)
  np.testing.assert_allclose(np.asarray(disc.apply(v, noisy, ids, glob)),
                             np.asarray(s), atol=1e-6)
  assert float(jnp.abs(disc.apply(v, cont, ids, glob + 1.0) - s).max()) > 1e-4


def test_bad_gan_config_names_the_key(tmp_path):
  from configs.gan_ae import get_config
  from thesis_jax.train.config_check import validate_config
  c = get_config("smoke")
  c.gan.loss = "wasserstein"
  with pytest.raises(ConfigError, match="gan.loss.*hinge"):
    validate_config(c)
  c.gan.loss, c.gan.r1_gamma = "hinge", -1.0
  with pytest.raises(ConfigError, match="gan.r1_gamma"):
    validate_config(c)
  del c["gan"]
  with pytest.raises(ConfigError, match="`gan` config block"):
    validate_config(c)


@pytest.mark.slow
def test_gan_ae_trains_on_cms_events(tmp_path):
  from thesis_jax.data.pipeline import load_dataset
  from thesis_jax.train.driver import train
  from thesis_jax.train.restore import load_run
  cfg = tiny_config(tmp_path, **{
      "data.path": CMS_H5, "loop": "gan_ae", "phase1.trainer.epochs": 3})
  cfg.gan = gan_block()
  cfg.gan.update(codebook_fakes=True, d_hidden=16, warmup_steps=10)
  res = train(cfg)
  h = res.histories
  assert h["rec_tokens"][-1] < 0.8 * h["rec_tokens"][0]
  assert h["train_loss"][-1] < h["train_loss"][0]
  for k in ("d_loss", "g_loss", "d_real", "d_fake", "r1", "val_d_real"):
    assert len(h[k]) == 3 and all(np.isfinite(h[k])), k
  assert all(r > 0 for r in h["r1"])
  # The discriminator learned something: real scored above reconstructions.
  assert h["d_real"][-1] > h["d_fake"][-1]
  with open(os.path.join(res.run_dir, "facts", "events.jsonl")) as f:
    events = [json.loads(line) for line in f]
  last = [e for e in events if e["moment"] == "on_epoch_end"][-1]
  assert last["histories"]["d_loss"] == pytest.approx(h["d_loss"])
  assert "history_r1" in last and last["metrics"]["perplex"] > 1
  assert "test_d_real" in events[-1]["metrics"]
  # Inference: the restored run scores events, with the discriminator score.
  run = load_run(res.run_dir)
  ds = load_dataset(run.config.data, norm=run.norm)
  te = ds.splits["test"]
  batch = {"ids": te.ids[:8], "cont": te.cont[:8], "globals": te.globals[:8],
           "weight": np.ones(8, np.float32)}
  scores = jax.jit(run.loop.score_step)(run.state, batch)
  assert scores["disc_score"].shape == (8,) and scores["mse"].shape == (8,)
  assert np.isfinite(np.asarray(scores["disc_score"])).all()
