"""Train one model.

  python -m experiments.train --config configs/default.py
  python -m experiments.train --config configs/default.py \
      --config.data.path=tests/data/cms_hzz_tokens.h5 \
      --config.phase1.latent_space.name=vq --config.phase1.trainer.epochs=20
"""
import sys

from absl import flags
from ml_collections import config_flags

from thesis_jax.cli import config_overrides, run_main

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.",
                                          lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  from thesis_jax.train.host_devices import configure_host_devices
  configure_host_devices(int(_CONFIG.value.phase1.trainer.batch_size))
  import thesis_jax
  result = thesis_jax.train(_CONFIG.value, config_overrides(sys.argv))
  print(f"run folder: {result.run_dir}")


if __name__ == "__main__":
  run_main(main)
