"""Sweep: latent space none / linear / vq, 20 epochs each (3 runs).

  python -m experiments.sweep --config configs/experiments/compare_latent_spaces.py
  python -m experiments.sweep --config configs/experiments/compare_latent_spaces.py \
      --parallel 2 --config.base.data.path=tests/data/cms_hzz_tokens.h5
  python -m experiments.sweep --config configs/experiments/compare_latent_spaces.py:smoke

Then: python -m experiments.report --config configs/reports/compare_tokenizers.py \
          --config.inputs.sweep_dir=<exp folder>
`:smoke`: tiny model, 1 epoch. Axes map to training keys as listed in
thesis_jax/sweeps/grid.py (ALIASES).
"""
import ml_collections

from thesis_jax.config_files import sibling

training_base = sibling(__file__, "__init__").training_base


def get_config(arg: str = ""):
  if arg not in ("", "smoke"):
    raise ValueError(f"compare_latent_spaces: unknown variant '{arg}' "
                     "(valid: smoke)")
  c = ml_collections.ConfigDict()
  c.base = training_base("compare_latent_spaces", 20, smoke=arg == "smoke")
  c.grid = ml_collections.ConfigDict({"latent_space": ("none", "linear", "vq")})
  c.axes = ("latent_space",)
  c.report = "compare_tokenizers"   # a report config name
  return c
