"""Adversarial losses by name (`gan.loss`) and the R1 gradient penalty.

Each loss maps discriminator outputs (raw scores, "logits") to per-event
values; `weighted_mean` reduces them with the batch's event weights (0 for
batch padding rows).

  name            discriminator per event             generator per event
  non_saturating  softplus(-r) + softplus(f)          softplus(-f)
                  (= -log s(r) - log(1 - s(f)))       (= -log s(f))
  hinge           relu(1 - r) + relu(1 + f)           -f
  least_squares   ((r - 1)^2 + f^2) / 2               (f - 1)^2 / 2

r: score of a real event, f: score of a fake (reconstructed or generated)
event, s: the logistic sigmoid.
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple

import jax
import jax.numpy as jnp



class AdversarialLoss(NamedTuple):
  d_loss: Callable   # (real [B], fake [B]) -> [B]
  g_loss: Callable   # (fake [B]) -> [B]


ADV_LOSSES: Dict[str, AdversarialLoss] = {
    "non_saturating": AdversarialLoss(
        lambda r, f: jax.nn.softplus(-r) + jax.nn.softplus(f),
        lambda f: jax.nn.softplus(-f)),
    "hinge": AdversarialLoss(
        lambda r, f: jax.nn.relu(1.0 - r) + jax.nn.relu(1.0 + f),
        lambda f: -f),
    "least_squares": AdversarialLoss(
        lambda r, f: 0.5 * ((r - 1.0) ** 2 + f ** 2),
        lambda f: 0.5 * (f - 1.0) ** 2),
}


def weighted_mean(x, weight):
  """sum(w x) / max(sum(w), eps): x, weight [B] -> scalar."""
  return (weight * x).sum() / jnp.maximum(weight.sum(), 1e-12)


def r1_per_event(score_fn: Callable, cont, globals_):
  """Squared gradient norm of each event's score w.r.t. its own inputs.

  score_fn(cont [B,T,C], globals [B,G]) -> [B], one score per event that
  depends on that event only (no batch statistics), so the gradient of the
  batch sum holds every event's own gradient. Returns
  ||d score_b / d cont_b||^2 + ||d score_b / d globals_b||^2, [B].
  Padding tokens are inputs too, but a masked discriminator ignores them, so
  their gradient is 0.
  """
  gc, gg = jax.grad(lambda c, g: score_fn(c, g).sum(), argnums=(0, 1))(
      cont, globals_)
  return (gc ** 2).sum(axis=(1, 2)) + (gg ** 2).sum(axis=-1)


def r1_penalty(score_fn: Callable, cont, globals_, weight):
  """R1 (Mescheder et al. 2018) on real data: E_w ||grad_x D(x)||^2.

  The caller scales it by gamma / 2.
  """
  return weighted_mean(r1_per_event(score_fn, cont, globals_), weight)
