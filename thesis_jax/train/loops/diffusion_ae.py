"""The diffusion autoencoder loop (`loop = diffusion_ae`); config: configs/diffusion_ae.py.

Training: the DDPM objective (MSE between the denoiser's output and the true
eps or v at a uniformly drawn noise level), plus the bottleneck terms (VQ
commitment/codebook) and `globals_beta * rec_globals`. An exponential moving
average of the weights (`state.extra["ema"]`) is used for every evaluation.

Validation (EMA weights; fixed noise from `phase1.diffusion.eval_seed`, drawn
per token from its content so numbers do not depend on batching or token
order): `val_loss` = the denoising loss at per-event noise levels drawn once;
`recon_mse` = MSE of DDIM reconstructions (`sample_steps` steps from fixed
noise, conditioned on the event's latent), weighted like the AE's rec_tokens
(`phase1.loss.mask_padding`). `score_step` gives per-event anomaly scores.
"""
from __future__ import annotations

import dataclasses
from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.errors import ConfigError
from thesis_jax.models.autoencoder import AEOutput
from thesis_jax.models.diffusion import (PREDICTIONS, DiffusionAE,
                                         build_diffusion_ae, cosine_alphas_bar,
                                         ddim_sample, q_sample, target)
from thesis_jax.models.losses import ae_terms, reduce_terms, total_loss
from thesis_jax.train import loop_parts as parts
from thesis_jax.train.loop_api import EpochRecord, Loop
from thesis_jax.train.state import init_state, make_optimizer

TERMS = ("diffusion", "rec_globals", "commit", "codebook", "recon")


def check(config) -> None:
  """The `phase1.diffusion` block (configs/diffusion_ae.py holds its defaults)."""
  if "diffusion" not in config.phase1:
    raise ConfigError("loop 'diffusion_ae' needs the `phase1.diffusion` config "
                      "block (start from configs/diffusion_ae.py)")
  dc = config.phase1.diffusion
  if dc.prediction not in PREDICTIONS:
    raise ConfigError(f"phase1.diffusion.prediction must be one of "
                      f"{', '.join(PREDICTIONS)}, got '{dc.prediction}'")
  if not 0.0 <= dc.ema_decay < 1.0:
    raise ConfigError(f"phase1.diffusion.ema_decay must be in [0, 1), got {dc.ema_decay}")
  for k in ("num_timesteps", "sample_steps", "loss_bins"):
    if int(dc[k]) < 1:
      raise ConfigError(f"phase1.diffusion.{k} must be >= 1, got {dc[k]}")
  levels = tuple(float(x) for x in dc.score_levels)
  if not levels or not all(0.0 <= x <= 1.0 for x in levels):
    raise ConfigError("phase1.diffusion.score_levels must be fractions of the "
                      f"noise range in [0, 1], got {dc.score_levels}")


def per_row(key, n: int, draw):
  """[n, ...] draws where row i is draw(fold_in(key, i))."""
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
  return jax.vmap(draw)(keys)


def token_noise(key, ids, cont):
  """Fixed N(0, 1) noise like cont [B,T,C] where each token's noise is a
  function of (key, its type id, its feature bits) only: evaluation and scores
  do not depend on the batch, the batch position or the token order."""
  bits = jax.lax.bitcast_convert_type(cont, jnp.uint32)

  def one(i, b):
    k = jax.random.fold_in(key, i)
    for c in range(b.shape[0]):
      k = jax.random.fold_in(k, b[c])
    return jax.random.normal(k, b.shape)
  return jax.vmap(jax.vmap(one))(ids.astype(jnp.uint32), bits)


