"""Token-wise MLP encoder (the thesis default)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from thesis_jax.models.layers import MLP


class MLPEncoder(nn.Module):
  """concat(cont [B,T,4], Embed(ids) [B,T,E]) -> MLP -> z_e [B,T,D]."""
  num_types: int
  latent_dim: int
  hidden: Sequence[int] = (128, 128)
  id_embed_dim: int = 8
  activation: str = "gelu"
  dropout: float = 0.0

  @nn.compact
  def __call__(self, cont, ids, *, train: bool = False):
    table = self.param("id_embed", nn.initializers.normal(1.0),
                       (self.num_types, self.id_embed_dim), cont.dtype)
    # one_hot @ table instead of a gather: its gradient is a small matmul,
    # not a scatter-add (slow on XLA:CPU); num_types is tiny.
    emb = jax.nn.one_hot(ids, self.num_types, dtype=cont.dtype) @ table
    x = jnp.concatenate([cont, emb], axis=-1)
    return MLP(tuple(self.hidden), self.latent_dim, self.activation,
               self.dropout, name="mlp")(x, train=train)


def build_mlp(cfg, *, num_types, latent_dim, norm=None):
  return MLPEncoder(num_types=num_types, latent_dim=latent_dim,
                    hidden=tuple(cfg.enc_hidden),
                    id_embed_dim=int(cfg.id_embed_dim),
                    activation=cfg.activation, dropout=float(cfg.dropout))
