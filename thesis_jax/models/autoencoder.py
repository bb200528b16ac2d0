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

  `zero_padding_latent`: the encoder outputs exactly 0 on padding slots
  (set_transformer's `st_zero_padding`), and the bottleneck output and its
  per-slot commitment/codebook terms are 0 there too. Otherwise padding slots
  sit on the code nearest 0, which real tokens drag away (without
  `count_padding` nothing pulls it back) until every padding slot jumps to
  another code at once; the decoder and the globals head (a mean over all
  slots) then see a new input on most slots (README "Stability over seeds").
  """
  encoder: nn.Module
  bottleneck: nn.Module
  decoder: nn.Module
  count_padding: bool = False
  zero_padding_latent: bool = False

  def stat_mask(self, ids, valid):
    tok = jnp.ones(ids.shape, bool) if self.count_padding else ids > 0
    if valid is not None:
      tok = tok & (valid[:, None] > 0)
    return tok

  def __call__(self, cont, ids, valid=None, *, train: bool = False):
    z_e = self.encoder(cont, ids, train=train)
    z, aux = self.bottleneck(z_e, self.stat_mask(ids, valid), train=train)
    if self.zero_padding_latent:
      z, aux = zero_padding_slots(z, aux, ids > 0)
    x_hat, g_hat = self.decoder(z, ids > 0, train=train)
    return AEOutput(x_hat, g_hat, z_e, z, aux)

  def encode(self, cont, ids, *, train: bool = False):
    """Encoder output z_e [B,T,D] (used for k-means codebook init)."""
    return self.encoder(cont, ids, train=train)


def zero_padding_slots(z, aux, real):
  """z [B,T,D] and the per-slot aux terms -> 0 where `real` [B,T] is False."""
  aux = dict(aux, **{k: jnp.where(real, aux[k], 0.0)
                     for k in ("commit_tok", "codebook_tok")})
  return jnp.where(real[..., None], z, 0.0), aux


def build_autoencoder(phase1, *, num_types: int, norm=None, cont_dim: int = 4,
                      num_globals: int = 2) -> TokenAutoencoder:
  """Builds the model named by `phase1.{encoder,latent_space,decoder}.name`."""
  enc = build_encoder(phase1, num_types=num_types, norm=norm)
  dec = build_decoder(phase1, cont_dim=cont_dim, num_globals=num_globals,
                      norm=norm)
  return TokenAutoencoder(enc, build_bottleneck(phase1), dec,
                          count_padding=bool(phase1.latent_space.get(
                              "count_padding", False)),
                          zero_padding_latent=bool(getattr(enc, "zero_padding", False)))
