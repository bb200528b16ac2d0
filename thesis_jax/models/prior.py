"""Token prior: a small causal (GPT-style, pre-LayerNorm) transformer over
the token sequences of `data/token_sequences.py`, and its per-event NLL.

  logits = TokenPrior(...).apply(variables, seq[:, :-1])     # [B, L-1, V]
  nll = sequence_nll(logits, seq)                             # per event

Position i predicts token i+1; targets equal to PAD are not counted. A
causal mask alone handles padding: PAD only follows the last real target,
so no counted prediction ever attends to a PAD input.
"""
from __future__ import annotations

from typing import Dict

import flax.linen as nn
import jax
import jax.numpy as jnp

from thesis_jax.data.token_sequences import PAD, N_SPECIAL


class Block(nn.Module):
  """x [B,L,D] -> x + attn(LN(x)) -> + MLP(LN(.)), causal attention."""
  d_model: int
  n_heads: int
  mlp_ratio: int = 4
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    b, l, d = x.shape
    h, hd = self.n_heads, self.d_model // self.n_heads
    y = nn.LayerNorm(name="ln1")(x)
    qkv = nn.Dense(3 * d, name="qkv")(y).reshape(b, l, 3, h, hd)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]          # [B,L,H,hd]
    att = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(hd).astype(x.dtype)
    causal = jnp.tril(jnp.ones((l, l), bool))
    att = jnp.where(causal, att, jnp.finfo(att.dtype).min)
    att = jax.nn.softmax(att, axis=-1)
    att = nn.Dropout(self.dropout)(att, deterministic=not train)
    y = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, l, d)
    x = x + nn.Dropout(self.dropout)(nn.Dense(d, name="proj")(y),
                                     deterministic=not train)
    y = nn.LayerNorm(name="ln2")(x)
    y = nn.Dense(self.mlp_ratio * d, name="fc1")(y)
    y = nn.Dense(d, name="fc2")(jax.nn.gelu(y))
    return x + nn.Dropout(self.dropout)(y, deterministic=not train)


class TokenPrior(nn.Module):
  """int32 tokens [B, L] -> next-token logits [B, L, vocab_size]."""
  vocab_size: int
  max_len: int
  d_model: int = 64
  n_layers: int = 2
  n_heads: int = 4
  mlp_ratio: int = 4
  dropout: float = 0.0

  @nn.compact
  def __call__(self, tokens, *, train: bool = False):
    l = tokens.shape[1]
    x = nn.Embed(self.vocab_size, self.d_model, name="tok")(tokens)
    pos = self.param("pos", nn.initializers.normal(0.02),
                     (self.max_len, self.d_model))
    x = x + pos[None, :l]
    x = nn.Dropout(self.dropout)(x, deterministic=not train)
    for i in range(self.n_layers):
      x = Block(self.d_model, self.n_heads, self.mlp_ratio, self.dropout,
                name=f"block{i}")(x, train=train)
    x = nn.LayerNorm(name="ln_f")(x)
    return nn.Dense(self.vocab_size, name="head")(x)


def build_prior(prior_cfg, vocab_size: int, seq_len: int) -> TokenPrior:
  """From `config.prior.model` (d_model, n_layers, n_heads, mlp_ratio,
  dropout); inputs are sequences of length seq_len - 1."""
  m = prior_cfg.model
  if int(m.d_model) % int(m.n_heads):
    raise ValueError(f"prior.model.d_model ({m.d_model}) must be divisible by "
                     f"prior.model.n_heads ({m.n_heads})")
  return TokenPrior(vocab_size=int(vocab_size), max_len=int(seq_len) - 1,
                    d_model=int(m.d_model), n_layers=int(m.n_layers),
                    n_heads=int(m.n_heads), mlp_ratio=int(m.mlp_ratio),
                    dropout=float(m.dropout))


def sequence_nll(logits, seq, obj_offset: int) -> Dict:
  """Per-event negative log-likelihoods [B] (nats) of seq [B, L] under
  logits [B, L-1, V] (position i predicts seq[:, i+1]).

  -> {"nll": total over counted targets, "n": counted targets,
      "nll_globals": MET + MET-phi tokens, "correct": argmax hits,
      "nll_tok" [B, L-1]: per-target NLL, 0 where not counted}.
  """
  target = seq[:, 1:]
  counted = target != PAD
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll_tok = -jnp.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
  nll_tok = jnp.where(counted, nll_tok, 0.0)
  is_glob = (target >= N_SPECIAL) & (target < obj_offset)
  hit = (jnp.argmax(logits, -1) == target) & counted
  return {"nll": nll_tok.sum(-1), "n": counted.sum(-1).astype(jnp.float32),
          "nll_globals": jnp.where(is_glob, nll_tok, 0.0).sum(-1),
          "correct": hit.sum(-1).astype(jnp.float32), "nll_tok": nll_tok}
