"""Sweep (experiment) configs: get_config() -> ConfigDict(base, grid, axes, report).

Shared here: the tiny base used by every experiment's `:smoke` variant.
"""
from configs.default import get_config as default_config


def training_base(name: str, epochs: int, smoke: bool = False):
  """configs/default.py's thesis config named `name`; `smoke`: a tiny model on
  a few hundred synthetic events (seconds per job, for trying a sweep out)."""
  base = default_config()
  base.experiment.name = name
  base.phase1.trainer.epochs = epochs
  if smoke:
    base.data.synthetic.update(n_train=256, n_val=128, n_test=128)
    base.phase1.encoder.enc_hidden = (32, 32)
    base.phase1.decoder.dec_hidden = (32, 32)
    base.phase1.latent_space.update(latent_dim=8, codebook_size=32,
                                    kmeans_samples=256, restart_after=4)
    base.phase1.trainer.update(epochs=1, batch_size=64, eval_batch_size=128,
                               steps_per_dispatch=4)
  return base
