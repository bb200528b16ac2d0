"""Run folders (the original's layout): naming, creation, config snapshot, overrides."""
from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import tempfile
from typing import Optional, Sequence

import yaml

from thesis_jax.config_tools import from_plain, read_yaml, to_plain
from thesis_jax.errors import ConfigError, OutputError
from thesis_jax.facts.schema import iter_events
from thesis_jax.facts.writers import atomic_write


def timestamp() -> str:
  return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
NAME_RULE = ("1-100 characters from A-Z a-z 0-9 . _ + -, starting with a "
             "letter or digit")


def check_name(name, key: str) -> str:
  """A name that becomes part of folder names and launcher scripts: raises
  ConfigError naming `key` unless it is NAME_RULE (so no spaces, quotes,
  newlines or shell metacharacters can reach a path or a script)."""
  text = str(name) if name is not None else ""
  if not NAME_RE.fullmatch(text):
    raise ConfigError(f"{key}: invalid name {text!r}; use {NAME_RULE}")
  return text


def create_unique_dir(base: str, key: str) -> str:
  """Creates `base`, or `base_2`, `base_3`, ... if taken; -> the new path.

  `os.mkdir` without exist_ok is atomic: of two processes racing for one
  name exactly one gets it and the other moves on to the next suffix, so two
  runs never share a folder. Raises OutputError naming `key` if the parent
  cannot be created or written.
  """
  parent = os.path.dirname(os.path.abspath(base))
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise OutputError(f"{parent}: cannot write the output folder ({key}): "
                      f"{e.strerror or e}") from None
  for i in itertools.count(1):
    path = base if i == 1 else f"{base}_{i}"
    try:
      os.mkdir(path)
      return path
    except FileExistsError:
      continue
    except OSError as e:
      raise OutputError(f"{path}: cannot write the output folder ({key}): "
                        f"{e.strerror or e}") from None
  raise AssertionError("unreachable")


def new_run_dir(output_root: str, name: str, stamp: Optional[str] = None) -> str:
  """Creates `{output_root}/runs/run_{YYYYmmdd-HHMMSS}_{name}` (suffix _2,
  _3 on clash, see create_unique_dir); -> its path."""
  base = os.path.join(output_root, "runs", f"run_{stamp or timestamp()}_{name}")
  return create_unique_dir(base, "logging.output_root")


def ensure_writable_dir(path: str, key: str) -> None:
  """Creates `path` (and parents) or raises OutputError naming `key`.

  The probe file has a unique name, so concurrent starts never remove each
  other's probe.
  """
  try:
    os.makedirs(path, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write_test_", dir=path)
    try:
      os.write(fd, b"ok")
    finally:
      os.close(fd)
      os.remove(probe)
  except OSError as e:
    raise OutputError(f"{path}: cannot write the output folder ({key}): "
                      f"{e.strerror or e}") from None




def write_config(run_dir: str, config, overrides: Sequence[str],
                 typed_paths: Optional[dict] = None,
                 normalization: Optional[dict] = None) -> None:
  """`cfg.yaml` (full resolved config, absolute paths; a comment header
  keeps each path as typed), `overrides.yaml` (a YAML list of `key=value`
  strings, like Hydra's, that made this run) and `normalization.json`
  (Normalizer.to_dict, if given). Each file is written whole or not at all;
  a failure (full disk) is one line naming the folder."""
  head = ""
  if typed_paths:
    head = f"# paths made absolute against {os.getcwd()}; as typed:\n"
    head += "".join(f"#   {k}: {v}\n" for k, v in typed_paths.items())
  try:
    atomic_write(os.path.join(run_dir, "cfg.yaml"),
                 head + yaml.safe_dump(to_plain(config), sort_keys=False))
    atomic_write(os.path.join(run_dir, "overrides.yaml"),
                 yaml.safe_dump(list(overrides), default_flow_style=False))
    if normalization is not None:
      atomic_write(os.path.join(run_dir, "normalization.json"),
                   json.dumps(normalization, indent=2))
  except OSError as e:
    raise OutputError(f"{run_dir}: cannot write the config snapshot: "
                      f"{e.strerror or e}") from None


def read_overrides(run_dir: str) -> list:
  path = os.path.join(run_dir, "overrides.yaml")
  if not os.path.exists(path):
    return []
  return [str(o) for o in read_yaml(path, list)]


def is_finished(run_dir: str) -> bool:
  """True once the run's facts hold `on_train_end`."""
  return any(ev.get("moment") == "on_train_end" for ev in iter_events(run_dir))


def load_config(run_dir: str):
  """`cfg.yaml` -> ConfigDict (lists back to tuples, as in configs/*.py)."""
  path = os.path.join(run_dir, "cfg.yaml")
  if not os.path.exists(path):
    raise OutputError(f"{run_dir}: not a thesis_jax run folder (no cfg.yaml)")
  return from_plain(read_yaml(path, dict))
