"""The trials of a hyperparameter search (experiments.search).

  thesis-jax report --config search \
      --config.inputs.sweep_dir=outputs/multiruns/search_20260101-120000_search_vq_ae
"""
from thesis_jax.config_files import sibling

base_config = sibling(__file__, "base").base_config


def get_config(arg: str = ""):
  return base_config("search", arg)
