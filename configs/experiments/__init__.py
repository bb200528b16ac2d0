"""Sweep (experiment) configs: get_config() -> ConfigDict(base, grid, axes, report).

Shared here: the tiny base used by every experiment's `:smoke` variant.
"""
from thesis_jax.config_files import sibling

default_config = sibling(__file__, "../default").get_config


def training_base(name: str, epochs: int, smoke: bool = False):
  """configs/default.py's thesis config named `name`; `smoke`: a tiny model on
  a few hundred synthetic events (seconds per job, for trying a sweep out)."""
  base = default_config("tiny" if smoke else "")
  base.experiment.name = name
  base.phase1.trainer.epochs = epochs
  if smoke:
    base.data.synthetic.update(n_train=256, n_val=128, n_test=128)
    base.phase1.latent_space.kmeans_samples = 256
    base.phase1.trainer.update(epochs=1, eval_batch_size=128)
  return base