@dataclasses.dataclass(frozen=True)
class Diffusion:
  """The loop's settings and pure functions (model + noise schedule)."""
  model: DiffusionAE
  tx: object
  ab: jnp.ndarray            # alphas_bar [T]
  T: int
  prediction: str
  steps: int
  clip_x0: float
  ema_decay: float
  eval_seed: int
  bins: int
  levels: tuple
  globals_beta: float
  mask_padding: bool

  def apply(self, params, model_state, batch, x_t, t, rng, train):
    return parts.apply_model(
        self.model, params, model_state,
        (batch["cont"], batch["ids"], x_t, t, batch.get("weight")), rng, train)

  def denoise_fn(self, params, model_state, ids, z):
    variables = {"params": params, **model_state}
    return lambda x, t: self.model.apply(variables, x, t, ids, z,
                                         method=DiffusionAE.denoise)

  def tok_w(self, ids):
    return (ids > 0).astype(jnp.float32) if self.mask_padding else jnp.ones(
        ids.shape, jnp.float32)

  def terms(self, out, batch, tgt):
    """Per-event (num, den) terms; `diffusion` = MSE(pred, eps or v)."""
    terms = ae_terms(AEOutput(out.pred, out.globals_hat, out.z_e, out.z, out.aux),
                     dict(batch, cont=tgt), mask_padding=self.mask_padding)
    terms["diffusion"] = terms.pop("rec_tokens")
    return terms

  def noised(self, cont, t, eps):
    return q_sample(cont, t, eps, self.ab), target(cont, eps, t, self.ab, self.prediction)

  def sample(self, params, model_state, batch, z):
    """DDIM from fixed per-token noise, conditioned on z -> x_hat [B,T,C]."""
    key = jax.random.fold_in(jax.random.PRNGKey(self.eval_seed), 1)
    ids = batch["ids"]
    x_T = token_noise(key, ids, batch["cont"])
    return ddim_sample(self.denoise_fn(params, model_state, ids, z), x_T,
                       self.ab, self.steps, self.prediction, self.clip_x0)

  # ---------------------------------------------------------------- steps
  def train_step(self, state, batch, rng):
    r_t, r_eps, r_model = jax.random.split(rng, 3)
    cont = batch["cont"]
    t = jax.random.randint(r_t, cont.shape[:1], 0, self.T)
    x_t, tgt = self.noised(cont, t, jax.random.normal(r_eps, cont.shape))

    def loss_fn(params):
      out, ms = self.apply(params, state.model_state, batch, x_t, t, r_model, True)
      vals = reduce_terms(self.terms(out, batch, tgt), batch["weight"])
      loss = total_loss(vals, self.globals_beta, main="diffusion")
      vals["perplex"] = parts.batch_perplexity(out.aux)
      vals["objective"] = loss
      return loss, (vals, ms)

    grads, (metrics, new_ms) = jax.grad(loss_fn, has_aux=True)(state.params)
    new = parts.apply_gradients(state, self.tx, grads, new_ms)
    step = state.step.astype(jnp.float32)
    d = jnp.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))   # warm-up
    ema = jax.tree.map(lambda e, q: d * e + (1.0 - d) * q, state.extra["ema"],
                       new.params)
    return new.replace(extra={"ema": ema}), metrics

  def eval_step(self, state, batch):
    """-> sums: <term>_num/_den, level_num/level_den [bins], counts, ..."""
    params, ms = state.extra["ema"], state.model_state
    cont, w = batch["cont"], batch["weight"]
    k_t, k_eps = jax.random.split(jax.random.PRNGKey(self.eval_seed))
    t = per_row(k_t, cont.shape[0], lambda k: jax.random.randint(k, (), 0, self.T))
    x_t, tgt = self.noised(cont, t, token_noise(k_eps, batch["ids"], cont))
    out, _ = self.apply(params, ms, batch, x_t, t, None, False)
    terms = self.terms(out, batch, tgt)
    x0 = self.sample(params, ms, batch, out.z)
    tok_w = self.tok_w(batch["ids"])
    terms["recon"] = ((jnp.mean((x0 - cont) ** 2, -1) * tok_w).sum(-1), tok_w.sum(-1))
    sums = parts.term_sums(terms, w)
    b = (t * self.bins) // self.T
    n, d = terms["diffusion"]
    sums["level_num"] = jax.ops.segment_sum(w * n, b, num_segments=self.bins)
    sums["level_den"] = jax.ops.segment_sum(w * d, b, num_segments=self.bins)
    sums.update(parts.code_sums(out.aux, w))
    return sums

  def recon_z(self, state, batch):
    """EMA weights, DDIM from fixed noise -> (x_hat, globals_hat, z [B,T,D])."""
    params, ms = state.extra["ema"], state.model_state
    _, z, _, g_hat = self.model.apply({"params": params, **ms}, batch["cont"],
                                      batch["ids"], train=False,
                                      method=DiffusionAE.latent)
    return self.sample(params, ms, batch, z), g_hat, z

  def reconstruct(self, state, batch):
    return self.recon_z(state, batch)[:2]

  def score_step(self, state, batch) -> Dict:
    """Per-event scores [B] (EMA weights, fixed noise): the `event_errors`
    keys from the DDIM reconstruction, plus `denoise_loss` = the denoising
    loss averaged over the fixed noise levels `score_levels`."""
    params, ms = state.extra["ema"], state.model_state
    cont, ids = batch["cont"], batch["ids"]
    x_hat, g_hat, z = self.recon_z(state, batch)
    res = parts.event_errors(x_hat, g_hat, batch)
    k_eps = jax.random.fold_in(jax.random.PRNGKey(self.eval_seed), 2)
    den_fn = self.denoise_fn(params, ms, ids, z)
    tok_w = self.tok_w(ids)
    losses = []
    for i, frac in enumerate(self.levels):
      t = jnp.full(ids.shape[:1], int(round(frac * (self.T - 1))), jnp.int32)
      x_t, tgt = self.noised(cont, t, token_noise(jax.random.fold_in(k_eps, i),
                                                  ids, cont))
      err = jnp.mean((den_fn(x_t, t) - tgt) ** 2, -1)
      losses.append((err * tok_w).sum(-1) / jnp.maximum(tok_w.sum(-1), 1.0))
    res["denoise_loss"] = jnp.mean(jnp.stack(losses), 0)
    return res


