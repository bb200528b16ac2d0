"""The trials of a hyperparameter search (experiments.search).

  python -m experiments.report --config configs/reports/search.py \
      --config.inputs.sweep_dir=outputs/multiruns/search_20260101-120000_search_vq_ae
"""
from configs.reports.base import base_config


def get_config(arg: str = ""):
  c = base_config("search")
  if arg:
    raise ValueError(f"configs/reports/search.py: unknown variant '{arg}'")
  return c
