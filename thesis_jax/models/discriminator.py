"""Permutation-invariant discriminator over an event's token set.

Deep-sets style with interaction layers: tokens are embedded from
concat(cont [B,T,C], Embed(ids)); each layer adds an MLP of
concat(h_i, mean over the event's real tokens of h) to h_i (pre-norm
residual); then masked mean and max pooling over real tokens, the embedded
globals and the real-token fraction go through an MLP to one score per event.
Padding slots (id 0) never enter a pool, so their features do not matter, and
nothing mixes events, so each score depends on its own event only (required
by the R1 penalty).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from thesis_jax.models.layers import ACTIVATIONS, MLP

NEG = -1e9


def masked_mean(h, mask):
  """h [B,T,H], mask [B,T] bool -> [B,H] mean over real tokens (0 if none)."""
  m = mask[..., None].astype(h.dtype)
  return (h * m).sum(1) / jnp.maximum(m.sum(1), 1.0)


def masked_max(h, mask):
  """h [B,T,H], mask [B,T] bool -> [B,H] max over real tokens (0 if none)."""
  mx = jnp.where(mask[..., None], h, NEG).max(1)
  return jnp.where(mask.any(1)[:, None], mx, 0.0)


class SetDiscriminator(nn.Module):
  """(cont [B,T,C] normalised, ids [B,T], globals [B,G]) -> score [B]."""
  num_types: int
  hidden: int = 64
  layers: int = 2
  id_embed_dim: int = 8
  activation: str = "leaky_relu"

  @nn.compact
  def __call__(self, cont, ids, globals_):
    act = ACTIVATIONS[self.activation]
    mask = ids > 0
    emb = nn.Embed(self.num_types, self.id_embed_dim, name="id_embed")(ids)
    h = nn.Dense(self.hidden, name="embed")(
        jnp.concatenate([cont, emb.astype(cont.dtype)], -1))
    for i in range(self.layers):
      x = nn.LayerNorm(name=f"ln_{i}")(h)
      ctx = jnp.broadcast_to(masked_mean(x, mask)[:, None], x.shape)
      h = h + MLP((self.hidden,), self.hidden, self.activation,
                  name=f"set_{i}")(jnp.concatenate([x, ctx], -1))
    h = act(h)
    frac = mask.mean(-1, keepdims=True).astype(cont.dtype)
    g = act(nn.Dense(self.hidden, name="globals")(globals_))
    pooled = jnp.concatenate([masked_mean(h, mask), masked_max(h, mask), g,
                              frac], -1)
    return MLP((self.hidden,), 1, self.activation, name="head")(pooled)[:, 0]


def build_discriminator(gan_cfg, *, num_types: int) -> SetDiscriminator:
  """From the `gan` config block (d_hidden, d_layers, d_activation)."""
  return SetDiscriminator(num_types=num_types, hidden=int(gan_cfg.d_hidden),
                          layers=int(gan_cfg.d_layers),
                          activation=str(gan_cfg.d_activation))
