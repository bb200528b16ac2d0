"""Search the default VQ autoencoder's learning rate, latent size, codebook
size and loss weights (Optuna TPE sampler, median pruner).

  thesis-jax search --config vq_ae
  thesis-jax search --config vq_ae:smoke      # 6 tiny trials, minutes on a CPU
  thesis-jax search --config vq_ae --parallel 2 --config.search.n_trials=40 \
      --config.base.data.path=tests/data/cms_hzz_tokens.h5

space: parameter (a sweep axis name, or a dotted key written with `__`) ->
  {"type": "float"|"int", "low", "high", "log" (bool), "step" (int only)}
  or {"type": "categorical", "choices": (...)}.
search: n_trials (all workers together), objective (a history key: val_loss,
  rec_tokens, perplex, ...), direction (minimize|maximize), pruner
  (median|none), n_startup_trials / n_warmup_steps (median pruner: trials
  and epochs before it prunes), sampler_seed.
"""
import ml_collections

from thesis_jax.config_files import sibling

training_config = sibling(__file__, "../default").get_config


def get_config(arg: str = ""):
  c = ml_collections.ConfigDict()
  c.base = training_config("tiny" if arg in ("smoke", "tiny") else "")
  c.base.experiment.name = "search_vq_ae"
  c.base.logging.progress = arg != "tiny"
  c.space = ml_collections.ConfigDict({
      "lr": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
      "latent_dim": {"type": "int", "low": 4, "high": 32, "log": True},
      "codebook_size": {"type": "categorical", "choices": (64, 128, 256, 512)},
      "beta": {"type": "float", "low": 0.1, "high": 1.0},
      "globals_beta": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
  })
  c.search = ml_collections.ConfigDict({
      "n_trials": 20, "objective": "val_loss", "direction": "minimize",
      "pruner": "median", "n_startup_trials": 5, "n_warmup_steps": 1,
      "sampler_seed": 0})
  if arg in ("smoke", "tiny"):   # sizes that fit the tiny model
    c.space.codebook_size.choices = (16, 32, 64)
    c.space.latent_dim.high = 16
  if arg == "smoke":
    c.search.update(n_trials=6, n_startup_trials=2)
    c.base.phase1.trainer.epochs = 3
  elif arg == "tiny":      # the tests' search: 1 epoch per trial
    c.search.update(n_trials=4, n_startup_trials=1, n_warmup_steps=0)
    c.base.phase1.trainer.epochs = 1
  elif arg:
    raise ValueError(f"configs/search/vq_ae.py: unknown variant '{arg}' "
                     "(valid: smoke, tiny)")
  return c
