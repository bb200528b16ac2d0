"""The adversarial autoencoder loop (`loop = gan_ae`); config: configs/gan_ae.py.

The `ae` loop (model, optimizer, k-means init, validation, test metrics,
scores) plus a set discriminator trained against the reconstructions. One
`train_step(state, batch, rng)` does `d_steps` discriminator updates, then one
generator (autoencoder) update against the updated discriminator, so the
driver's `lax.scan` runs it as any other step. Discriminator params and
optimizer state live in `state.extra = {"d_params": ..., "d_opt": ...}`.

  D: mean_w d_loss(D(x), D(x_hat)) + r1_gamma / 2 * mean_w ||grad_x D(x)||^2
  G: AE objective (ae.batch_metrics "loss") + w_adv(step) * mean_w g_loss(D(x_hat))

x: the real event (cont [B,T,C], globals [B,G], normalised); x_hat: its
reconstruction (the real globals stand in without a globals head; the type
ids are the real ones). With `codebook_fakes` (VQ only), decodings of random
codebook draws at the real token positions are a second set of fakes.
w_adv ramps linearly from 0 to `adv_weight` over `warmup_steps`.

val_loss stays the reconstruction objective, so runs compare with `ae` runs
and the best checkpoint is the best reconstruction. Extra histories per epoch:
`d_loss, g_loss, d_real, d_fake, r1` (train means; d_real/d_fake are raw
discriminator scores) and `val_d_real, val_d_fake` (validation means).
`score_step` adds `disc_score` = -D(event), an anomaly score (higher = judged
less real).
"""
from __future__ import annotations

import dataclasses
from typing import Dict

import jax
import jax.numpy as jnp
import optax

from thesis_jax.errors import ConfigError, lookup
from thesis_jax.models.adversarial import ADV_LOSSES, r1_penalty, weighted_mean
from thesis_jax.models.discriminator import build_discriminator
from thesis_jax.models.layers import ACTIVATIONS
from thesis_jax.train import loop_parts as parts
from thesis_jax.train.loop_api import Loop
from thesis_jax.train.loops import ae
from thesis_jax.train.state import make_optimizer

GAN_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "r1")


def check(config) -> None:
  """The `gan` block (configs/gan_ae.py holds its defaults)."""
  if "gan" not in config:
    raise ConfigError("loop 'gan_ae' needs the `gan` config block "
                      "(start from configs/gan_ae.py)")
  g = config.gan
  lookup(ADV_LOSSES, g.loss, "adversarial loss", "gan.loss")
  lookup(ACTIVATIONS, g.d_activation, "activation", "gan.d_activation")
  for k in ("adv_weight", "r1_gamma", "warmup_steps"):
    if g[k] < 0:
      raise ConfigError(f"gan.{k} must be >= 0, got {g[k]}")
  for k in ("d_steps", "d_lr", "d_hidden"):
    if g[k] <= 0:
      raise ConfigError(f"gan.{k} must be > 0, got {g[k]}")


def make_d_optimizer(g) -> optax.GradientTransformation:
  return optax.adam(float(g.d_lr), b1=float(g.d_beta1), b2=float(g.d_beta2))


def codebook_draws(model, params, model_state, ids, rng):
  """Decodes random codes at the real token layout -> (cont [B,T,C], g [B,G]|None).

  Codes are drawn by their EMA usage (`cluster_size`) when the bottleneck
  keeps one, uniformly otherwise.
  """
  stats = model_state.get("vq_stats", {}).get("bottleneck", {})
  cb = stats["codebook"] if "codebook" in stats else params["bottleneck"]["codebook"]
  if "cluster_size" in stats:
    logits = jnp.log(jnp.maximum(stats["cluster_size"], 1e-6))
  else:
    logits = jnp.zeros(cb.shape[:1])
  idx = jax.random.categorical(rng, logits, shape=ids.shape)
  z = jnp.take(jax.lax.stop_gradient(cb), idx, axis=0)
  return model.apply({"params": params, **model_state}, z, ids > 0,
                     method=lambda m, z, mask: m.decoder(z, mask, train=False))


