"""The adversarial autoencoder loop (`loop = gan_ae`).

The `ae` loop's model, optimizer, k-means init, validation and test metrics
and per-event scores, plus a set discriminator trained against the
reconstructions (`gan_steps.py`). val_loss stays the reconstruction objective,
so runs compare with `ae` runs and the best checkpoint is the best
reconstruction. Extra histories per epoch: `d_loss, g_loss, d_real, d_fake,
r1` (train means; d_real/d_fake are raw discriminator scores) and
`val_d_real, val_d_fake` (validation means). `score_step` adds `disc_score`
= -D(event), an anomaly score (higher = judged less real).
"""
from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.errors import ConfigError
from thesis_jax.models.adversarial import ADV_LOSSES
from thesis_jax.models.discriminator import build_discriminator
from thesis_jax.train import ae_steps, gan_steps
from thesis_jax.train.ae_loop import AELoop, _mean
from thesis_jax.train.loop_api import LOOPS, EpochRecord


def gan_config(config):
  """config.gan over the defaults (a config without a `gan` block works)."""
  g = gan_steps.default_gan_config()
  if "gan" in config:
    unknown = set(config.gan.keys()) - set(g.keys())
    if unknown:
      raise ConfigError(f"gan: unknown key(s) {sorted(unknown)}; valid: "
                        f"{', '.join(sorted(g.keys()))}")
    g.update(config.gan.to_dict())
  try:
    ADV_LOSSES.get(g.loss)
  except KeyError as e:
    raise ConfigError(e.args[0]) from None
  for k in ("adv_weight", "r1_gamma", "warmup_steps"):
    if g[k] < 0:
      raise ConfigError(f"gan.{k} must be >= 0, got {g[k]}")
  for k in ("d_steps", "d_lr", "d_hidden"):
    if g[k] <= 0:
      raise ConfigError(f"gan.{k} must be > 0, got {g[k]}")
  return g


@LOOPS.register("gan_ae")
class GanAELoop(AELoop):
  name = "gan_ae"
  metric_keys = ("perplex",)

  def __init__(self, config, dataset):
    super().__init__(config, dataset)
    self.gan = gan_config(config)
    self.disc = build_discriminator(self.gan, num_types=dataset.num_types)
    self.d_tx = gan_steps.make_d_optimizer(self.gan)
    p = config.phase1
    self.train_step = gan_steps.make_train_step(
        self.model, self.disc, self.tx, self.d_tx, self.gan,
        globals_beta=self.globals_beta, mask_padding=bool(p.loss.mask_padding),
        is_vq=self.is_vq)
    ae_eval = self.eval_step
    d_eval = gan_steps.make_disc_eval(self.model, self.disc)
    self.eval_step = lambda state, batch: dict(ae_eval(state, batch),
                                               **d_eval(state, batch))
    self.score_step = self._score

  def _score(self, state, batch):
    res = ae_steps.event_errors(self.model, state.params, state.model_state,
                                batch)
    res["disc_score"] = -self.disc.apply(
        {"params": state.extra["d_params"]}, batch["cont"], batch["ids"],
        batch["globals"])
    return res

  def init_state(self, rng, dataset):
    k_ae, k_d = jax.random.split(rng)
    state = super().init_state(k_ae, dataset)
    t = dataset.n_tokens
    d_params = self.disc.init(k_d, jnp.zeros((1, t, 4)),
                              jnp.ones((1, t), jnp.int32),
                              jnp.zeros((1, 2)))["params"]
    return state.replace(extra={"d_params": d_params,
                                "d_opt": self.d_tx.init(d_params)})

  def record(self, train_metrics: Dict[str, np.ndarray], val_sums) -> EpochRecord:
    ae_sums = {k: v for k, v in val_sums.items() if not k.startswith("d_")}
    rec = super().record(train_metrics, ae_sums)
    ev = max(float(val_sums["events"]), 1.0)
    rec.history.update({k: _mean(train_metrics[k])
                        for k in gan_steps.GAN_METRICS})
    rec.history["val_d_real"] = float(val_sums["d_real_sum"]) / ev
    rec.history["val_d_fake"] = float(val_sums["d_fake_sum"]) / ev
    return rec

  def test_metrics(self, test_sums) -> Dict[str, float]:
    ev = max(float(test_sums["events"]), 1.0)
    out = super().test_metrics({k: v for k, v in test_sums.items()
                                if not k.startswith("d_")})
    out["test_d_real"] = float(test_sums["d_real_sum"]) / ev
    out["test_d_fake"] = float(test_sums["d_fake_sum"]) / ev
    return out
