"""Pure steps of the token prior (`loop = token_prior`).

batch: {"seq" int32 [B, L] token sequences (data/token_sequences.py),
        "weight" f32 [B] (1 = real event, 0 = batch padding)}.
The training objective is the mean NLL per counted target token (nats).
"""
from __future__ import annotations

from typing import Callable, Dict

import jax
import jax.numpy as jnp
import optax

from thesis_jax.models.prior import sequence_nll
from thesis_jax.train.state import TrainState


def _forward(model, params, batch, rng, obj_offset, train):
  rngs = {"dropout": rng} if rng is not None else None
  logits = model.apply({"params": params}, batch["seq"][:, :-1], train=train,
                       rngs=rngs)
  return sequence_nll(logits, batch["seq"], obj_offset)


def make_train_step(model, tx: optax.GradientTransformation,
                    obj_offset: int) -> Callable:
  """-> train_step(state, batch, rng) -> (state, {"loss", "acc"})."""
  def loss_fn(params, batch, rng):
    out = _forward(model, params, batch, rng, obj_offset, True)
    w = batch["weight"]
    n = jnp.maximum((w * out["n"]).sum(), 1.0)
    loss = (w * out["nll"]).sum() / n
    return loss, {"loss": loss, "acc": (w * out["correct"]).sum() / n}

  def train_step(state: TrainState, batch, rng):
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(step=state.step + 1,
                         params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state), metrics
  return train_step


def make_eval_step(model, obj_offset: int) -> Callable:
  """-> eval_step(state, batch) -> split-summable sums {nll, n, correct,
  nll_globals, events}."""
  def eval_step(state, batch):
    out = _forward(model, state.params, batch, None, obj_offset, False)
    w = batch["weight"]
    return {"nll": (w * out["nll"]).sum(), "n": (w * out["n"]).sum(),
            "correct": (w * out["correct"]).sum(),
            "nll_globals": (w * out["nll_globals"]).sum(), "events": w.sum()}
  return eval_step


def finalize(sums: Dict) -> Dict[str, float]:
  """Split sums -> {nll (per token), accuracy, perplexity, nll_event,
  nll_globals_event}."""
  n = max(float(sums["n"]), 1.0)
  ev = max(float(sums["events"]), 1.0)
  nll = float(sums["nll"]) / n
  return {"nll": nll, "accuracy": float(sums["correct"]) / n,
          "perplexity": float(jnp.exp(nll)), "nll_event": float(sums["nll"]) / ev,
          "nll_globals_event": float(sums["nll_globals"]) / ev}


def make_score_step(model, obj_offset: int) -> Callable:
  """-> score_step(state, batch) -> per-event anomaly scores [B]:
  prior_nll (total, nats), prior_nll_token (per counted token),
  prior_nll_globals (MET + MET-phi tokens only)."""
  def score_step(state, batch):
    out = _forward(model, state.params, batch, None, obj_offset, False)
    return {"prior_nll": out["nll"],
            "prior_nll_token": out["nll"] / jnp.maximum(out["n"], 1.0),
            "prior_nll_globals": out["nll_globals"]}
  return score_step
