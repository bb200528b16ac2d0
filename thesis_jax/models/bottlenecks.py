"""Identity (`none`) and learned linear (`linear`) bottlenecks."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp



def _no_vq_aux(z):
  zeros = jnp.zeros(z.shape[:-1], z.dtype)
  return {"commit_tok": zeros, "codebook_tok": zeros,
          "counts": jnp.zeros((0,), z.dtype), "perplex": None, "indices": None}


class Identity(nn.Module):
  """z = z_e."""

  @nn.compact
  def __call__(self, z_e, mask, *, train: bool = False, sample_index=None,
               present=None):
    return z_e, _no_vq_aux(z_e)


class Linear(nn.Module):
  """z = W z_e + b, token-wise, D -> D."""
  dim: int

  @nn.compact
  def __call__(self, z_e, mask, *, train: bool = False, sample_index=None,
               present=None):
    return nn.Dense(self.dim, name="proj")(z_e), _no_vq_aux(z_e)


def build_identity(cfg, *, latent_dim):
  return Identity()


def build_linear(cfg, *, latent_dim):
  return Linear(dim=latent_dim)
