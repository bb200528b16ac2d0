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

  `bypass_padding` (VQ with `latent_space.bypass_padding` and without
  `count_padding`): padding slots go around the bottleneck, their output is
  the encoder's z_e and their commitment/codebook terms are 0.
  Every padding slot of every event has the same z_e, which would sit on one
  code; with padding out of the VQ statistics nothing keeps that code near
  the padding latent (real tokens drag it, the weights move the latent),
  until all padding slots jump to another code at once and the decoder and
  the globals head (a mean over all slots) see a new input on most slots:
  val loss 1.7x (default job, seed 42) to 3.7x (set_transformer, CMS) its
  best so far (README "Stability over seeds").
  """
  encoder: nn.Module
  bottleneck: nn.Module
  decoder: nn.Module
  count_padding: bool = False
  bypass_padding: bool = False

  def stat_mask(self, ids, valid):
    tok = jnp.ones(ids.shape, bool) if self.count_padding else ids > 0
    if valid is not None:
      tok = tok & (valid[:, None] > 0)
    return tok

  def __call__(self, cont, ids, valid=None, *, train: bool = False):
    z_e = self.encoder(cont, ids, train=train)
    z, aux = self.bottleneck(z_e, self.stat_mask(ids, valid), train=train)
    if self.bypass_padding:
      z, aux = padding_around_bottleneck(z, z_e, aux, ids > 0)
    x_hat, g_hat = self.decoder(z, ids > 0, train=train)
    return AEOutput(x_hat, g_hat, z_e, z, aux)

  def encode(self, cont, ids, *, train: bool = False):
    """Encoder output z_e [B,T,D] (used for k-means codebook init)."""
    return self.encoder(cont, ids, train=train)


def padding_around_bottleneck(z, z_e, aux, real):
  """Bottleneck output z [..., D] -> z_e where `real` [...] is False; the
  per-slot aux terms (commit_tok, codebook_tok) -> 0 there."""
  aux = dict(aux, **{k: jnp.where(real, aux[k], 0.0)
                     for k in ("commit_tok", "codebook_tok")})
  return jnp.where(real[..., None], z, z_e), aux


def build_autoencoder(phase1, *, num_types: int, norm=None, cont_dim: int = 4,
                      num_globals: int = 2) -> TokenAutoencoder:
  """Builds the model named by `phase1.{encoder,latent_space,decoder}.name`."""
  enc = build_encoder(phase1, num_types=num_types, norm=norm)
  dec = build_decoder(phase1, cont_dim=cont_dim, num_globals=num_globals,
                      norm=norm)
  ls = phase1.latent_space
  return TokenAutoencoder(enc, build_bottleneck(phase1), dec,
                          count_padding=bool(ls.get("count_padding", False)),
                          bypass_padding=bypass_padding(ls))


# Run configs saved before `bypass_padding` (Dec 2026) load with padding
# quantised, as they were trained.
def bypass_padding(latent_space) -> bool:
  """Whether padding slots go around a VQ bottleneck (see TokenAutoencoder)."""
  return (latent_space.name == "vq" and bool(latent_space.get("bypass_padding", False))
          and not bool(latent_space.get("count_padding", False)))
