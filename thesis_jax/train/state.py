"""Train state as a plain pytree, and the optimizer from `phase1.trainer`."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """step: int32 scalar; params/opt_state/model_state: pytrees.

  model_state holds the mutable collections (e.g. {"vq_stats": ...}).
  `extra` holds loop-specific pytrees (discriminator, EMA weights, ...).
  """
  step: Any
  params: Any
  opt_state: Any
  model_state: Any
  extra: Any = None


def make_optimizer(trainer_cfg) -> optax.GradientTransformation:
  """torch.optim.Adam semantics: clip global norm, L2 weight decay added to
  the gradient (coupled, not AdamW), then Adam."""
  parts = []
  if float(trainer_cfg.grad_clip) > 0:
    parts.append(optax.clip_by_global_norm(float(trainer_cfg.grad_clip)))
  if float(trainer_cfg.weight_decay) > 0:
    parts.append(optax.add_decayed_weights(float(trainer_cfg.weight_decay)))
  parts += [optax.scale_by_adam(eps=1e-8),
            optax.scale_by_learning_rate(float(trainer_cfg.lr))]
  return optax.chain(*parts)


def init_state(params, model_state, tx, extra=None) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params), model_state=model_state,
                    extra=extra)
