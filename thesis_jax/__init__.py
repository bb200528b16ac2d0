"""thesis_jax: token autoencoders for collision events in JAX/Flax.

    import thesis_jax
    from configs.default import get_config
    result = thesis_jax.train(get_config())
    result.run_dir, result.best_val_loss, result.test_loss
"""
__version__ = "0.1.0"


def train(config, overrides=()):
  """Trains `config` (see configs/default.py); returns a TrainResult."""
  from thesis_jax.train.driver import train as _train
  return _train(config, overrides)
