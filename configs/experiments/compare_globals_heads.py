"""Sweep: latent space x globals_beta x seed, 50 epochs (3 x 3 x 3 = 27 runs).

  python -m experiments.sweep --config configs/experiments/compare_globals_heads.py
  python -m experiments.sweep --config configs/experiments/compare_globals_heads.py \
      --config.base.data.path=tests/data/cms_hzz_tokens.h5 --config.grid.seed=0,1
  python -m experiments.sweep --config configs/experiments/compare_globals_heads.py:smoke

Then: python -m experiments.report --config configs/reports/compare_globals_heads.py \
          --config.inputs.sweep_dir=<exp folder>
`:smoke`: tiny model, 1 epoch, latent space x globals_beta {0, 1} x seed {0} (6 jobs).
Axes map to training keys as listed in thesis_jax/sweeps/grid.py (ALIASES).
"""
import ml_collections

from thesis_jax.config_files import sibling

training_base = sibling(__file__, "__init__").training_base


def get_config(arg: str = ""):
  if arg not in ("", "smoke"):
    raise ValueError(f"compare_globals_heads: unknown variant '{arg}' "
                     "(valid: smoke)")
  c = ml_collections.ConfigDict()
  c.base = training_base("compare_globals_heads", 50, smoke=arg == "smoke")
  c.grid = ml_collections.ConfigDict({
      "latent_space": ("none", "linear", "vq"),
      "globals_beta": (0.0, 1.0, 10.0),
      "seed": (0, 1, 2)})
  if arg == "smoke":
    c.grid.update(globals_beta=(0.0, 1.0), seed=(0,))
  c.axes = ("latent_space", "globals_beta", "seed")   # first slowest
  c.report = "compare_globals_heads"   # a report config name
  return c
