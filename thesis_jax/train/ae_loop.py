"""The autoencoder loop (`loop = ae`): the thesis model trained on MSE."""
from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.models import build_autoencoder
from thesis_jax.models.kmeans import kmeans
from thesis_jax.models.torch_init import apply_init
from thesis_jax.models.vq import set_codebook
from thesis_jax.train import ae_steps
from thesis_jax.train.loop_api import LOOPS, EpochRecord, Loop
from thesis_jax.train.state import TrainState, init_state, make_optimizer


def _mean(x):
  x = np.asarray(x, np.float64)
  return float(x.mean()) if x.size else float("nan")


@LOOPS.register("ae")
class AELoop(Loop):
  name = "ae"
  metric_keys = ("perplex",)

  def __init__(self, config, dataset):
    super().__init__(config)
    p = config.phase1
    self.model = build_autoencoder(p, num_types=dataset.num_types,
                                   norm=dataset.norm)
    self.tx = make_optimizer(p.trainer)
    self.is_vq = p.latent_space.name == "vq"
    self.globals_beta = float(p.decoder.globals_beta)
    kw = dict(globals_beta=self.globals_beta,
              mask_padding=bool(p.loss.mask_padding))
    step = ae_steps.make_train_step(self.model, self.tx, **kw)
    ev = ae_steps.make_eval_step(self.model, **kw)
    self.train_step = step
    self.eval_step = lambda state, batch: ev(state.params, state.model_state, batch)
    self.score_step = lambda state, batch: ae_steps.event_errors(
        self.model, state.params, state.model_state, batch)

  def init_state(self, rng, dataset) -> TrainState:
    t = dataset.n_tokens
    dummy = {"cont": jnp.zeros((1, t, 4)), "ids": jnp.ones((1, t), jnp.int32)}
    # One compiled init instead of ~140 op-by-op dispatches/compilations.
    init_name = str(self.config.phase1.get("init", "default"))

    def init(r, c, i):
      variables = self.model.init(r, c, i, train=False)
      params = variables["params"]
      model_state = {k: v for k, v in variables.items() if k != "params"}
      return apply_init(init_name, jax.random.fold_in(r, 1), params, model_state)
    params, model_state = jax.jit(init)(rng, dummy["cont"], dummy["ids"])
    return init_state(params, model_state, self.tx)

  def data_init(self, state, dataset, rng):
    """k-means++ codebook from the first `kmeans_samples` real train tokens."""
    ls = self.config.phase1.latent_space
    if not (self.is_vq and ls.kmeans_init):
      return state
    z, w = self._encode_tokens(state, dataset, int(ls.kmeans_samples))
    cent = kmeans(rng, z, w, int(ls.codebook_size), int(ls.kmeans_iters))
    params, ms = set_codebook(state.params, state.model_state, cent)
    return state.replace(params=params, model_state=ms,
                         opt_state=state.opt_state)

  def _encode_tokens(self, state, dataset, n_tokens_wanted):
    tr = dataset.splits["train"]
    count_pad = bool(self.config.phase1.latent_space.count_padding)
    per_event = tr.n_tokens if count_pad else max(tr.mask.sum(1).mean(), 1e-3)
    n_ev = int(min(len(tr), np.ceil(n_tokens_wanted / per_event) + 1))
    enc = jax.jit(lambda p, c, i: self.model.apply(
        {"params": p, **state.model_state}, c, i,
        method=type(self.model).encode))
    z = np.asarray(enc(state.params, tr.cont[:n_ev], tr.ids[:n_ev]))
    sel = np.ones(tr.ids[:n_ev].shape, bool) if count_pad else tr.ids[:n_ev] > 0
    flat = z[sel][:n_tokens_wanted]
    return jnp.asarray(flat), jnp.ones(flat.shape[0], jnp.float32)

  def record(self, train_metrics: Dict[str, np.ndarray], val_sums) -> EpochRecord:
    val = ae_steps.finalize_eval(val_sums, globals_beta=self.globals_beta,
                                 is_vq=self.is_vq)
    train_loss = _mean(train_metrics["loss"])
    hist = {"train_loss": train_loss, "val_loss": val["loss"],
            "rec_tokens": val["rec_tokens"], "rec_globals": val["rec_globals"],
            "codebook": val["codebook"], "perplex": val["perplex"],
            "commit": val["commit"], "code_usage": val["code_usage"],
            "train_perplex": _mean(train_metrics["perplex"]) if self.is_vq else None}
    extra = {}
    if self.is_vq:
      extra["code_counts"] = np.asarray(val_sums["counts"]).astype(int).tolist()
    return EpochRecord(train_loss, val["loss"], {"perplex": val["perplex"]},
                       hist, extra)

  def test_metrics(self, test_sums) -> Dict[str, float]:
    t = ae_steps.finalize_eval(test_sums, globals_beta=self.globals_beta,
                               is_vq=self.is_vq)
    out = {"test_loss": t["loss"]}
    out.update({f"test_{k}": v for k, v in t.items()
                if k != "loss" and v is not None})
    return out
