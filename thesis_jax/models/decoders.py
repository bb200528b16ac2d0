"""Token-wise MLP decoder with the optional globals head (thesis default)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from thesis_jax.models.layers import MLP
from thesis_jax.models.registry import DECODERS


class GlobalsHead(nn.Module):
  """mean over tokens of z [B,T,D] -> MLP -> globals_hat [B,G]."""
  hidden: Sequence[int] = (32,)
  out_dim: int = 2
  activation: str = "gelu"

  @nn.compact
  def __call__(self, z, *, train: bool = False):
    # The original pools over all slots, padding included.
    return MLP(tuple(self.hidden), self.out_dim, self.activation,
               name="mlp")(z.mean(axis=1), train=train)


class MLPDecoder(nn.Module):
  """z [B,T,D] -> MLP -> x_hat [B,T,C]; plus globals_hat [B,G] if enabled."""
  cont_dim: int = 4
  num_globals: int = 2
  hidden: Sequence[int] = (128, 128)
  activation: str = "gelu"
  dropout: float = 0.0
  globals_head: bool = True
  globals_hidden: Sequence[int] = (32,)

  @nn.compact
  def __call__(self, z, mask=None, *, train: bool = False):
    x_hat = MLP(tuple(self.hidden), self.cont_dim, self.activation,
                self.dropout, name="mlp")(z, train=train)
    g_hat = None
    if self.globals_head:
      g_hat = GlobalsHead(tuple(self.globals_hidden), self.num_globals,
                          self.activation, name="globals_head")(z, train=train)
    return x_hat, g_hat


@DECODERS.register("mlp")
def build_mlp(cfg, *, latent_dim, cont_dim=4, num_globals=2, norm=None):
  return MLPDecoder(cont_dim=cont_dim, num_globals=num_globals,
                    hidden=tuple(cfg.dec_hidden), activation=cfg.activation,
                    dropout=float(cfg.dropout),
                    globals_head=bool(cfg.globals_head),
                    globals_hidden=tuple(cfg.globals_hidden))
