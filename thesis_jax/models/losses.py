"""Autoencoder loss terms as per-event (numerator, denominator) pairs.

Each term is `sum_events(w * num) / sum_events(w * den)`, so a batch mean, a
weighted mean over padded eval batches and a whole-split total all use one
formula. Unmasked terms reproduce the original's plain `mse` over all slots.
"""
from __future__ import annotations

from typing import Dict, Tuple

import jax.numpy as jnp

Term = Tuple[jnp.ndarray, jnp.ndarray]   # (num [B], den [B])


def ae_terms(out, batch, *, mask_padding: bool = False) -> Dict[str, Term]:
  """Per-event terms rec_tokens, rec_globals, commit, codebook.

  out: AEOutput; batch: {"ids" [B,T], "cont" [B,T,C], "globals" [B,G]}.
  With `mask_padding`, token terms use real tokens (id > 0) only.
  """
  ids = batch["ids"]
  tok_w = (ids > 0).astype(jnp.float32) if mask_padding else jnp.ones(
      ids.shape, jnp.float32)
  den = tok_w.sum(-1)
  rec_tok = jnp.mean((out.x_hat - batch["cont"]) ** 2, axis=-1)   # [B,T]
  terms = {
      "rec_tokens": ((rec_tok * tok_w).sum(-1), den),
      "commit": ((out.aux["commit_tok"] * tok_w).sum(-1), den),
      "codebook": ((out.aux["codebook_tok"] * tok_w).sum(-1), den),
  }
  if out.globals_hat is not None:
    g = jnp.mean((out.globals_hat - batch["globals"]) ** 2, axis=-1)
    terms["rec_globals"] = (g, jnp.ones_like(g))
  return terms


def reduce_terms(terms: Dict[str, Term], weight) -> Dict[str, jnp.ndarray]:
  """Weighted means of the terms over the batch -> {name: scalar}."""
  return {k: (weight * n).sum() / jnp.maximum((weight * d).sum(), 1e-12)
          for k, (n, d) in terms.items()}


def total_loss(values: Dict, globals_beta: float, main: str = "rec_tokens"):
  """values[main] + commit + codebook + globals_beta * rec_globals (the last
  term only where rec_globals exists and is not None). Works on batch arrays
  and on a split's Python floats alike."""
  loss = values[main] + values["commit"] + values["codebook"]
  if values.get("rec_globals") is not None:
    loss = loss + globals_beta * values["rec_globals"]
  return loss
