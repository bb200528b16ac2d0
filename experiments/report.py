"""Build a report over finished runs.

  python -m experiments.report --config configs/reports/compare_tokenizers.py \
      --config.inputs.sweep_dir=outputs/multiruns/exp_20261127-013228_compare_latent_spaces
  python -m experiments.report --config configs/reports/compare_globals_heads.py \
      --config.inputs.run_dirs=outputs/runs/run_A,outputs/runs/run_B \
      --config.inference.enabled=True
"""
from absl import flags
from ml_collections import config_flags

from thesis_jax.cli import run_main

_CONFIG = config_flags.DEFINE_config_file("config", None, "Report config file.",
                                          lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  from thesis_jax.reports import run_report
  result = run_report(_CONFIG.value)
  print(result.text)


if __name__ == "__main__":
  run_main(main)
