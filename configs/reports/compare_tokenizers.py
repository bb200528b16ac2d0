"""Compare runs by tokenizer (latent space none / linear / vq).

  python -m experiments.report --config configs/reports/compare_tokenizers.py \
      --config.inputs.sweep_dir=outputs/multiruns/exp_20261127-013228_compare_latent_spaces
  python -m experiments.report --config configs/reports/compare_tokenizers.py \
      --config.inputs.run_dirs=outputs/runs/run_A,outputs/runs/run_B \
      --config.select.tokenizer=vq,linear --config.inference.enabled=True
"""
import ml_collections

from thesis_jax.config_files import sibling

base_config = sibling(__file__, "base").base_config


def get_config(arg: str = ""):
  c = base_config("compare_tokenizers", arg)
  # time_to_threshold: val loss level; <= 0 -> the worst best val loss of the runs
  c.thresholds = ml_collections.ConfigDict({"val_loss": 0.0})
  return c
