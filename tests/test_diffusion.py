"""Diffusion autoencoder: schedule, forward noising, DDIM, denoiser, loop."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import CMS_H5, tiny_config
from thesis_jax.models import diffusion as D

T = 1000


def test_cosine_schedule_in_unit_interval_and_decreasing():
  ab = D.cosine_alphas_bar(T)
  assert ab.shape == (T,)
  assert np.all(ab > 0) and np.all(ab < 1)
  assert np.all(np.diff(ab) < 0)
  # Closed form f(t)/f(0) where no beta was clipped (all but the last steps).
  f = lambda u: np.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
  t = np.arange(1, T + 1) / T
  np.testing.assert_allclose(ab[:900], (f(t) / f(0.0))[:900], rtol=1e-10)
  assert ab[0] > 0.9999 and ab[-1] < 1e-6


def _oracle(x0, prediction, ab):
  """The perfect denoiser: the true eps (or v) of x_t given the clean x0."""
  def pred_fn(x, t):
    a = jnp.sqrt(ab[t])[:, None, None]
    s = jnp.sqrt(1 - ab[t])[:, None, None]
    eps = (x - a * x0) / s
    return eps if prediction == "eps" else a * eps - s * x0
  return pred_fn


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("steps", [1, 7, 50])
def test_perfect_denoiser_recovers_x0(prediction, steps):
  with jax.enable_x64(True):
    ab = jnp.asarray(D.cosine_alphas_bar(T))
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x0 = jax.random.normal(k1, (3, 5, 4), jnp.float64) * 2.0
    eps = jax.random.normal(k2, x0.shape, jnp.float64)
    t = jnp.full((3,), T - 1, jnp.int32)
    x_T = D.q_sample(x0, t, eps, ab)
    # q_sample against the closed form, and the v target's definition.
    a, s = np.sqrt(ab[-1]), np.sqrt(1 - ab[-1])
    np.testing.assert_allclose(x_T, a * x0 + s * eps, rtol=1e-12)
    np.testing.assert_allclose(D.target(x0, eps, t, ab, "v"), a * eps - s * x0,
                               rtol=1e-12)
    out = D.ddim_sample(_oracle(x0, prediction, ab), x_T, ab, steps, prediction)
    np.testing.assert_allclose(out, x0, atol=1e-8)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddim_one_and_two_steps_match_closed_form(prediction):
  ab = D.cosine_alphas_bar(T)
  x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
  f = lambda x, t: 0.5 * x + 0.1            # any deterministic "network"

  def x0_hat(x, a):
    p = f(x, None)
    return ((x - np.sqrt(1 - a) * p) / np.sqrt(a) if prediction == "eps"
            else np.sqrt(a) * x - np.sqrt(1 - a) * p)

  def eps_hat(x, a):
    return (x - np.sqrt(a) * x0_hat(x, a)) / np.sqrt(1 - a)

  ab32 = jnp.asarray(ab, jnp.float32)
  one = D.ddim_sample(f, jnp.asarray(x), ab32, 1, prediction)
  np.testing.assert_allclose(one, x0_hat(x, ab[T - 1]), rtol=2e-3, atol=2e-3)
  # Two steps: T-1 -> 0 -> clean.
  a1, a0 = ab[T - 1], ab[0]
  mid = np.sqrt(a0) * x0_hat(x, a1) + np.sqrt(1 - a0) * eps_hat(x, a1)
  two = D.ddim_sample(f, jnp.asarray(x), ab32, 2, prediction)
  np.testing.assert_allclose(two, x0_hat(mid, a0), rtol=2e-3, atol=2e-3)
  assert list(D.ddim_timesteps(T, 1)) == [T - 1]
  assert list(D.ddim_timesteps(T, 3)) == [T - 1, 500, 0]


def test_timestep_embedding():
  e = D.timestep_embedding(jnp.array([0, 10]), 6)
  assert e.shape == (2, 6)
  np.testing.assert_allclose(e[0], [1, 1, 1, 0, 0, 0], atol=1e-7)
  freqs = np.exp(-math.log(1e4) * np.arange(3) / 3)
  np.testing.assert_allclose(e[1], np.r_[np.cos(10 * freqs), np.sin(10 * freqs)],
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("heads", [0, 2])
def test_denoiser_is_permutation_equivariant_and_ignores_padding(heads):
  net = D.Denoiser(num_types=5, hidden=16, depth=2, heads=heads, time_embed_dim=8)
  r = np.random.default_rng(1)
  x = jnp.asarray(r.normal(size=(2, 6, 4)), jnp.float32)
  z = jnp.asarray(r.normal(size=(2, 6, 3)), jnp.float32)
  ids = jnp.array([[1, 2, 3, 0, 0, 0], [4, 1, 1, 2, 0, 0]])
  t = jnp.array([3, 700])
  params = net.init(jax.random.PRNGKey(0), x, t, ids, z)
  # The zero-initialised output layer would make every test trivial: perturb it.
  params = jax.tree.map(lambda p: p + 0.1 * jnp.ones_like(p), params)
  out = net.apply(params, x, t, ids, z)
  perm = np.array([4, 2, 0, 5, 1, 3])
  out_p = net.apply(params, x[:, perm], t, ids[:, perm], z[:, perm])
  np.testing.assert_allclose(out_p, out[:, perm], rtol=1e-5, atol=1e-5)
  # Changing a padding slot's inputs leaves the real tokens' outputs unchanged.
  x2 = x.at[0, 4].set(99.0)
  z2 = z.at[0, 4].set(-7.0)
  out2 = net.apply(params, x2, t, ids, z2)
  np.testing.assert_allclose(out2[0, :3], out[0, :3], rtol=1e-5, atol=1e-5)
  assert not np.allclose(out, 0.0)


@pytest.mark.slow
def test_diffusion_ae_trains_and_beats_mean_event_baseline(tmp_path):
  import thesis_jax
  from thesis_jax.data.pipeline import load_dataset
  from thesis_jax.train.restore import load_run
  cfg = tiny_config(tmp_path, **{
      "data.path": CMS_H5, "loop": "diffusion_ae",
      "phase1.trainer.epochs": 8, "phase1.trainer.lr": 2e-3})
  from configs.diffusion_ae import get_config
  cfg.phase1.diffusion = get_config().phase1.diffusion
  cfg.phase1.diffusion.update(hidden=32, depth=2, time_embed_dim=16,
                              sample_steps=8)
  res = thesis_jax.train_model(cfg)
  h = res.histories
  assert h["train_loss"][-1] < h["train_loss"][0]
  assert h["val_loss"][-1] < h["val_loss"][0]
  assert h["diffusion_loss"] == h["val_loss"] and h["recon_mse"] == h["rec_tokens"]
  for k in ("rec_globals", "codebook", "perplex"):
    assert len(h[k]) == 8 and all(v is not None for v in h[k])
  ds = load_dataset(cfg.data)
  tr, va = ds.splits["train"], ds.splits["val"]
  mean = tr.cont.reshape(-1, 4).mean(0)
  baseline = float(((va.cont - mean) ** 2).mean())          # ~1.04
  assert h["recon_mse"][-1] < 0.5 * baseline, (h["recon_mse"], baseline)
  assert res.test["test_recon_mse"] < 0.5 * baseline
  # Inference: the restored best run scores events from its DDIM
  # reconstruction with the same per-token fixed noise as validation, so the
  # mean score equals the logged val recon_mse (any batching).
  run = load_run(res.run_dir)
  score = jax.jit(run.loop.score_step)
  n, b = len(va), 256
  idx = np.minimum(np.arange(2 * b), n - 1).reshape(2, b)
  batches = [{"ids": va.ids[i], "cont": va.cont[i], "globals": va.globals[i]}
             for i in idx[::-1]]
  parts = [score(run.state, x) for x in batches][::-1]
  sc = {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
  assert set(sc) == {"mse", "mae", "mse_real", "mae_real", "mse_globals", "loss",
                     "denoise_loss"}
  assert all(v.shape == (n,) and np.all(np.isfinite(v)) for v in sc.values())
  np.testing.assert_allclose(sc["mse"].mean(), h["recon_mse"][run.epoch], rtol=1e-4)
  np.testing.assert_allclose(sc["mse_globals"].mean(), h["rec_globals"][run.epoch],
                             rtol=1e-4)
  # Scores are a function of the token set: permuting tokens changes nothing.
  perm = np.random.default_rng(0).permuted(
      np.tile(np.arange(va.ids.shape[1]), (b, 1)), axis=1)
  rows = np.arange(b)[:, None]
  shuf = dict(batches[1], ids=batches[1]["ids"][rows, perm],
              cont=batches[1]["cont"][rows, perm])
  sp = score(run.state, shuf)
  for k in sc:
    np.testing.assert_allclose(sp[k], sc[k][:b], rtol=1e-3, atol=1e-6)


def test_token_noise_is_per_token_and_standard_normal():
  from thesis_jax.train.loops.diffusion_ae import token_noise
  r = np.random.default_rng(0)
  ids = jnp.asarray(r.integers(1, 5, (64, 6)))
  cont = jnp.asarray(r.normal(size=(64, 6, 4)), jnp.float32)
  noise = jax.jit(lambda i, c: token_noise(jax.random.PRNGKey(3), i, c))
  n = np.asarray(noise(ids, cont))
  assert n.shape == (64, 6, 4)
  assert abs(n.mean()) < 0.1 and abs(n.std() - 1) < 0.1
  perm = np.array([3, 0, 5, 1, 2, 4])
  np.testing.assert_array_equal(noise(ids[::-1][:, perm], cont[::-1][:, perm]),
                                n[::-1][:, perm])
  changed = np.asarray(noise(ids, cont.at[0, 0, 0].add(1e-3)))
  assert not np.allclose(changed[0, 0], n[0, 0])
  np.testing.assert_array_equal(changed[0, 1:], n[0, 1:])


def test_diffusion_plot_family_reads_every_epoch(tmp_path):
  import json
  from thesis_jax.monitoring.families import diffusion as fam
  from thesis_jax.monitoring import FAMILIES, PlotContext
  (tmp_path / "facts").mkdir()
  lv = lambda e: {"t_frac": [0.25, 0.75], "loss": [0.5 / (e + 1), 1.0 / (e + 1)]}
  with open(tmp_path / "facts" / "events.jsonl", "w") as f:
    for e in range(2):
      f.write(json.dumps({"moment": "on_epoch_end", "epoch": e,
                          "diffusion_loss_vs_t": lv(e)}) + "\n")
  h = {"train_loss": [0.9, 0.5], "diffusion_loss": [0.8, 0.4], "recon_mse": [1.0, 0.6]}
  ctx = PlotContext(str(tmp_path), "on_train_end", {"epoch": 1, "histories": h})
  assert [(e, list(l)) for e, _, l in fam._levels(ctx)] == [(0, [0.5, 1.0]),
                                                             (1, [0.25, 0.5])]
  figs = FAMILIES["diffusion"](ctx)
  assert [s for s, _ in figs] == [""]          # no live model: no events figure
  ax = figs[0][1].axes[0]
  assert len(ax.lines) == 2
  empty = PlotContext(str(tmp_path / "none"), "on_epoch_end", {"epoch": 0})
  assert FAMILIES["diffusion"](empty) == []
