"""Graph encoder and decoder (`gnn`): masked dense message passing.

Events have at most ~18 tokens, so the graph is a dense, fully connected
`[B,T,T]` adjacency over the real tokens of each event (id > 0); padding slots
neither send nor receive messages, so they cannot change real-token outputs.
Every operation is token-wise or a masked sum over the other tokens, which
makes both modules permutation equivariant over the real tokens.

Encoder edges are physics pair features computed from the un-normalised
kinematics (`norm.invert_cont` of the normalised (E, pT, eta, phi) inputs):
delta-R with the phi difference wrapped to [-pi, pi), and log(1 + m_ij) with
m_ij the invariant mass [GeV] of the pair (massless-safe: m^2 clamped at 0).
The decoder has no kinematics: its edges are squared distances between the
tokens in a learned coordinate space (`edge_dim` channels).

Layer (pre-norm residual, `layers` times), for node features h [B,T,H]:
  m_ij = act(A LN(h)_i + B LN(h)_j + C e_ij)          (the message MLP's hidden)
  h_i += W mean_{j real, j != i} m_ij                   (0 without neighbours)
  h_i += MLP(LN(h_i))                                   (feed-forward)
`A h_i + B h_j + C e_ij` is a Dense layer on concat(h_i, h_j, e_ij) split into
parts, and W is applied after the mean (a linear map commutes with it), so
the `[B,T,T,H]` tensor is built once per layer and never multiplied.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from thesis_jax.errors import ConfigError
from thesis_jax.models.decoders import globals_prediction
from thesis_jax.models.layers import ACTIVATIONS

EDGE_FEATURES = ("delta_r", "log1p_mass")


def wrap_phi(dphi):
  """Angle difference [rad] -> [-pi, pi)."""
  return (dphi + math.pi) % (2.0 * math.pi) - math.pi


def safe_sqrt(x):
  """sqrt(max(x, 0)) with a finite (zero) gradient at and below 0."""
  pos = x > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def pair_features(phys):
  """Physics edge features of every token pair.

  phys: [B,T,4] (E [GeV], pT [GeV], eta, phi [rad]) in physical units.
  Returns [B,T,T,2]: (delta-R_ij, log(1 + m_ij / GeV)).
  """
  e, pt, eta, phi = (phys[..., k] for k in range(4))
  deta = eta[:, :, None] - eta[:, None, :]
  dphi = wrap_phi(phi[:, :, None] - phi[:, None, :])
  dr = safe_sqrt(deta ** 2 + dphi ** 2)
  px, py, pz = pt * jnp.cos(phi), pt * jnp.sin(phi), pt * jnp.sinh(eta)
  s = lambda a: a[:, :, None] + a[:, None, :]
  m2 = s(e) ** 2 - s(px) ** 2 - s(py) ** 2 - s(pz) ** 2
  return jnp.stack([dr, jnp.log1p(safe_sqrt(m2))], axis=-1)


def learned_edges(h, edge_dim: int):
  """Squared distances in a learned space: h [B,T,H] -> [B,T,T,edge_dim]."""
  p = nn.Dense(edge_dim, name="edge_coords")(h)
  return (p[:, :, None, :] - p[:, None, :, :]) ** 2


def adjacency(mask):
  """mask [B,T] bool -> [B,T,T] float: 1 where i != j are both real tokens."""
  t = mask.shape[1]
  adj = mask[:, :, None] & mask[:, None, :] & ~jnp.eye(t, dtype=bool)[None]
  return adj.astype(jnp.float32)


def edge_preactivation(a, b, edges, w_e):
  """a_i + b_j + edges_ij @ w_e: a, b [B,T,H], edges [B,T,T,E], w_e [E,H]
  -> [B,T,T,H].

  The edge projection is one 2-D matmul over the flattened pairs: as a
  4-D Dense its kernel gradient ran ~3x slower on XLA:CPU.
  """
  bsz, t, _, e = edges.shape
  c = (edges.reshape(-1, e) @ w_e).reshape(bsz, t, t, -1)
  return a[:, :, None, :] + b[:, None, :, :] + c


class MessagePassing(nn.Module):
  """One pre-norm residual message-passing block (see module docstring)."""
  hidden: int
  activation: str = "gelu"
  dropout: float = 0.0

  @nn.compact
  def __call__(self, h, edges, adj, *, train: bool = False):
    act = ACTIVATIONS[self.activation]
    x = nn.LayerNorm(name="ln_msg")(h)
    a = nn.Dense(self.hidden, name="msg_i")(x)
    b = nn.Dense(self.hidden, use_bias=False, name="msg_j")(x)
    w_e = self.param("msg_e", nn.initializers.lecun_normal(),
                     (edges.shape[-1], self.hidden))
    deg = adj.sum(-1, keepdims=True)                          # [B,T,1]
    m = act(edge_preactivation(a, b, edges, w_e))            # [B,T,T,H]
    # A masked sum, not an einsum: XLA:CPU runs that einsum as B*T tiny
    # batched matmuls, several times slower than this fused reduction.
    mean = (adj[..., None] * m).sum(2) / jnp.maximum(deg, 1.0)
    agg = nn.Dense(self.hidden, name="msg_out")(mean) * (deg > 0)
    if self.dropout > 0:
      agg = nn.Dropout(self.dropout, deterministic=not train)(agg)
    h = h + agg
    y = nn.LayerNorm(name="ln_ff")(h)
    y = nn.Dense(self.hidden, name="ff_out")(act(nn.Dense(
        2 * self.hidden, name="ff_in")(y)))
    if self.dropout > 0:
      y = nn.Dropout(self.dropout, deterministic=not train)(y)
    return h + y


class GraphStack(nn.Module):
  """`layers` MessagePassing blocks, then a final LayerNorm: [B,T,H] -> [B,T,H]."""
  hidden: int
  layers: int = 2
  activation: str = "gelu"
  dropout: float = 0.0

  @nn.compact
  def __call__(self, h, edges, mask, *, train: bool = False):
    adj = adjacency(mask)
    for i in range(self.layers):
      h = MessagePassing(self.hidden, self.activation, self.dropout,
                         name=f"block_{i}")(h, edges, adj, train=train)
    return nn.LayerNorm(name="ln_out")(h)


class GNNEncoder(nn.Module):
  """(cont [B,T,4] normalised, ids [B,T]) -> z_e [B,T,D].

  Node input: concat(cont, Embed(ids)); edges: `pair_features` of
  `norm.invert_cont(cont)` (physical units).
  """
  num_types: int
  latent_dim: int
  norm: Any
  hidden: int = 64
  layers: int = 2
  id_embed_dim: int = 8
  activation: str = "gelu"
  dropout: float = 0.0

  @nn.compact
  def __call__(self, cont, ids, *, train: bool = False):
    emb = nn.Embed(self.num_types, self.id_embed_dim, name="id_embed")(ids)
    x = jnp.concatenate([cont, emb.astype(cont.dtype)], axis=-1)
    h = nn.Dense(self.hidden, name="embed")(x)
    edges = pair_features(self.norm.invert_cont(cont))
    h = GraphStack(self.hidden, self.layers, self.activation, self.dropout,
                   name="graph")(h, edges, ids > 0, train=train)
    return nn.Dense(self.latent_dim, name="out")(h)


class GNNDecoder(nn.Module):
  """(z [B,T,D], mask [B,T]) -> (x_hat [B,T,C], globals_hat [B,G] or None).

  Edges: `learned_edges` of the embedded latents. The globals head is the MLP
  decoder's (`GlobalsHead` on z).
  """
  cont_dim: int = 4
  num_globals: int = 2
  hidden: int = 64
  layers: int = 2
  edge_dim: int = 4
  activation: str = "gelu"
  dropout: float = 0.0
  globals_head: bool = True
  globals_hidden: Sequence[int] = (32,)

  @nn.compact
  def __call__(self, z, mask=None, *, train: bool = False):
    if mask is None:
      mask = jnp.ones(z.shape[:2], bool)
    h = nn.Dense(self.hidden, name="embed")(z)
    edges = learned_edges(h, self.edge_dim)
    h = GraphStack(self.hidden, self.layers, self.activation, self.dropout,
                   name="graph")(h, edges, mask, train=train)
    x_hat = nn.Dense(self.cont_dim, name="out")(h)
    return x_hat, globals_prediction(self, z, train=train)


def require_norm(norm, name: str):
  if norm is None:
    raise ConfigError(f"phase1.encoder.name={name} needs the run's Normalizer "
                      "(physics edge features use un-normalised kinematics)")
  return norm


def build_gnn_encoder(cfg, *, num_types, latent_dim, norm=None):
  return GNNEncoder(num_types=num_types, latent_dim=latent_dim,
                    norm=require_norm(norm, "gnn"),
                    hidden=int(cfg.gnn_hidden), layers=int(cfg.gnn_layers),
                    id_embed_dim=int(cfg.id_embed_dim),
                    activation=cfg.activation, dropout=float(cfg.dropout))


def build_gnn_decoder(cfg, *, latent_dim, cont_dim=4, num_globals=2, norm=None):
  return GNNDecoder(cont_dim=cont_dim, num_globals=num_globals,
                    hidden=int(cfg.gnn_hidden), layers=int(cfg.gnn_layers),
                    edge_dim=int(cfg.gnn_edge_dim), activation=cfg.activation,
                    dropout=float(cfg.dropout),
                    globals_head=bool(cfg.globals_head),
                    globals_hidden=tuple(cfg.globals_hidden))
