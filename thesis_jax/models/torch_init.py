"""PyTorch's default initialisation, applied to an initialised flax model.

`phase1.init = "torch"` (the original mode) redraws, with the same
distributions as torch (the random streams of course differ):
- every dense layer (a `kernel` [..., in, out] with its `bias`): weights and
  biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (nn.Linear's kaiming_uniform with
  a=sqrt(5), and its bias rule), fan_in = prod(kernel.shape[:-1]);
- a VQ codebook: N(0, 1) (nn.Embedding's default); with EMA also the EMA
  weight sum `ema_w` from a separate N(0, 1) draw and the raw count at 0.
Embedding tables (`id_embed`) are N(0, 1) already in both; any other
parameter (norm scales, ...) keeps its flax initialisation.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from thesis_jax.errors import ConfigError

INITS = ("default", "torch")


def _redraw(tree, key):
  if not isinstance(tree, dict):
    return tree
  out = {}
  names = sorted(tree)
  keys = jax.random.split(key, len(names) + 1)
  for name, k in zip(names, keys[1:]):
    out[name] = _redraw(tree[name], k)
  if "kernel" in tree and getattr(tree["kernel"], "ndim", 0) >= 2:
    kern = tree["kernel"]
    fan_in = 1
    for s in kern.shape[:-1]:
      fan_in *= int(s)
    bound = 1.0 / jnp.sqrt(float(fan_in))
    kw, kb = jax.random.split(keys[0])
    out["kernel"] = jax.random.uniform(kw, kern.shape, kern.dtype, -bound, bound)
    if "bias" in tree:
      b = tree["bias"]
      out["bias"] = jax.random.uniform(kb, b.shape, b.dtype, -bound, bound)
  if "codebook" in tree and "kernel" not in tree:
    cb = tree["codebook"]
    out["codebook"] = jax.random.normal(keys[0], cb.shape, cb.dtype)
  return out


def torch_style_init(rng, params, model_state):
  """(params, model_state) -> the same trees redrawn as torch would init them."""
  kp, ks = jax.random.split(rng)
  params = _redraw(params, kp)
  vq = model_state.get("vq_stats", {}).get("bottleneck")
  if vq is not None and "ema_w" in vq:
    kc, kw = jax.random.split(ks)
    vq = dict(vq,
              codebook=jax.random.normal(kc, vq["codebook"].shape, vq["codebook"].dtype),
              ema_w=jax.random.normal(kw, vq["ema_w"].shape, vq["ema_w"].dtype),
              cluster_size=jnp.zeros_like(vq["cluster_size"]))
    model_state = dict(model_state,
                       vq_stats=dict(model_state["vq_stats"], bottleneck=vq))
  return params, model_state


def apply_init(name: str, rng, params, model_state):
  """`phase1.init` by name: default (flax's own) or torch."""
  if name == "default":
    return params, model_state
  if name == "torch":
    return torch_style_init(rng, params, model_state)
  raise ConfigError(f"phase1.init: unknown '{name}' (valid: {', '.join(INITS)})")
