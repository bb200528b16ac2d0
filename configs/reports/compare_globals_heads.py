"""The latent space x globals_beta grid (x seeds) of `compare_globals_heads`.

  python -m experiments.report --config configs/reports/compare_globals_heads.py \
      --config.inputs.sweep_dir=outputs/multiruns/exp_20261127-013228_compare_globals_heads
  python -m experiments.report --config configs/reports/compare_globals_heads.py \
      --config.inputs.run_dirs=outputs/runs/run_A,outputs/runs/run_B \
      --config.inference.enabled=True
"""
from thesis_jax.config_files import sibling

base_config = sibling(__file__, "base").base_config


def get_config(arg: str = ""):
  return base_config("compare_globals_heads", arg)
