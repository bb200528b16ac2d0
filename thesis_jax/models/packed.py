"""Padding-free application of token-wise autoencoders, exact w.r.t. dense.

With a token-wise encoder and decoder (`mlp`), a `none`/`linear`/`vq`
bottleneck and dropout 0, every padding slot (type id 0, the step's
`pad_cont` features) has the same latent, code, reconstruction and per-slot
loss. So the model runs on a step's packed real tokens [C] plus one padding
representative (row C), and each event's padding enters as
`n_pad * (representative's value)`: all-slot losses, the globals head's mean
over slots, VQ counts/EMA sums (with `count_padding`) and commitment are the
dense numbers up to float32 summation order. Dead-code restarts draw the
same dense slots as the dense path (same key, same rank -> same row).

Packed batch (one step of `data.packing.pack_stack`): ids [B,T], tok_ids [C],
tok_cont [C,F], tok_seg [C] (B = unused row), pad_cont [F], globals [B,G],
weight [B].
"""
from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp

from thesis_jax.models.autoencoder import AEOutput, TokenAutoencoder
from thesis_jax.models.vq import sample_indices

Term = tuple


def _rows(batch):
  """-> (cont [C+1,F], ids [C+1]): packed tokens, then the representative."""
  cont = jnp.concatenate([batch["tok_cont"], batch["pad_cont"][None]], 0)
  ids = jnp.concatenate([batch["tok_ids"], jnp.zeros((1,), jnp.int32)], 0)
  return cont, ids


def event_sums(x, batch):
  """Per-event sums over all T slots of a per-row quantity x [C+1, ...]:
  packed rows by `tok_seg`, plus n_pad copies of the representative row.
  -> [B, ...]."""
  ids = batch["ids"]
  b = ids.shape[0]
  real = jax.ops.segment_sum(x[:-1], batch["tok_seg"], num_segments=b + 1,
                             indices_are_sorted=True)[:b]
  n_pad = (ids <= 0).sum(-1).astype(x.dtype)
  return real, n_pad.reshape((b,) + (1,) * (x.ndim - 1)) * x[-1]


def packed_forward(ae: TokenAutoencoder, batch, *, train: bool = False):
  """`model.apply(variables, batch, method=packed_forward)` -> AEOutput with
  x_hat/z_e/z [C+1, .], aux token terms [C+1], globals_hat [B,G]."""
  ids, valid = batch["ids"], batch.get("weight")
  b, t = ids.shape
  cont, tok_ids = _rows(batch)
  stat = ae.stat_mask(ids, valid)                     # dense [B,T] bool
  ev_ok = jnp.ones((b,), bool) if valid is None else valid > 0
  row_w = jnp.concatenate([ev_ok, jnp.zeros((1,), bool)])[batch["tok_seg"]]
  n_pad_stat = (stat & (ids <= 0)).sum().astype(cont.dtype)
  w = jnp.concatenate([row_w.astype(cont.dtype), n_pad_stat[None]])

  real = (ids > 0).reshape(-1)
  packed_pos = jnp.cumsum(real.astype(jnp.int32)) - 1
  cap = batch["tok_ids"].shape[0]

  def sample_index(key, k):
    # The dense path's draw over the dense slots, mapped to packed rows.
    p = sample_indices(key, stat.reshape(-1).astype(cont.dtype), k)
    return jnp.where(real[p], packed_pos[p], cap)

  z_e = ae.encoder(cont, tok_ids, train=train)
  z, aux = ae.bottleneck(z_e, w, train=train, sample_index=sample_index)
  zr, zp = event_sums(z, batch)
  pooled = (zr + zp) / t
  x_hat, g_hat = ae.decoder(z, None, train=train, pooled=pooled)
  return AEOutput(x_hat, g_hat, z_e, z, aux)


def apply_packed(model, params, model_state, batch, rng, train: bool):
  """Packed twin of `train.ae_steps.apply_model` -> (AEOutput, model_state)."""
  variables = {"params": params, **model_state}
  rngs = None
  if rng is not None:
    r_drop, r_vq = jax.random.split(rng)
    rngs = {"dropout": r_drop, "vq": r_vq}
  if train and model_state:
    return model.apply(variables, batch, train=True, rngs=rngs,
                       mutable=list(model_state.keys()), method=packed_forward)
  return model.apply(variables, batch, train=train, rngs=rngs,
                     method=packed_forward), model_state


def packed_terms(out, batch, *, mask_padding: bool = False) -> Dict[str, Term]:
  """Packed twin of `models.losses.ae_terms`: per-event (num [B], den [B])."""
  ids = batch["ids"]
  cont, _ = _rows(batch)
  rec = jnp.mean((out.x_hat - cont) ** 2, axis=-1)                 # [C+1]
  rows = jnp.stack([rec, out.aux["commit_tok"], out.aux["codebook_tok"]], -1)
  real, pad = event_sums(rows, batch)                               # [B,3]
  if mask_padding:
    num, den = real, (ids > 0).sum(-1).astype(rec.dtype)
  else:
    num, den = real + pad, jnp.full(ids.shape[:1], ids.shape[1], rec.dtype)
  terms = {"rec_tokens": (num[:, 0], den), "commit": (num[:, 1], den),
           "codebook": (num[:, 2], den)}
  if out.globals_hat is not None:
    g = jnp.mean((out.globals_hat - batch["globals"]) ** 2, axis=-1)
    terms["rec_globals"] = (g, jnp.ones_like(g))
  return terms


def packed_event_errors(out, batch) -> Dict:
  """Packed twin of `train.ae_steps.event_errors` from an AEOutput."""
  ids = batch["ids"]
  cont, _ = _rows(batch)
  diff = out.x_hat - cont
  rows = jnp.stack([jnp.mean(diff ** 2, -1), jnp.mean(jnp.abs(diff), -1)], -1)
  real, pad = event_sums(rows, batch)                               # [B,2]
  t = ids.shape[1]
  n_real = jnp.maximum((ids > 0).sum(-1).astype(diff.dtype), 1.0)
  res = {"mse": (real[:, 0] + pad[:, 0]) / t, "mae": (real[:, 1] + pad[:, 1]) / t,
         "mse_real": real[:, 0] / n_real, "mae_real": real[:, 1] / n_real}
  if out.globals_hat is not None:
    res["mse_globals"] = jnp.mean((out.globals_hat - batch["globals"]) ** 2, -1)
  else:
    res["mse_globals"] = jnp.full(ids.shape[:1], jnp.nan)
  res["loss"] = res["mse"] + jnp.nan_to_num(res["mse_globals"])
  return res


def supports_packing(phase1) -> str:
  """'' if the packed path is exact for this model config, else the reason."""
  enc, dec, ls = phase1.encoder, phase1.decoder, phase1.latent_space
  if enc.name != "mlp" or dec.name != "mlp":
    return f"encoder '{enc.name}' / decoder '{dec.name}' are not token-wise"
  if ls.name not in ("none", "linear", "vq"):
    return f"latent space '{ls.name}' is not token-wise"
  if float(enc.get("dropout", 0.0)) > 0 or float(dec.get("dropout", 0.0)) > 0:
    return "dropout > 0 draws different masks per slot"
  return ""
