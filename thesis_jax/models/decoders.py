"""Token-wise MLP decoder with the optional globals head (thesis default)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from thesis_jax.models.layers import MLP


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


def globals_prediction(decoder, z, *, train: bool):
  """The decoder's globals head on z [B,T,D] -> [B,G], or None if disabled.

  Call inside a decoder's compact `__call__`; reads its `globals_head`,
  `globals_hidden`, `num_globals` and `activation` fields. A padding-free
  caller passes its per-event token means as z [B,1,D].
  """
  if not decoder.globals_head:
    return None
  return GlobalsHead(tuple(decoder.globals_hidden), decoder.num_globals,
                     decoder.activation, name="globals_head")(z, train=train)


class MLPDecoder(nn.Module):
  """z [B,T,D] -> MLP -> x_hat [B,T,C]; plus globals_hat [B,G] if enabled.

  Token-wise, so z may be any [..., D] (packed tokens [N, D]) when `pooled`
  [B, D], the per-event mean of z over all T slots, feeds the globals head.
  """
  cont_dim: int = 4
  num_globals: int = 2
  hidden: Sequence[int] = (128, 128)
  activation: str = "gelu"
  dropout: float = 0.0
  globals_head: bool = True
  globals_hidden: Sequence[int] = (32,)

  @nn.compact
  def __call__(self, z, mask=None, *, train: bool = False, pooled=None):
    x_hat = MLP(tuple(self.hidden), self.cont_dim, self.activation,
                self.dropout, name="mlp")(z, train=train)
    pool_in = z if pooled is None else pooled[:, None]   # mean of 1 slot = itself
    return x_hat, globals_prediction(self, pool_in, train=train)


def build_mlp(cfg, *, latent_dim, cont_dim=4, num_globals=2, norm=None):
  return MLPDecoder(cont_dim=cont_dim, num_globals=num_globals,
                    hidden=tuple(cfg.dec_hidden), activation=cfg.activation,
                    dropout=float(cfg.dropout),
                    globals_head=bool(cfg.globals_head),
                    globals_hidden=tuple(cfg.globals_hidden))
