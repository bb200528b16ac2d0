"""Diffusion autoencoder: cosine schedule, DDPM noising, DDIM sampler, denoiser.

The encoder (and bottleneck, e.g. VQ) from the ENCODERS/BOTTLENECKS tables
gives a latent `z [B,T,D]` per event; a denoiser over the token features,
conditioned on that latent, the type ids and the noise level, replaces the
decoder. Time is discrete, `t in {0, ..., T_diff-1}`; `alphas_bar[t]` is the
signal fraction of x_t (Nichol & Dhariwal 2021 cosine schedule).

  x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps                 (q(x_t | x0))
  eps-prediction: net -> eps;  v-prediction: net -> v = sqrt(ab_t) eps - sqrt(1-ab_t) x0
  DDIM (eta = 0): x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev) eps_hat,
                  ab_prev = 1 after the last step (returns x0_hat).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.errors import ConfigError, lookup
from thesis_jax.models.decoders import GlobalsHead
from thesis_jax.models.layers import ACTIVATIONS
from thesis_jax.models.components import build_bottleneck, build_encoder

PREDICTIONS = ("eps", "v")


# ---------------------------------------------------------------- schedule
def cosine_alphas_bar(num_timesteps: int, s: float = 0.008,
                      max_beta: float = 0.999) -> np.ndarray:
  """Cosine schedule -> alphas_bar [T] (float64), strictly decreasing in (0, 1).

  f(u) = cos^2((u + s) / (1 + s) * pi/2); beta_t = min(1 - f((t+1)/T) / f(t/T),
  max_beta); alphas_bar[t] = prod_{i <= t} (1 - beta_i).
  """
  if num_timesteps < 1:
    raise ConfigError(f"phase1.diffusion.num_timesteps must be >= 1, got {num_timesteps}")
  f = lambda u: np.cos((u + s) / (1.0 + s) * math.pi / 2) ** 2
  u = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
  betas = np.minimum(1.0 - f(u[1:]) / f(u[:-1]), max_beta)
  return np.cumprod(1.0 - betas)


def _coef(alphas_bar, t, ndim):
  """sqrt(ab_t), sqrt(1 - ab_t) for t [B], broadcast to rank `ndim`."""
  ab = jnp.take(alphas_bar, t).reshape(t.shape + (1,) * (ndim - t.ndim))
  return jnp.sqrt(ab), jnp.sqrt(1.0 - ab)


def q_sample(x0, t, eps, alphas_bar):
  """Forward noising x_t [B,...] from x0 [B,...], t int [B], eps like x0."""
  a, s = _coef(alphas_bar, t, x0.ndim)
  return a * x0 + s * eps


def target(x0, eps, t, alphas_bar, prediction: str):
  """The regression target of the denoiser: eps, or v."""
  if prediction == "eps":
    return eps
  a, s = _coef(alphas_bar, t, x0.ndim)
  return a * eps - s * x0


def to_x0_eps(x_t, pred, ab, prediction: str, clip_x0: float = 0.0):
  """Network output -> (x0_hat, eps_hat); ab broadcastable to x_t.

  With clip_x0 > 0, x0_hat is clipped to [-clip_x0, clip_x0] and eps_hat
  recomputed from it (stabilises eps-prediction at high noise).
  """
  a, s = jnp.sqrt(ab), jnp.sqrt(1.0 - ab)
  if prediction == "eps":
    x0 = (x_t - s * pred) / a
  else:
    x0 = a * x_t - s * pred
  if clip_x0 > 0:
    x0 = jnp.clip(x0, -clip_x0, clip_x0)
  elif prediction == "v":
    return x0, s * x_t + a * pred
  return x0, (x_t - a * x0) / s


def ddim_timesteps(num_timesteps: int, steps: int) -> np.ndarray:
  """`steps` descending timesteps from T-1 to 0 (just [T-1] for one step)."""
  if steps < 1:
    raise ConfigError(f"phase1.diffusion.sample_steps must be >= 1, got {steps}")
  steps = min(steps, num_timesteps)
  return np.round(np.linspace(num_timesteps - 1, 0, steps)).astype(np.int32)


def ddim_sample(pred_fn: Callable, x_T, alphas_bar, steps: int,
                prediction: str, clip_x0: float = 0.0):
  """Deterministic DDIM (eta = 0) from x_T [B,...] -> x0_hat [B,...].

  pred_fn(x_t [B,...], t int [B]) -> network output (eps or v). `steps`
  is static; one `lax.scan` runs the chain.
  """
  ts = ddim_timesteps(alphas_bar.shape[0], steps)
  prev = np.concatenate([ts[1:], [-1]]).astype(np.int32)
  b = x_T.shape[0]
  shape = (b,) + (1,) * (x_T.ndim - 1)

  def body(x, tt):
    t, tp = tt
    ab = jnp.broadcast_to(alphas_bar[t], shape)
    ab_prev = jnp.where(tp < 0, 1.0, alphas_bar[jnp.maximum(tp, 0)])
    pred = pred_fn(x, jnp.full((b,), t, jnp.int32))
    x0, eps = to_x0_eps(x, pred, ab, prediction, clip_x0)
    return jnp.sqrt(ab_prev) * x0 + jnp.sqrt(1.0 - ab_prev) * eps, None

  x, _ = jax.lax.scan(body, x_T, (jnp.asarray(ts), jnp.asarray(prev)))
  return x


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
  """Sinusoidal embedding of t [B] (any real) -> [B, dim] (cos | sin)."""
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half) / max(half, 1))
  ang = t.astype(jnp.float32)[:, None] * freqs[None]
  emb = jnp.concatenate([jnp.cos(ang), jnp.sin(ang)], axis=-1)
  return jnp.pad(emb, ((0, 0), (0, dim - 2 * half)))


# ---------------------------------------------------------------- denoiser
class Block(nn.Module):
  """Pre-LN residual block: [masked self-attention] + conditioned MLP.

  h [B,T,H], c [B,H] (per-event conditioning), key_mask [B,T] bool.
  """
  hidden: int
  heads: int = 0            # 0: per-token MLP only
  activation: str = "gelu"

  @nn.compact
  def __call__(self, h, c, key_mask):
    act = ACTIVATIONS[self.activation]
    if self.heads:
      mask = key_mask[:, None, None, :]
      h = h + nn.MultiHeadDotProductAttention(
          num_heads=self.heads, name="attn")(nn.LayerNorm(name="ln_a")(h), mask=mask)
    y = nn.LayerNorm(name="ln_m")(h) + nn.Dense(self.hidden, name="cond")(act(c))[:, None]
    y = nn.Dense(self.hidden, name="fc2")(act(nn.Dense(2 * self.hidden, name="fc1")(y)))
    return h + y


class Denoiser(nn.Module):
  """(x_t [B,T,C], t int [B], ids [B,T], z [B,T,D]) -> prediction [B,T,C].

  Conditioning: type-id embedding and (cond = "token") the token's own latent
  z[b,t], plus the per-event latent (mean of z over real tokens) and the
  sinusoidal noise-level embedding. No positional information: permutation
  equivariant over tokens. `heads > 0` adds masked self-attention (padding
  slots are never attended to).
  """
  num_types: int
  cont_dim: int = 4
  hidden: int = 128
  depth: int = 3
  heads: int = 0
  time_embed_dim: int = 64
  id_embed_dim: int = 8
  cond: str = "token"
  activation: str = "gelu"

  @nn.compact
  def __call__(self, x_t, t, ids, z):
    real = ids > 0
    w = real.astype(z.dtype)[..., None]
    z_evt = (z * w).sum(1) / jnp.maximum(w.sum(1), 1.0)             # [B,D]
    temb = timestep_embedding(t, self.time_embed_dim)
    temb = nn.Dense(self.hidden, name="t_in")(temb)
    c_evt = temb + nn.Dense(self.hidden, name="z_evt")(z_evt)       # [B,H]
    feats = [x_t, nn.Embed(self.num_types, self.id_embed_dim, name="id_embed")(ids)]
    if self.cond == "token":
      feats.append(z)
    h = nn.Dense(self.hidden, name="token_in")(jnp.concatenate(feats, -1))
    for i in range(self.depth):
      h = Block(self.hidden, self.heads, self.activation, name=f"block_{i}")(h, c_evt, real)
    h = nn.LayerNorm(name="ln_out")(h)
    return nn.Dense(self.cont_dim, kernel_init=nn.initializers.zeros,
                    name="out")(h)


def build_mlp_denoiser(cfg, *, num_types, cont_dim):
  return _denoiser(cfg, num_types, cont_dim, heads=0)


def build_transformer_denoiser(cfg, *, num_types, cont_dim):
  return _denoiser(cfg, num_types, cont_dim, heads=int(cfg.heads))


def _denoiser(cfg, num_types, cont_dim, heads):
  if cfg.cond not in ("token", "event"):
    raise ConfigError(f"phase1.diffusion.cond must be 'token' or 'event', got '{cfg.cond}'")
  if heads and int(cfg.hidden) % heads:
    raise ConfigError(f"phase1.diffusion.hidden ({cfg.hidden}) must be divisible "
                      f"by phase1.diffusion.heads ({heads})")
  return Denoiser(num_types=num_types, cont_dim=cont_dim, hidden=int(cfg.hidden),
                  depth=int(cfg.depth), heads=heads,
                  time_embed_dim=int(cfg.time_embed_dim),
                  id_embed_dim=int(cfg.id_embed_dim), cond=cfg.cond,
                  activation=cfg.activation)


DENOISERS = {"mlp": build_mlp_denoiser, "transformer": build_transformer_denoiser}


# ---------------------------------------------------------------- model
class DiffOutput(NamedTuple):
  pred: jnp.ndarray        # [B,T,C] denoiser output (eps or v)
  globals_hat: jnp.ndarray  # [B,G] or None
  z_e: jnp.ndarray          # [B,T,D]
  z: jnp.ndarray            # [B,T,D]
  aux: dict                 # bottleneck aux (commit_tok, counts, perplex, ...)


class DiffusionAE(nn.Module):
  """Encoder -> bottleneck -> latent z; denoiser(x_t, t | ids, z); globals head.

  Submodule names `encoder`/`bottleneck` match TokenAutoencoder, so the VQ
  helpers (k-means init, restarts) apply unchanged.
  """
  encoder: nn.Module
  bottleneck: nn.Module
  denoiser: nn.Module
  globals_head: nn.Module = None
  count_padding: bool = False

  def latent(self, cont, ids, valid=None, *, train: bool = False):
    """-> (z_e, z [B,T,D], aux, globals_hat [B,G] or None)."""
    z_e = self.encoder(cont, ids, train=train)
    tok = jnp.ones(ids.shape, bool) if self.count_padding else ids > 0
    if valid is not None:
      tok = tok & (valid[:, None] > 0)
    z, aux = self.bottleneck(z_e, tok, train=train)
    g = self.globals_head(z, train=train) if self.globals_head is not None else None
    return z_e, z, aux, g

  def denoise(self, x_t, t, ids, z):
    return self.denoiser(x_t, t, ids, z)

  def __call__(self, cont, ids, x_t, t, valid=None, *, train: bool = False):
    z_e, z, aux, g = self.latent(cont, ids, valid, train=train)
    return DiffOutput(self.denoiser(x_t, t, ids, z), g, z_e, z, aux)

  def encode(self, cont, ids, *, train: bool = False):
    """Encoder output z_e [B,T,D] (k-means codebook init)."""
    return self.encoder(cont, ids, train=train)


def build_diffusion_ae(phase1, *, num_types: int, norm=None, cont_dim: int = 4,
                       num_globals: int = 2) -> DiffusionAE:
  """Encoder/bottleneck by `phase1.{encoder,latent_space}.name`, the denoiser
  by `phase1.diffusion.denoiser`, the globals head by `phase1.decoder`."""
  dc, dec = phase1.diffusion, phase1.decoder
  enc = build_encoder(phase1, num_types=num_types, norm=norm)
  bott = build_bottleneck(phase1)
  den = lookup(DENOISERS, dc.denoiser, "denoiser", "phase1.diffusion.denoiser")(
      dc, num_types=num_types, cont_dim=cont_dim)
  head = (GlobalsHead(tuple(dec.globals_hidden), num_globals, dec.activation)
          if dec.globals_head else None)
  return DiffusionAE(enc, bott, den, head,
                     count_padding=bool(phase1.latent_space.get("count_padding", False)))

