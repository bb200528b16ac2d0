"""Pure steps of the adversarial autoencoder loop (`loop = gan_ae`).

The autoencoder is the generator. One `train_step(state, batch, rng)` does
`d_steps` discriminator updates, then one generator (autoencoder) update
against the updated discriminator, so the driver's `lax.scan` runs it as any
other step. Discriminator params and optimizer state live in
`state.extra = {"d_params": ..., "d_opt": ...}`.

  D: mean_w d_loss(D(x), D(x_hat)) + r1_gamma / 2 * mean_w ||grad_x D(x)||^2
  G: AE objective (ae_steps.batch_metrics "loss") + w_adv(step) * mean_w g_loss(D(x_hat))

x: the real event (cont [B,T,C], globals [B,G], normalised); x_hat: its
reconstruction (the real globals stand in without a globals head; the type
ids are the real ones). With `codebook_fakes` (VQ only), decodings of random
codebook draws at the real token positions are a second set of fakes.
w_adv ramps linearly from 0 to `adv_weight` over `warmup_steps`.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from thesis_jax.models.adversarial import ADV_LOSSES, r1_penalty, weighted_mean
from thesis_jax.models.vq import apply_pending_restarts
from thesis_jax.train.ae_steps import apply_model, batch_metrics
from thesis_jax.train.state import TrainState

GAN_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "r1")


def default_gan_config() -> ml_collections.ConfigDict:
  """The `gan` config block (configs/gan_ae.py installs and edits it)."""
  return ml_collections.ConfigDict({
      "loss": "non_saturating",     # non_saturating | hinge | least_squares
      "adv_weight": 0.05,           # adversarial term vs reconstruction
      "warmup_steps": 0,            # linear ramp of adv_weight (0: none)
      "r1_gamma": 1.0,              # R1 penalty weight (gamma / 2 * E||grad||^2)
      "d_steps": 1,                 # discriminator updates per generator update
      "d_lr": 2e-4, "d_beta1": 0.5, "d_beta2": 0.9,
      "d_hidden": 64, "d_layers": 2, "d_activation": "leaky_relu",
      "codebook_fakes": False,      # VQ: also judge decodings of random codes
  })


def make_d_optimizer(gcfg) -> optax.GradientTransformation:
  return optax.adam(float(gcfg.d_lr), b1=float(gcfg.d_beta1),
                    b2=float(gcfg.d_beta2))


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


def make_train_step(model, disc, tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, gcfg, *,
                    globals_beta: float, mask_padding: bool,
                    is_vq: bool) -> Callable:
  adv = ADV_LOSSES.get(gcfg.loss)
  gamma = float(gcfg.r1_gamma)
  use_codes = bool(gcfg.codebook_fakes) and is_vq
  adv_weight, warmup = float(gcfg.adv_weight), int(gcfg.warmup_steps)

  def score(dp, cont, ids, glob):
    return disc.apply({"params": dp}, cont, ids, glob)

  def with_globals(pair, batch):
    x, g = pair
    return x, batch["globals"] if g is None else g

  def d_loss_fn(dp, batch, fakes):
    ids, w = batch["ids"], batch["weight"]
    real = score(dp, batch["cont"], ids, batch["globals"])
    f_scores = [score(dp, c, ids, g) for c, g in fakes]
    per_event = sum(adv.d_loss(real, f) for f in f_scores) / len(f_scores)
    d_loss = weighted_mean(per_event, w)
    r1 = (r1_penalty(lambda c, g: score(dp, c, ids, g), batch["cont"],
                     batch["globals"], w) if gamma > 0 else jnp.zeros(()))
    stats = {"d_loss": d_loss, "d_real": weighted_mean(real, w),
             "d_fake": weighted_mean(f_scores[0], w), "r1": r1}
    return d_loss + 0.5 * gamma * r1, stats

  def forward(params, model_state, batch, rng):
    """AE forward (train mode) -> ((AE loss, fakes), (metrics, model_state))."""
    r_model, r_codes = jax.random.split(rng)
    out, new_ms = apply_model(model, params, model_state, batch, r_model, True)
    m = batch_metrics(out, batch, globals_beta=globals_beta,
                      mask_padding=mask_padding)
    fakes = [with_globals((out.x_hat, out.globals_hat), batch)]
    if use_codes:
      fakes.append(with_globals(codebook_draws(
          model, params, model_state, batch["ids"], r_codes), batch))
    return (m["loss"], fakes), (m, new_ms)

  def g_adv_loss(dp, fakes, batch):
    g_ev = sum(adv.g_loss(score(dp, c, batch["ids"], g)) for c, g in fakes)
    return weighted_mean(g_ev / len(fakes), batch["weight"])

  def train_step(state: TrainState, batch, rng):
    # One generator forward serves both steps: its (stop-gradient) fakes
    # train D, then the generator's gradient is pulled back through it
    # against the updated D (alternating updates, one AE forward).
    (_, fakes), pullback, (m, new_ms) = jax.vjp(
        lambda p: forward(p, state.model_state, batch, rng), state.params,
        has_aux=True)
    dp, d_opt = state.extra["d_params"], state.extra["d_opt"]
    d_fakes = jax.lax.stop_gradient(fakes)
    for _ in range(int(gcfg.d_steps)):
      d_grads, d_stats = jax.grad(d_loss_fn, has_aux=True)(dp, batch, d_fakes)
      d_upd, d_opt = d_tx.update(d_grads, d_opt, dp)
      dp = optax.apply_updates(dp, d_upd)

    ramp = (jnp.minimum(state.step.astype(jnp.float32) / warmup, 1.0)
            if warmup > 0 else 1.0)
    g_loss, g_fakes = jax.value_and_grad(g_adv_loss, argnums=1)(dp, fakes, batch)
    w_adv = jnp.asarray(adv_weight * ramp, jnp.float32)
    (grads,) = pullback((jnp.ones((), jnp.float32),
                         jax.tree.map(lambda g: w_adv * g, g_fakes)))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    params = apply_pending_restarts(params, new_ms)
    metrics = dict(m, g_loss=g_loss, **d_stats)
    new = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                        model_state=new_ms,
                        extra={"d_params": dp, "d_opt": d_opt})
    return new, metrics
  return train_step


def make_disc_eval(model, disc) -> Callable:
  """-> sums(state, batch): weighted sums of D scores on real and
  reconstructed validation events (`d_real_sum`, `d_fake_sum`)."""
  def sums(state, batch):
    out, _ = apply_model(model, state.params, state.model_state, batch, None,
                         False)
    dp, w = state.extra["d_params"], batch["weight"]
    g_hat = batch["globals"] if out.globals_hat is None else out.globals_hat
    real = disc.apply({"params": dp}, batch["cont"], batch["ids"], batch["globals"])
    fake = disc.apply({"params": dp}, out.x_hat, batch["ids"], g_hat)
    return {"d_real_sum": (w * real).sum(), "d_fake_sum": (w * fake).sum()}
  return sums
