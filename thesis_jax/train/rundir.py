"""Run folders (spec §3): naming, creation, config snapshot, overrides."""
from __future__ import annotations

import datetime
import glob
import os
from typing import Optional, Sequence

import yaml

from thesis_jax.config_tools import from_plain, to_plain
from thesis_jax.errors import OutputError
from thesis_jax.facts.schema import iter_events


def timestamp() -> str:
  return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def new_run_dir(output_root: str, name: str, stamp: Optional[str] = None) -> str:
  """`{output_root}/runs/run_{YYYYmmdd-HHMMSS}_{name}` (suffix _2, _3 on clash)."""
  base = os.path.join(output_root, "runs", f"run_{stamp or timestamp()}_{name}")
  path, i = base, 1
  while os.path.exists(path):
    i += 1
    path = f"{base}_{i}"
  return path


def ensure_writable_dir(path: str, key: str) -> None:
  """Creates `path` (and parents) or raises OutputError naming `key`."""
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, ".write_test")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise OutputError(f"{path}: cannot write the output folder ({key}): "
                      f"{e.strerror or e}") from None




def write_config(run_dir: str, config, overrides: Sequence[str],
                 typed_paths: Optional[dict] = None) -> None:
  """`cfg.yaml` (full resolved config, absolute paths; a comment header
  keeps each path as typed) and `overrides.yaml` (a YAML list of
  `key=value` strings, like Hydra's, that made this run)."""
  with open(os.path.join(run_dir, "cfg.yaml"), "w") as f:
    if typed_paths:
      f.write(f"# paths made absolute against {os.getcwd()}; as typed:\n")
      f.writelines(f"#   {k}: {v}\n" for k, v in typed_paths.items())
    yaml.safe_dump(to_plain(config), f, sort_keys=False)
  with open(os.path.join(run_dir, "overrides.yaml"), "w") as f:
    yaml.safe_dump(list(overrides), f, default_flow_style=False)


def read_overrides(run_dir: str) -> list:
  path = os.path.join(run_dir, "overrides.yaml")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(yaml.safe_load(f) or [])


def is_finished(run_dir: str) -> bool:
  """True once the run's facts hold `on_train_end`."""
  return any(ev.get("moment") == "on_train_end" for ev in iter_events(run_dir))


def latest_unfinished(output_root: str, name: str) -> Optional[str]:
  """Newest `run_*_{name}` folder under output_root/runs without on_train_end."""
  cands = sorted(glob.glob(os.path.join(output_root, "runs", f"run_*_{name}")))
  for path in reversed(cands):
    if not is_finished(path):
      return path
  return None


def load_config(run_dir: str):
  """`cfg.yaml` -> ConfigDict (lists back to tuples, as in configs/*.py)."""
  path = os.path.join(run_dir, "cfg.yaml")
  if not os.path.exists(path):
    raise OutputError(f"{run_dir}: not a thesis_jax run folder (no cfg.yaml)")
  with open(path) as f:
    return from_plain(yaml.safe_load(f))
