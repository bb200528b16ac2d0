"""Pure train/eval steps of the autoencoder loop (`loop = ae`).

`train_step(state, batch, rng) -> (state, metrics)` and
`eval_step(params, model_state, batch) -> sums` are pure; `scan.py` runs many
of them per dispatch.

batch: {"ids" int32 [B,T], "cont" f32 [B,T,C], "globals" f32 [B,G],
        "weight" f32 [B] (1 = real event, 0 = batch padding)}.
"""
from __future__ import annotations

from typing import Callable, Dict

import jax
import jax.numpy as jnp
import optax

from thesis_jax.data.packing import is_packed
from thesis_jax.models.losses import ae_terms, reduce_terms, total_loss
from thesis_jax.models.packed import (apply_packed, packed_event_errors,
                                      packed_terms)
from thesis_jax.models.vq import apply_pending_restarts
from thesis_jax.train.state import TrainState

TERMS = ("rec_tokens", "rec_globals", "commit", "codebook")


def apply_model(model, params, model_state, batch, rng, train: bool):
  """Forward pass -> (AEOutput, new model_state).

  A packed batch (`data.packing`) runs padding-free (`models.packed`); its
  AEOutput holds packed rows, so read it with `terms`/`event_errors`.
  """
  if is_packed(batch):
    return apply_packed(model, params, model_state, batch, rng, train)
  variables = {"params": params, **model_state}
  rngs = None
  if rng is not None:
    r_drop, r_vq = jax.random.split(rng)
    rngs = {"dropout": r_drop, "vq": r_vq}
  args = (batch["cont"], batch["ids"], batch.get("weight"))
  if train and model_state:
    return model.apply(variables, *args, train=True, rngs=rngs,
                       mutable=list(model_state.keys()))
  return model.apply(variables, *args, train=train, rngs=rngs), model_state


def terms(out, batch, *, mask_padding: bool):
  """Per-event loss terms of a dense or packed batch (`losses.ae_terms`)."""
  fn = packed_terms if is_packed(batch) else ae_terms
  return fn(out, batch, mask_padding=mask_padding)


def batch_metrics(out, batch, *, globals_beta, mask_padding) -> Dict:
  vals = reduce_terms(terms(out, batch, mask_padding=mask_padding),
                      batch["weight"])
  vals["loss"] = total_loss(vals, globals_beta)
  p = out.aux["perplex"]
  vals["perplex"] = jnp.asarray(jnp.nan if p is None else p, jnp.float32)
  return vals


def make_train_step(model, tx: optax.GradientTransformation, *,
                    globals_beta: float, mask_padding: bool) -> Callable:
  def loss_fn(params, model_state, batch, rng):
    out, new_ms = apply_model(model, params, model_state, batch, rng, True)
    m = batch_metrics(out, batch, globals_beta=globals_beta,
                      mask_padding=mask_padding)
    return m["loss"], (m, new_ms)

  def train_step(state: TrainState, batch, rng):
    grads, (metrics, new_ms) = jax.grad(loss_fn, has_aux=True)(
        state.params, state.model_state, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    params = apply_pending_restarts(params, new_ms)
    return state.replace(step=state.step + 1, params=params,
                         opt_state=opt_state, model_state=new_ms), metrics
  return train_step


def make_eval_step(model, *, globals_beta: float, mask_padding: bool) -> Callable:
  """-> eval_step(params, model_state, batch) -> dict of split-summable sums.

  Sums: `<term>_num`, `<term>_den` per loss term, `counts` [K] code usage,
  `perplex_w` (batch perplexity x events), `events`.
  """
  del globals_beta

  def eval_step(params, model_state, batch):
    out, _ = apply_model(model, params, model_state, batch, None, False)
    w = batch["weight"]
    sums = {}
    for k, (n, d) in terms(out, batch, mask_padding=mask_padding).items():
      sums[k + "_num"] = (w * n).sum()
      sums[k + "_den"] = (w * d).sum()
    p = out.aux["perplex"]
    sums["perplex_w"] = (jnp.zeros(()) if p is None else p) * w.sum()
    sums["counts"] = out.aux["counts"]
    sums["events"] = w.sum()
    return sums
  return eval_step


def finalize_eval(sums: Dict, *, globals_beta: float, is_vq: bool) -> Dict[str, float]:
  """Split totals -> {loss, rec_tokens, rec_globals, commit, codebook, perplex,
  code_usage} as Python floats (None where a term does not exist)."""
  out = {}
  for t in TERMS:
    if t + "_num" in sums:
      out[t] = float(sums[t + "_num"]) / max(float(sums[t + "_den"]), 1e-12)
    else:
      out[t] = None
  loss = out["rec_tokens"] + out["commit"] + out["codebook"]
  if out["rec_globals"] is not None:
    loss += globals_beta * out["rec_globals"]
  out["loss"] = loss
  ev = max(float(sums["events"]), 1.0)
  out["perplex"] = float(sums["perplex_w"]) / ev if is_vq else None
  out["code_usage"] = int((jnp.asarray(sums["counts"]) > 0).sum()) if is_vq else None
  return out


def event_errors(model, params, model_state, batch) -> Dict:
  """Per-event reconstruction errors [B] on normalised features.

  mse/mae over all token slots and over real tokens only (`*_real`), plus
  `mse_globals` (NaN without a globals head) and `loss` (the training
  objective per event, globals weighted 1).
  """
  out, _ = apply_model(model, params, model_state, batch, None, False)
  if is_packed(batch):
    return packed_event_errors(out, batch)
  diff = out.x_hat - batch["cont"]
  real = (batch["ids"] > 0).astype(diff.dtype)
  n_real = jnp.maximum(real.sum(-1), 1.0)
  res = {
      "mse": jnp.mean(diff ** 2, axis=(1, 2)),
      "mae": jnp.mean(jnp.abs(diff), axis=(1, 2)),
      "mse_real": (jnp.mean(diff ** 2, -1) * real).sum(-1) / n_real,
      "mae_real": (jnp.mean(jnp.abs(diff), -1) * real).sum(-1) / n_real,
  }
  if out.globals_hat is not None:
    res["mse_globals"] = jnp.mean((out.globals_hat - batch["globals"]) ** 2, -1)
  else:
    res["mse_globals"] = jnp.full(diff.shape[:1], jnp.nan)
  res["loss"] = res["mse"] + jnp.nan_to_num(res["mse_globals"])
  return res
