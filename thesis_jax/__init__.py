"""thesis_jax: token autoencoders for collision events in JAX/Flax.

    import thesis_jax
    config = thesis_jax.get_config("default")    # or "default:tiny", a file
    config.phase1.trainer.epochs = 5
    result = thesis_jax.train(config)
    result.run_dir, result.best_val_loss, result.best_epoch, result.test_loss

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
  from thesis_jax.train.host_devices import setup_devices
  setup_devices(int(config.phase1.trainer.batch_size))   # same as the CLI
  from thesis_jax.train.driver import train as _train
  return _train(config, overrides)


def get_config(name: str = "default", kind: str = "train"):
  """A bundled config by name ('default', 'gan_ae:smoke', ...) or file path;
  kind: train | sweep | report (see thesis_jax/config_files.py)."""
  from thesis_jax.config_files import load
  return load(name, kind)[0]


train_model = train
del _sys