# ------------------------------------------------------------------ host side
def finalize(sums, is_vq: bool) -> Dict:
  out = parts.finalize_terms(sums, TERMS)
  out.update(parts.finalize_codes(sums, is_vq))
  if not is_vq:
    out["commit"] = out["codebook"] = None
  num, den = np.asarray(sums["level_num"]), np.asarray(sums["level_den"])
  out["loss_vs_t"] = [float(a / b) if b > 0 else None for a, b in zip(num, den)]
  return out


def record(train_metrics, val_sums, *, bins: int, is_vq: bool) -> EpochRecord:
  val = finalize(val_sums, is_vq)
  train_loss = parts.host_mean(train_metrics["diffusion"])
  hist = {"train_loss": train_loss, "val_loss": val["diffusion"],
          "rec_tokens": val["recon"], "rec_globals": val["rec_globals"],
          "codebook": val["codebook"], "perplex": val["perplex"],
          "diffusion_loss": val["diffusion"], "recon_mse": val["recon"],
          "commit": val["commit"], "code_usage": val["code_usage"],
          "train_objective": parts.host_mean(train_metrics["objective"])}
  centres = [(i + 0.5) / bins for i in range(bins)]
  extra = {"diffusion_loss_vs_t": {"t_frac": centres, "loss": val["loss_vs_t"]}}
  if is_vq:
    extra["code_counts"] = parts.code_counts(val_sums)
  train_p = parts.host_mean(train_metrics["perplex"]) if is_vq else None
  return EpochRecord(train_loss, val["diffusion"], {"perplex": val["perplex"]},
                     hist, extra, train_metrics={"perplex": train_p})


def test_metrics(test_sums, *, is_vq: bool) -> Dict[str, float]:
  t = finalize(test_sums, is_vq)
  out = {"test_loss": t["diffusion"], "test_recon_mse": t["recon"],
         "test_rec_tokens": t["recon"]}
  for k in ("rec_globals", "commit", "codebook", "perplex"):
    if t[k] is not None:
      out[f"test_{k}"] = t[k]
  return out


def ema_copy(params):
  """Host copies: the EMA must not share buffers with params (donation)."""
  return {"ema": jax.tree.map(np.array, params)}


def build(config, dataset) -> Loop:
  p, dc = config.phase1, config.phase1.diffusion
  T = int(dc.num_timesteps)
  dif = Diffusion(
      model=build_diffusion_ae(p, num_types=dataset.num_types, norm=dataset.norm),
      tx=make_optimizer(p.trainer),
      ab=jnp.asarray(cosine_alphas_bar(T, float(dc.cosine_s)), jnp.float32),
      T=T, prediction=str(dc.prediction), steps=int(dc.sample_steps),
      clip_x0=float(dc.clip_x0), ema_decay=float(dc.ema_decay),
      eval_seed=int(dc.eval_seed), bins=int(dc.loss_bins),
      levels=tuple(float(x) for x in dc.score_levels),
      globals_beta=float(p.decoder.globals_beta),
      mask_padding=bool(p.loss.mask_padding))
  is_vq = p.latent_space.name == "vq"

  def init(rng, ds):
    cont = jnp.zeros((1, ds.n_tokens, 4))
    ids = jnp.ones((1, ds.n_tokens), jnp.int32)
    params, ms = parts.init_variables(dif.model, rng, cont, ids, cont,
                                      jnp.zeros((1,), jnp.int32))
    return init_state(params, ms, dif.tx, extra=ema_copy(params))

  def data_init(state, ds, rng):
    # k-means codebook through the encoder (same `encode` contract as the AE).
    state = parts.kmeans_codebook(dif.model, state, ds, rng, p.latent_space)
    return state.replace(extra=ema_copy(state.params))

  return Loop(
      name="diffusion_ae", config=config, model=dif.model, init_state=init,
      data_init=data_init, train_step=dif.train_step, eval_step=dif.eval_step,
      score_step=dif.score_step, reconstruct=dif.reconstruct,
      record=lambda tm, vs: record(tm, vs, bins=dif.bins, is_vq=is_vq),
      test_metrics=lambda ts: test_metrics(ts, is_vq=is_vq))
