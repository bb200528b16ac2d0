"""thesis_jax: token autoencoders for collision events in JAX/Flax.

    import thesis_jax
    from configs.default import get_config
    result = thesis_jax.train(get_config())
    result.run_dir, result.best_val_loss, result.test_loss

`thesis_jax.train` is this function; the training *package* is imported as
`from thesis_jax.train import driver` (or `thesis_jax.training`).
"""
import sys as _sys

# Load the subpackage first, then shadow the attribute with the function, so
# `thesis_jax.train(config)` keeps working after any `thesis_jax.train.*` import.
from thesis_jax import train as _train_pkg  # noqa: E402

__version__ = "0.1.0"
training = _train_pkg


def train(config, overrides=()):
  """Trains `config` (see configs/default.py); returns a TrainResult
  (run_dir, best_val_loss, best_epoch, test_loss, final, test, histories)."""
  from thesis_jax.train.driver import train as _train
  return _train(config, overrides)


train_model = train
del _sys
