"""The diffusion autoencoder loop (`loop = diffusion_ae`).

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

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np
import optax

from thesis_jax.errors import ConfigError
from thesis_jax.models.autoencoder import AEOutput
from thesis_jax.models.diffusion import (PREDICTIONS, DiffusionAE,
                                         build_diffusion_ae, cosine_alphas_bar,
                                         ddim_sample, q_sample, target)
from thesis_jax.models.losses import ae_terms, reduce_terms
from thesis_jax.models.vq import apply_pending_restarts
from thesis_jax.train.ae_loop import AELoop, _mean
from thesis_jax.train.loop_api import LOOPS, EpochRecord, Loop
from thesis_jax.train.state import TrainState, init_state, make_optimizer

TERMS = ("diffusion", "rec_globals", "commit", "codebook", "recon")


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


def _check(dc):
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


@LOOPS.register("diffusion_ae")
class DiffusionLoop(AELoop):
  """Reuses AELoop's k-means codebook init (same `encode` method contract)."""
  name = "diffusion_ae"
  metric_keys = ("perplex",)

  def __init__(self, config, dataset):
    Loop.__init__(self, config)
    p, dc = config.phase1, config.phase1.diffusion
    _check(dc)
    self.model = build_diffusion_ae(p, num_types=dataset.num_types, norm=dataset.norm)
    self.tx = make_optimizer(p.trainer)
    self.is_vq = p.latent_space.name == "vq"
    self.globals_beta = float(p.decoder.globals_beta)
    self.mask_padding = bool(p.loss.mask_padding)
    self.T = int(dc.num_timesteps)
    self.ab = jnp.asarray(cosine_alphas_bar(self.T, float(dc.cosine_s)), jnp.float32)
    self.prediction = str(dc.prediction)
    self.steps = int(dc.sample_steps)
    self.clip_x0 = float(dc.clip_x0)
    self.ema_decay = float(dc.ema_decay)
    self.eval_seed = int(dc.eval_seed)
    self.bins = int(dc.loss_bins)
    self.levels = tuple(float(x) for x in dc.score_levels)
    self.train_step = self._train_step
    self.eval_step = self._eval_step
    self.score_step = self._score_step

  # ---------------------------------------------------------------- init
  def init_state(self, rng, dataset) -> TrainState:
    t = dataset.n_tokens
    cont = jnp.zeros((1, t, 4))
    ids = jnp.ones((1, t), jnp.int32)
    variables = jax.jit(self.model.init)(rng, cont, ids, cont,
                                         jnp.zeros((1,), jnp.int32))
    params = variables["params"]
    model_state = {k: v for k, v in variables.items() if k != "params"}
    return init_state(params, model_state, self.tx, extra=self._ema_init(params))

  @staticmethod
  def _ema_init(params):
    """Host copies: the EMA must not share buffers with params (donation)."""
    return {"ema": jax.tree.map(np.array, params)}

  def data_init(self, state, dataset, rng):
    state = super().data_init(state, dataset, rng)
    return state.replace(extra=self._ema_init(state.params))

  # ---------------------------------------------------------------- pieces
  def _apply(self, params, model_state, batch, x_t, t, rng, train):
    variables = {"params": params, **model_state}
    rngs = None
    if rng is not None:
      r_drop, r_vq = jax.random.split(rng)
      rngs = {"dropout": r_drop, "vq": r_vq}
    args = (batch["cont"], batch["ids"], x_t, t, batch.get("weight"))
    if train and model_state:
      return self.model.apply(variables, *args, train=True, rngs=rngs,
                              mutable=list(model_state.keys()))
    return self.model.apply(variables, *args, train=train, rngs=rngs), model_state

  def _denoise_fn(self, params, model_state, ids, z):
    variables = {"params": params, **model_state}
    return lambda x, t: self.model.apply(variables, x, t, ids, z,
                                         method=DiffusionAE.denoise)

  def _tok_w(self, ids):
    return (ids > 0).astype(jnp.float32) if self.mask_padding else jnp.ones(
        ids.shape, jnp.float32)

  def _terms(self, out, batch, tgt):
    """Per-event (num, den) terms; `diffusion` = MSE(pred, eps or v)."""
    terms = ae_terms(AEOutput(out.pred, out.globals_hat, out.z_e, out.z, out.aux),
                     dict(batch, cont=tgt), mask_padding=self.mask_padding)
    terms["diffusion"] = terms.pop("rec_tokens")
    return terms

  def _noised(self, cont, t, eps):
    return q_sample(cont, t, eps, self.ab), target(cont, eps, t, self.ab, self.prediction)

  def _reconstruct(self, params, model_state, batch, z):
    key = jax.random.fold_in(jax.random.PRNGKey(self.eval_seed), 1)
    ids = batch["ids"]
    x_T = token_noise(key, ids, batch["cont"])
    return ddim_sample(self._denoise_fn(params, model_state, ids, z), x_T,
                       self.ab, self.steps, self.prediction, self.clip_x0)

  # ---------------------------------------------------------------- steps
  def _train_step(self, state: TrainState, batch, rng):
    r_t, r_eps, r_model = jax.random.split(rng, 3)
    cont = batch["cont"]
    t = jax.random.randint(r_t, cont.shape[:1], 0, self.T)
    x_t, tgt = self._noised(cont, t, jax.random.normal(r_eps, cont.shape))

    def loss_fn(params):
      out, ms = self._apply(params, state.model_state, batch, x_t, t, r_model, True)
      vals = reduce_terms(self._terms(out, batch, tgt), batch["weight"])
      loss = vals["diffusion"] + vals["commit"] + vals["codebook"]
      if "rec_globals" in vals:
        loss = loss + self.globals_beta * vals["rec_globals"]
      p = out.aux["perplex"]
      vals["perplex"] = jnp.asarray(jnp.nan if p is None else p, jnp.float32)
      vals["objective"] = loss
      return loss, (vals, ms)

    grads, (metrics, new_ms) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    params = apply_pending_restarts(params, new_ms)
    step = state.step.astype(jnp.float32)
    d = jnp.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))   # warm-up
    ema = jax.tree.map(lambda e, q: d * e + (1.0 - d) * q, state.extra["ema"], params)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         model_state=new_ms, extra={"ema": ema}), metrics

  def _eval_step(self, state: TrainState, batch):
    """-> sums: <term>_num/_den, level_num/level_den [bins], counts, ..."""
    params, ms = state.extra["ema"], state.model_state
    cont, w = batch["cont"], batch["weight"]
    k_t, k_eps = jax.random.split(jax.random.PRNGKey(self.eval_seed))
    t = per_row(k_t, cont.shape[0], lambda k: jax.random.randint(k, (), 0, self.T))
    x_t, tgt = self._noised(cont, t, token_noise(k_eps, batch["ids"], cont))
    out, _ = self._apply(params, ms, batch, x_t, t, None, False)
    terms = self._terms(out, batch, tgt)
    x0 = self._reconstruct(params, ms, batch, out.z)
    tok_w = self._tok_w(batch["ids"])
    terms["recon"] = ((jnp.mean((x0 - cont) ** 2, -1) * tok_w).sum(-1), tok_w.sum(-1))
    sums = {}
    for k, (n, d) in terms.items():
      sums[k + "_num"] = (w * n).sum()
      sums[k + "_den"] = (w * d).sum()
    b = (t * self.bins) // self.T
    n, d = terms["diffusion"]
    sums["level_num"] = jax.ops.segment_sum(w * n, b, num_segments=self.bins)
    sums["level_den"] = jax.ops.segment_sum(w * d, b, num_segments=self.bins)
    p = out.aux["perplex"]
    sums["perplex_w"] = (jnp.zeros(()) if p is None else p) * w.sum()
    sums["counts"] = out.aux["counts"]
    sums["events"] = w.sum()
    return sums

  def reconstruct(self, state: TrainState, batch):
    """DDIM reconstruction with the EMA weights from fixed noise ->
    (x_hat [B,T,C], globals_hat [B,G] or None), normalised units (used by
    the `recon` and `diffusion` plot families)."""
    return self._recon_z(state, batch)[:2]

  def _recon_z(self, state, batch):
    """-> (x_hat, globals_hat, z [B,T,D])."""
    params, ms = state.extra["ema"], state.model_state
    _, z, _, g_hat = self.model.apply({"params": params, **ms}, batch["cont"],
                                      batch["ids"], train=False,
                                      method=DiffusionAE.latent)
    return self._reconstruct(params, ms, batch, z), g_hat, z

  def _score_step(self, state: TrainState, batch) -> Dict:
    """Per-event scores [B] (EMA weights, fixed noise): the `event_errors`
    keys from the DDIM reconstruction, plus `denoise_loss` = the denoising
    loss averaged over the fixed noise levels `score_levels`."""
    params, ms = state.extra["ema"], state.model_state
    cont, ids = batch["cont"], batch["ids"]
    x_hat, g_hat, z = self._recon_z(state, batch)
    diff = x_hat - cont
    real = (ids > 0).astype(diff.dtype)
    n_real = jnp.maximum(real.sum(-1), 1.0)
    res = {"mse": jnp.mean(diff ** 2, axis=(1, 2)),
           "mae": jnp.mean(jnp.abs(diff), axis=(1, 2)),
           "mse_real": (jnp.mean(diff ** 2, -1) * real).sum(-1) / n_real,
           "mae_real": (jnp.mean(jnp.abs(diff), -1) * real).sum(-1) / n_real}
    res["mse_globals"] = (jnp.mean((g_hat - batch["globals"]) ** 2, -1)
                          if g_hat is not None else jnp.full(ids.shape[:1], jnp.nan))
    res["loss"] = res["mse"] + jnp.nan_to_num(res["mse_globals"])
    k_eps = jax.random.fold_in(jax.random.PRNGKey(self.eval_seed), 2)
    den_fn = self._denoise_fn(params, ms, ids, z)
    tok_w = self._tok_w(ids)
    losses = []
    for i, frac in enumerate(self.levels):
      t = jnp.full(ids.shape[:1], int(round(frac * (self.T - 1))), jnp.int32)
      x_t, tgt = self._noised(cont, t, token_noise(jax.random.fold_in(k_eps, i),
                                                   ids, cont))
      err = jnp.mean((den_fn(x_t, t) - tgt) ** 2, -1)
      losses.append((err * tok_w).sum(-1) / jnp.maximum(tok_w.sum(-1), 1.0))
    res["denoise_loss"] = jnp.mean(jnp.stack(losses), 0)
    return res

  # ---------------------------------------------------------------- host side
  def _finalize(self, sums) -> Dict:
    out = {}
    for k in TERMS:
      out[k] = (float(sums[k + "_num"]) / max(float(sums[k + "_den"]), 1e-12)
                if k + "_num" in sums else None)
    ev = max(float(sums["events"]), 1.0)
    out["perplex"] = float(sums["perplex_w"]) / ev if self.is_vq else None
    out["code_usage"] = int((np.asarray(sums["counts"]) > 0).sum()) if self.is_vq else None
    if not self.is_vq:
      out["commit"] = out["codebook"] = None
    num, den = np.asarray(sums["level_num"]), np.asarray(sums["level_den"])
    out["loss_vs_t"] = [float(a / b) if b > 0 else None for a, b in zip(num, den)]
    return out

  def record(self, train_metrics, val_sums) -> EpochRecord:
    val = self._finalize(val_sums)
    train_loss = _mean(train_metrics["diffusion"])
    hist = {"train_loss": train_loss, "val_loss": val["diffusion"],
            "rec_tokens": val["recon"], "rec_globals": val["rec_globals"],
            "codebook": val["codebook"], "perplex": val["perplex"],
            "diffusion_loss": val["diffusion"], "recon_mse": val["recon"],
            "commit": val["commit"], "code_usage": val["code_usage"],
            "train_objective": _mean(train_metrics["objective"])}
    centres = [(i + 0.5) / self.bins for i in range(self.bins)]
    extra = {"diffusion_loss_vs_t": {"t_frac": centres, "loss": val["loss_vs_t"]}}
    if self.is_vq:
      extra["code_counts"] = np.asarray(val_sums["counts"]).astype(int).tolist()
    return EpochRecord(train_loss, val["diffusion"], {"perplex": val["perplex"]},
                       hist, extra)

  def test_metrics(self, test_sums) -> Dict[str, float]:
    t = self._finalize(test_sums)
    out = {"test_loss": t["diffusion"], "test_recon_mse": t["recon"],
           "test_rec_tokens": t["recon"]}
    for k in ("rec_globals", "commit", "codebook", "perplex"):
      if t[k] is not None:
        out[f"test_{k}"] = t[k]
    return out