def make_train_step(model, disc, tx, d_tx, g, *, globals_beta: float,
                    mask_padding: bool, is_vq: bool):
  adv = ADV_LOSSES[g.loss]
  gamma = float(g.r1_gamma)
  use_codes = bool(g.codebook_fakes) and is_vq
  adv_weight, warmup = float(g.adv_weight), int(g.warmup_steps)

  def score(dp, cont, ids, glob):
    return disc.apply({"params": dp}, cont, ids, glob)

  def with_globals(pair, batch):
    x, gh = pair
    return x, batch["globals"] if gh is None else gh

  def d_loss_fn(dp, batch, fakes):
    ids, w = batch["ids"], batch["weight"]
    real = score(dp, batch["cont"], ids, batch["globals"])
    f_scores = [score(dp, c, ids, gh) for c, gh in fakes]
    per_event = sum(adv.d_loss(real, f) for f in f_scores) / len(f_scores)
    d_loss = weighted_mean(per_event, w)
    r1 = (r1_penalty(lambda c, gh: score(dp, c, ids, gh), batch["cont"],
                     batch["globals"], w) if gamma > 0 else jnp.zeros(()))
    stats = {"d_loss": d_loss, "d_real": weighted_mean(real, w),
             "d_fake": weighted_mean(f_scores[0], w), "r1": r1}
    return d_loss + 0.5 * gamma * r1, stats

  def forward(params, model_state, batch, rng):
    """AE forward (train mode) -> ((AE loss, fakes), (metrics, model_state))."""
    r_model, r_codes = jax.random.split(rng)
    out, new_ms = ae.forward(model, params, model_state, batch, r_model, True)
    m = ae.batch_metrics(out, batch, globals_beta=globals_beta,
                         mask_padding=mask_padding)
    fakes = [with_globals((out.x_hat, out.globals_hat), batch)]
    if use_codes:
      fakes.append(with_globals(codebook_draws(
          model, params, model_state, batch["ids"], r_codes), batch))
    return (m["loss"], fakes), (m, new_ms)

  def g_adv_loss(dp, fakes, batch):
    g_ev = sum(adv.g_loss(score(dp, c, batch["ids"], gh)) for c, gh in fakes)
    return weighted_mean(g_ev / len(fakes), batch["weight"])

  def train_step(state, batch, rng):
    # One generator forward serves both steps: its (stop-gradient) fakes
    # train D, then the generator's gradient is pulled back through it
    # against the updated D (alternating updates, one AE forward).
    (_, fakes), pullback, (m, new_ms) = jax.vjp(
        lambda p: forward(p, state.model_state, batch, rng), state.params,
        has_aux=True)
    dp, d_opt = state.extra["d_params"], state.extra["d_opt"]
    d_fakes = jax.lax.stop_gradient(fakes)
    for _ in range(int(g.d_steps)):
      d_grads, d_stats = jax.grad(d_loss_fn, has_aux=True)(dp, batch, d_fakes)
      d_upd, d_opt = d_tx.update(d_grads, d_opt, dp)
      dp = optax.apply_updates(dp, d_upd)

    ramp = (jnp.minimum(state.step.astype(jnp.float32) / warmup, 1.0)
            if warmup > 0 else 1.0)
    g_loss, g_fakes = jax.value_and_grad(g_adv_loss, argnums=1)(dp, fakes, batch)
    w_adv = jnp.asarray(adv_weight * ramp, jnp.float32)
    (grads,) = pullback((jnp.ones((), jnp.float32),
                         jax.tree.map(lambda x: w_adv * x, g_fakes)))
    new = parts.apply_gradients(state, tx, grads, new_ms,
                                extra={"d_params": dp, "d_opt": d_opt})
    return new, dict(m, g_loss=g_loss, **d_stats)
  return train_step


def disc_sums(model, disc, state, batch) -> Dict:
  """Weighted sums of D scores on real and reconstructed events
  (`d_real_sum`, `d_fake_sum`)."""
  x_hat, g_hat = ae.reconstruct(model, state, batch)
  dp, w = state.extra["d_params"], batch["weight"]
  g_hat = batch["globals"] if g_hat is None else g_hat
  real = disc.apply({"params": dp}, batch["cont"], batch["ids"], batch["globals"])
  fake = disc.apply({"params": dp}, x_hat, batch["ids"], g_hat)
  return {"d_real_sum": (w * real).sum(), "d_fake_sum": (w * fake).sum()}


def _split(sums):
  """-> (the ae loop's sums, events-normalised D means {real, fake})."""
  ev = max(float(sums["events"]), 1.0)
  ae_sums = {k: v for k, v in sums.items() if not k.startswith("d_")}
  return ae_sums, {"real": float(sums["d_real_sum"]) / ev,
                   "fake": float(sums["d_fake_sum"]) / ev}


def build(config, dataset) -> Loop:
  base = ae.build(config, dataset)
  g = config.gan
  model, p = base.model, config.phase1
  disc = build_discriminator(g, num_types=dataset.num_types)
  d_tx = make_d_optimizer(g)
  tx = make_optimizer(p.trainer)   # the ae loop's optimizer (stateless)

  def init(rng, ds):
    k_ae, k_d = jax.random.split(rng)
    state = base.init_state(k_ae, ds)
    t = ds.n_tokens
    d_params = disc.init(k_d, jnp.zeros((1, t, 4)), jnp.ones((1, t), jnp.int32),
                         jnp.zeros((1, 2)))["params"]
    return state.replace(extra={"d_params": d_params,
                                "d_opt": d_tx.init(d_params)})

  def eval_step(state, batch):
    return dict(base.eval_step(state, batch),
                **disc_sums(model, disc, state, batch))

  def score_step(state, batch):
    res = base.score_step(state, batch)
    res["disc_score"] = -disc.apply({"params": state.extra["d_params"]},
                                    batch["cont"], batch["ids"], batch["globals"])
    return res

  def record(train_metrics, val_sums):
    ae_sums, d = _split(val_sums)
    rec = base.record(train_metrics, ae_sums)
    rec.history.update({k: parts.host_mean(train_metrics[k]) for k in GAN_METRICS})
    rec.history["val_d_real"], rec.history["val_d_fake"] = d["real"], d["fake"]
    return rec

  def test_metrics(test_sums):
    ae_sums, d = _split(test_sums)
    out = base.test_metrics(ae_sums)
    out["test_d_real"], out["test_d_fake"] = d["real"], d["fake"]
    return out

  return dataclasses.replace(
      base, name="gan_ae", init_state=init, eval_step=eval_step,
      score_step=score_step, record=record, test_metrics=test_metrics,
      train_step=make_train_step(
          model, disc, tx, d_tx, g, globals_beta=float(p.decoder.globals_beta),
          mask_padding=bool(p.loss.mask_padding),
          is_vq=p.latent_space.name == "vq"))
