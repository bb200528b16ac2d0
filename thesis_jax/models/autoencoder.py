"""Assembly: encoder -> bottleneck -> decoder, built from `config.phase1`."""
from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax.numpy as jnp

from thesis_jax.models.components import build_bottleneck, build_decoder, build_encoder


class AEOutput(NamedTuple):
  x_hat: Any            # [B,T,C] reconstructed (normalised) features
  globals_hat: Any      # [B,G] or None
  z_e: Any              # [B,T,D] encoder output
  z: Any                # [B,T,D] bottleneck output
  aux: dict             # bottleneck aux (commit_tok, codebook_tok, counts, ...)


class TokenAutoencoder(nn.Module):
  """(cont [B,T,C], ids [B,T], valid [B]) -> AEOutput.

  `valid` marks real events (0 for batch padding rows); VQ statistics count
  the real tokens of valid events (all slots of valid events with
  `count_padding`, the original behaviour).
  """
  encoder: nn.Module
  bottleneck: nn.Module
  decoder: nn.Module
  count_padding: bool = False

  def stat_mask(self, ids, valid):
    tok = jnp.ones(ids.shape, bool) if self.count_padding else ids > 0
    if valid is not None:
      tok = tok & (valid[:, None] > 0)
    return tok

  def __call__(self, cont, ids, valid=None, *, train: bool = False):
    z_e = self.encoder(cont, ids, train=train)
    z, aux = self.bottleneck(z_e, self.stat_mask(ids, valid), train=train)
    x_hat, g_hat = self.decoder(z, ids > 0, train=train)
    return AEOutput(x_hat, g_hat, z_e, z, aux)

  def encode(self, cont, ids, *, train: bool = False):
    """Encoder output z_e [B,T,D] (used for k-means codebook init)."""
    return self.encoder(cont, ids, train=train)


def build_autoencoder(phase1, *, num_types: int, norm=None, cont_dim: int = 4,
                      num_globals: int = 2) -> TokenAutoencoder:
  """Builds the model named by `phase1.{encoder,latent_space,decoder}.name`."""
  enc = build_encoder(phase1, num_types=num_types, norm=norm)
  dec = build_decoder(phase1, cont_dim=cont_dim, num_globals=num_globals,
                      norm=norm)
  return TokenAutoencoder(enc, build_bottleneck(phase1), dec,
                          count_padding=bool(phase1.latent_space.get(
                              "count_padding", False)))
