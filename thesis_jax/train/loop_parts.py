"""Small pure pieces every training loop composes (see `loops/__init__.py`).

Device side (jit-safe): apply a model, apply gradients, per-batch weighted
sums, per-event reconstruction errors. Host side: finalise a split's sums into
floats, means of per-step metrics, k-means codebook initialisation.

batch: {"ids" int32 [B,T], "cont" f32 [B,T,C], "globals" f32 [B,G],
        "weight" f32 [B] (1 = real event, 0 = batch padding)}.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from thesis_jax.data.pipeline import HEAD_ROWS
from thesis_jax.models.kmeans import kmeans
from thesis_jax.models.torch_init import apply_init
from thesis_jax.models.vq import apply_pending_restarts, set_codebook
from thesis_jax.train.state import TrainState


# ------------------------------------------------------------------ device side
def apply_model(model, params, model_state, args, rng, train: bool,
                method=None):
  """model.apply(args..., train[, method]) -> (output, new model_state).

  rng None: no dropout/VQ randomness (evaluation). In training the mutable
  collections (e.g. VQ statistics) are updated and returned.
  """
  variables = {"params": params, **model_state}
  rngs = None
  if rng is not None:
    r_drop, r_vq = jax.random.split(rng)
    rngs = {"dropout": r_drop, "vq": r_vq}
  kw = {} if method is None else {"method": method}
  if train and model_state:
    return model.apply(variables, *args, train=True, rngs=rngs,
                       mutable=list(model_state.keys()), **kw)
  return model.apply(variables, *args, train=train, rngs=rngs, **kw), model_state


def init_variables(model, rng, *dummy, init: str = "default"):
  """-> (params, model_state) from one jitted `model.init` (one compilation
  instead of ~140 op-by-op dispatches). `init="torch"` redraws the weights
  with PyTorch's default distributions (`models/torch_init.py`)."""
  def run(r, *a):
    variables = model.init(r, *a, train=False)
    params = variables["params"]
    model_state = {k: v for k, v in variables.items() if k != "params"}
    return apply_init(init, jax.random.fold_in(r, 1), params, model_state)
  return jax.jit(run)(rng, *dummy)


def apply_gradients(state: TrainState, tx: optax.GradientTransformation, grads,
                    model_state, **fields) -> TrainState:
  """One optimizer update, then VQ dead-code restarts; step += 1.
  `fields` replace further TrainState fields (e.g. extra=...)."""
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  params = apply_pending_restarts(params, model_state)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       model_state=model_state, **fields)


def batch_perplexity(aux):
  """The bottleneck's batch perplexity as f32 (NaN without VQ)."""
  p = aux["perplex"]
  return jnp.asarray(jnp.nan if p is None else p, jnp.float32)


def term_sums(terms: Dict, w) -> Dict:
  """Per-event (num [B], den [B]) terms -> {`<term>_num`, `<term>_den`}
  weighted by w [B], summable over batches."""
  sums = {}
  for k, (n, d) in terms.items():
    sums[k + "_num"] = (w * n).sum()
    sums[k + "_den"] = (w * d).sum()
  return sums


def code_sums(aux, w) -> Dict:
  """`perplex_w` (batch perplexity x events), `counts` [K], `events`."""
  p = aux["perplex"]
  return {"perplex_w": (jnp.zeros(()) if p is None else p) * w.sum(),
          "counts": aux["counts"], "events": w.sum()}


def event_errors(x_hat, globals_hat, batch) -> Dict:
  """Per-event reconstruction errors [B] on normalised features.

  mse/mae over all token slots and over real tokens only (`*_real`), plus
  `mse_globals` (NaN without a globals head) and `loss` (the training
  objective per event, globals weighted 1).
  """
  diff = x_hat - batch["cont"]
  real = (batch["ids"] > 0).astype(diff.dtype)
  n_real = jnp.maximum(real.sum(-1), 1.0)
  res = {
      "mse": jnp.mean(diff ** 2, axis=(1, 2)),
      "mae": jnp.mean(jnp.abs(diff), axis=(1, 2)),
      "mse_real": (jnp.mean(diff ** 2, -1) * real).sum(-1) / n_real,
      "mae_real": (jnp.mean(jnp.abs(diff), -1) * real).sum(-1) / n_real,
  }
  if globals_hat is not None:
    res["mse_globals"] = jnp.mean((globals_hat - batch["globals"]) ** 2, -1)
  else:
    res["mse_globals"] = jnp.full(diff.shape[:1], jnp.nan)
  res["loss"] = res["mse"] + jnp.nan_to_num(res["mse_globals"])
  return res


# ------------------------------------------------------------------ host side
def host_mean(x) -> float:
  """Mean of per-step values as a float (NaN when empty)."""
  x = np.asarray(x, np.float64)
  return float(x.mean()) if x.size else float("nan")


def finalize_terms(sums: Dict, names: Iterable[str]) -> Dict[str, Optional[float]]:
  """Split totals -> {term: num/den} as floats (None where absent)."""
  return {t: (float(sums[t + "_num"]) / max(float(sums[t + "_den"]), 1e-12)
              if t + "_num" in sums else None) for t in names}


def finalize_codes(sums: Dict, is_vq: bool) -> Dict[str, Optional[float]]:
  """-> {perplex (event-weighted mean), code_usage (codes used)}; None
  without VQ."""
  if not is_vq:
    return {"perplex": None, "code_usage": None}
  ev = max(float(sums["events"]), 1.0)
  return {"perplex": float(sums["perplex_w"]) / ev,
          "code_usage": int((np.asarray(sums["counts"]) > 0).sum())}


def code_counts(sums: Dict) -> list:
  return np.asarray(sums["counts"]).astype(int).tolist()


def kmeans_codebook(model, state: TrainState, dataset, rng, latent_cfg):
  """k-means++ codebook from the first `kmeans_samples` real train tokens,
  encoded by `model.encode` (VQ with `kmeans_init` only)."""
  if not (latent_cfg.name == "vq" and latent_cfg.kmeans_init):
    return state
  tr = dataset.splits["train"]
  wanted = int(latent_cfg.kmeans_samples)
  count_pad = bool(latent_cfg.count_padding)
  # Real tokens per event from the first HEAD_ROWS events: all that a
  # streamed dataset holds, so both readers pick the same k-means sample.
  per_event = tr.n_tokens if count_pad else max(
      tr.mask[:HEAD_ROWS].sum(1).mean(), 1e-3)
  n_ev = int(min(len(tr), np.ceil(wanted / per_event) + 1))
  enc = jax.jit(lambda p, c, i: model.apply(
      {"params": p, **state.model_state}, c, i, method=type(model).encode))
  z = np.asarray(enc(state.params, tr.cont[:n_ev], tr.ids[:n_ev]))
  sel = np.ones(tr.ids[:n_ev].shape, bool) if count_pad else tr.ids[:n_ev] > 0
  flat = jnp.asarray(z[sel][:wanted])
  cent = kmeans(rng, flat, jnp.ones(flat.shape[0], jnp.float32),
                int(latent_cfg.codebook_size), int(latent_cfg.kmeans_iters))
  params, ms = set_codebook(state.params, state.model_state, cent)
  return state.replace(params=params, model_state=ms)
