"""The autoencoder loop (`loop = ae`): the thesis model trained on MSE.

Objective per batch: rec_tokens + commit + codebook + globals_beta *
rec_globals (weighted means over real events, `models/losses.py`). Validation
and test report the same terms over the whole split, plus VQ perplexity and
code usage. Scores: `loop_parts.event_errors` of the reconstruction.

Every step also takes a packed batch (`data.packing`: real tokens only, no
padding compute; `models.packed`), with the same numbers as the dense batch.
"""
from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp

from thesis_jax.data.packing import is_packed
from thesis_jax.models import build_autoencoder
from thesis_jax.models.losses import ae_terms, reduce_terms, total_loss
from thesis_jax.models.packed import (packed_event_errors, packed_forward,
                                      packed_terms, unpack_rows)
from thesis_jax.train import loop_parts as parts, padding_free
from thesis_jax.train.loop_api import EpochRecord, Loop
from thesis_jax.train.state import init_state, make_optimizer

TERMS = ("rec_tokens", "rec_globals", "commit", "codebook")


def check(config) -> None:
  """Nothing beyond the shared checks (`config_check.validate_config`)."""


# ------------------------------------------------------------------ pure steps
def forward(model, params, model_state, batch, rng, train: bool):
  """-> (AEOutput, new model_state); a packed batch's AEOutput holds packed
  rows (read it with `terms` / `score_step`)."""
  if is_packed(batch):
    return parts.apply_model(model, params, model_state, (batch,), rng, train,
                             method=packed_forward)
  return parts.apply_model(model, params, model_state,
                           (batch["cont"], batch["ids"], batch.get("weight")),
                           rng, train)


def terms(out, batch, *, mask_padding: bool):
  """Per-event (num [B], den [B]) loss terms of a dense or packed batch."""
  fn = packed_terms if is_packed(batch) else ae_terms
  return fn(out, batch, mask_padding=mask_padding)


def batch_metrics(out, batch, *, globals_beta, mask_padding) -> Dict:
  """Weighted batch means of the terms, `loss` and `perplex` (scalars)."""
  vals = reduce_terms(terms(out, batch, mask_padding=mask_padding),
                      batch["weight"])
  vals["loss"] = total_loss(vals, globals_beta)
  vals["perplex"] = parts.batch_perplexity(out.aux)
  return vals


def train_step(model, tx, state, batch, rng, *, globals_beta, mask_padding):
  def loss_fn(params):
    out, new_ms = forward(model, params, state.model_state, batch, rng, True)
    m = batch_metrics(out, batch, globals_beta=globals_beta,
                      mask_padding=mask_padding)
    return m["loss"], (m, new_ms)
  grads, (metrics, new_ms) = jax.grad(loss_fn, has_aux=True)(state.params)
  return parts.apply_gradients(state, tx, grads, new_ms), metrics


def eval_step(model, state, batch, *, mask_padding) -> Dict:
  """-> sums: `<term>_num/_den` per loss term, `counts` [K] code usage,
  `perplex_w` (batch perplexity x events), `events`."""
  out, _ = forward(model, state.params, state.model_state, batch, None, False)
  w = batch["weight"]
  sums = parts.term_sums(terms(out, batch, mask_padding=mask_padding), w)
  sums.update(parts.code_sums(out.aux, w))
  return sums


def reconstruct(model, state, batch):
  """Dense or packed batch -> (x_hat [B,T,C], globals_hat [B,G] or None)."""
  out, _ = forward(model, state.params, state.model_state, batch, None, False)
  if is_packed(batch):
    return unpack_rows(out.x_hat, batch), out.globals_hat
  return out.x_hat, out.globals_hat


def score_step(model, state, batch) -> Dict:
  out, _ = forward(model, state.params, state.model_state, batch, None, False)
  if is_packed(batch):
    return packed_event_errors(out, batch)
  return parts.event_errors(out.x_hat, out.globals_hat, batch)


# ------------------------------------------------------------------ host side
def finalize(sums, *, globals_beta, is_vq) -> Dict:
  """Split totals -> {loss, rec_tokens, rec_globals, commit, codebook,
  perplex, code_usage} as floats (None where a term does not exist)."""
  out = parts.finalize_terms(sums, TERMS)
  out["loss"] = total_loss(out, globals_beta)
  out.update(parts.finalize_codes(sums, is_vq))
  return out


def record(train_metrics, val_sums, *, globals_beta, is_vq,
           original_facts: bool = False) -> EpochRecord:
  """original_facts (`logging.facts_semantics=original`): the history's
  rec_globals is globals_beta x mse, as thesis-ml logs it (readers convert),
  and a model without codebook logs perplexity 0 (thesis-ml's), not empty."""
  val = finalize(val_sums, globals_beta=globals_beta, is_vq=is_vq)
  if original_facts and not is_vq:
    val["perplex"] = 0.0
  train_loss = parts.host_mean(train_metrics["loss"])
  rec_globals = val["rec_globals"]
  if original_facts and rec_globals is not None:
    rec_globals = globals_beta * rec_globals
  train_perplex = (parts.host_mean(train_metrics["perplex"]) if is_vq
                   else val["perplex"])
  hist = {"train_loss": train_loss, "val_loss": val["loss"],
          "rec_tokens": val["rec_tokens"], "rec_globals": rec_globals,
          "codebook": val["codebook"], "perplex": val["perplex"],
          "commit": val["commit"], "code_usage": val["code_usage"],
          "train_perplex": train_perplex}
  extra = {"code_counts": parts.code_counts(val_sums)} if is_vq else {}
  return EpochRecord(train_loss, val["loss"], {"perplex": val["perplex"]},
                     hist, extra, train_metrics={"perplex": train_perplex})


def test_metrics(test_sums, *, globals_beta, is_vq) -> Dict[str, float]:
  t = finalize(test_sums, globals_beta=globals_beta, is_vq=is_vq)
  out = {"test_loss": t["loss"]}
  out.update({f"test_{k}": v for k, v in t.items()
              if k != "loss" and v is not None})
  return out


def build(config, dataset) -> Loop:
  p = config.phase1
  model = build_autoencoder(p, num_types=dataset.num_types, norm=dataset.norm)
  tx = make_optimizer(p.trainer)
  gb, is_vq = float(p.decoder.globals_beta), p.latent_space.name == "vq"
  mask = bool(p.loss.mask_padding)
  orig = config.logging.get("facts_semantics", "thesis_jax") == "original"

  def init(rng, ds):
    t = ds.n_tokens
    params, ms = parts.init_variables(model, rng, jnp.zeros((1, t, 4)),
                                      jnp.ones((1, t), jnp.int32),
                                      init=str(p.get("init", "default")))
    return init_state(params, ms, tx)

  packer, compute = padding_free.choose(config)
  return Loop(
      name="ae", packer=packer, compute=compute, config=config, model=model, init_state=init,
      data_init=lambda st, ds, rng: parts.kmeans_codebook(
          model, st, ds, rng, p.latent_space),
      train_step=lambda st, b, rng: train_step(
          model, tx, st, b, rng, globals_beta=gb, mask_padding=mask),
      eval_step=lambda st, b: eval_step(model, st, b, mask_padding=mask),
      score_step=lambda st, b: score_step(model, st, b),
      reconstruct=lambda st, b: reconstruct(model, st, b),
      record=lambda tm, vs: record(tm, vs, globals_beta=gb, is_vq=is_vq,
                                   original_facts=orig),
      test_metrics=lambda ts: test_metrics(ts, globals_beta=gb, is_vq=is_vq))
