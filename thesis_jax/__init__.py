"""thesis_jax: token autoencoders for collision events in JAX/Flax.

    import thesis_jax
    config = thesis_jax.get_config("default")    # or "default:tiny", a file
    config.phase1.trainer.epochs = 5
    result = thesis_jax.train_model(config)
    result.run_dir, result.best_val_loss, result.best_epoch, result.test_loss

`thesis_jax.train` is the training package (driver, loops, steps).
"""
__version__ = "0.1.0"


def train_model(config, overrides=None, on_event=None):
  """Trains `config` (see configs/default.py) with the training figures of
  `logging.make_plots` and the experiment trackers of `logging.trackers`;
  returns a TrainResult (run_dir, best_val_loss, best_epoch, test_loss,
  final, test, histories).

  `overrides`: the command-line assignments, saved with the run's config;
  on resume the keys they name are the ones asked to change (None: every key
  of `config`; see README "Failures and recovery").
  `on_event(moment, payload, context)`: one more driver hook, called after
  the figures and trackers (e.g. a search's pruner, which raises to stop).
  """
  # Imported here so `import thesis_jax` stays light (no JAX start-up).
  from thesis_jax.train.host_devices import setup_devices
  setup_devices(int(config.phase1.trainer.batch_size))   # same as the CLI
  from thesis_jax.monitoring import figure_hook
  from thesis_jax.tracking import tracker_hook
  from thesis_jax.train.driver import train
  # figures first: the trackers send this event's figures with it
  hooks = [h for h in (figure_hook(config.logging), tracker_hook(config),
                       on_event) if h is not None]

  def each(moment, payload, context):
    for h in hooks:
      h(moment, payload, context)
  return train(config, overrides, on_event=each if hooks else None)


def get_config(name: str = "default", kind: str = "train"):
  """A bundled config by name ('default', 'gan_ae:smoke', ...) or file path;
  kind: train | sweep | report (see thesis_jax/config_files.py)."""
  from thesis_jax.config_files import load
  return load(name, kind)[0]
