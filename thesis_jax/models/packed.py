"""Padding-free application of token-wise autoencoders, exact w.r.t. dense.

With a token-wise encoder and decoder (`mlp`), a `none`/`linear`/`vq`
bottleneck and dropout 0, every padding slot (type id 0, the same features)
has the same latent, code, reconstruction and per-slot loss. So the model
runs on a step's packed real tokens plus one padding representative row per
shard, and each event's padding enters as `n_pad * (representative's
value)`: all-slot losses, the globals head's mean over slots, VQ counts/EMA
sums (with `count_padding`) and commitment are the dense numbers up to
float32 summation order. Dead-code restarts draw the same dense slots as the
dense path (same key, same rank -> same slot -> its row).

Packed batch (one step of `data.packing.pack_stack`): ids [B,T], tok_ids [R],
tok_cont [R,F], tok_seg [R] (B = not a real token), pad_row [B],
slot_row [B,T], globals [B,G], weight [B].
"""
from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp

from thesis_jax.models.autoencoder import (AEOutput, TokenAutoencoder,
                                           padding_around_bottleneck)
from thesis_jax.models.vq import sample_indices

Term = tuple


def event_sums(x, batch):
  """Per-event sums over all T slots of a per-row quantity x [R, ...]:
  -> (real tokens' sum [B, ...], n_pad * representative's value [B, ...])."""
  ids = batch["ids"]
  b = ids.shape[0]
  real = jax.ops.segment_sum(x, batch["tok_seg"], num_segments=b + 1)[:b]
  n_pad = (ids <= 0).sum(-1).astype(x.dtype)
  return real, n_pad.reshape((b,) + (1,) * (x.ndim - 1)) * x[batch["pad_row"]]


def packed_forward(ae: TokenAutoencoder, batch, *, train: bool = False):
  """`model.apply(variables, batch, method=packed_forward)` -> AEOutput with
  x_hat/z_e/z [R, .], aux token terms [R], globals_hat [B,G]."""
  ids, valid = batch["ids"], batch.get("weight")
  b, t = ids.shape
  cont, seg = batch["tok_cont"], batch["tok_seg"]
  rows = seg.shape[0]
  stat = ae.stat_mask(ids, valid)                     # dense [B,T] bool
  ev_ok = jnp.ones((b,), bool) if valid is None else valid > 0
  real_w = jnp.concatenate([ev_ok, jnp.zeros((1,), bool)])[seg]
  # Each representative row counts the padding slots (of counted events)
  # of the events it stands for.
  pad_w = jax.ops.segment_sum((stat & (ids <= 0)).sum(-1).astype(cont.dtype),
                              batch["pad_row"], num_segments=rows)
  w = real_w.astype(cont.dtype) + pad_w
  # Rows standing for at least one slot (any event): real tokens, and the
  # representatives of shards with padding -- not the unused rows.
  n_pad_rows = jax.ops.segment_sum((ids <= 0).sum(-1), batch["pad_row"],
                                   num_segments=rows)
  present = (seg < b) | (n_pad_rows > 0)

  def sample_index(key, k):
    # The dense path's draw over the dense slots, mapped to their rows.
    p = sample_indices(key, stat.reshape(-1), k)
    return batch["slot_row"].reshape(-1)[p]

  z_e = ae.encoder(cont, batch["tok_ids"], train=train)
  z, aux = ae.bottleneck(z_e, w, train=train, sample_index=sample_index,
                        present=present)
  if ae.bypass_padding:        # the representatives too (see TokenAutoencoder)
    z, aux = padding_around_bottleneck(z, z_e, aux, seg < b)
  zr, zp = event_sums(z, batch)
  x_hat, g_hat = ae.decoder(z, None, train=train, pooled=(zr + zp) / t)
  return AEOutput(x_hat, g_hat, z_e, z, aux)


def packed_terms(out, batch, *, mask_padding: bool = False) -> Dict[str, Term]:
  """Packed twin of `models.losses.ae_terms`: per-event (num [B], den [B])."""
  ids = batch["ids"]
  rec = jnp.mean((out.x_hat - batch["tok_cont"]) ** 2, axis=-1)    # [R]
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
  """Packed twin of `train.loop_parts.event_errors` from an AEOutput."""
  ids = batch["ids"]
  diff = out.x_hat - batch["tok_cont"]
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


def unpack_rows(x, batch):
  """Per-row values x [R, ...] -> the dense layout [B, T, ...] (each slot
  gets its row's value: padding slots their representative's)."""
  return x[batch["slot_row"]]
