"""The sweep's base training config, frozen into the `exp_` folder.

Jobs do not re-read the experiment config file (it may change while a sweep
waits in a cluster queue): the resolved base config (experiment defaults plus
every `--config.base.*` flag) is written once to `base_config.json`, beside a
tiny `base_config.py` that any training command can load:

  thesis-jax train --config {exp}/base_config.py:job3 \
      --config.phase1.latent_space.name=vq ...

`:jobN` sets `logging.run_dir` to `{exp}/run_{stamp}_{name}_jobN`, so the
only `--config.*` flags of a job, and therefore its `overrides.yaml`, are the
swept ones. The folder can be moved: paths are found from the file's location.
"""
from __future__ import annotations

import json
import os
import re

from thesis_jax.errors import ConfigError, OutputError

BASE_JSON = "base_config.json"
BASE_PY = "base_config.py"

_PY = '''"""Base training config of sweep {exp_name} (written by thesis-jax sweep).

  thesis-jax train --config {exp_name}/base_config.py:job0 [--config.key=value ...]

get_config(""): the resolved base config (base_config.json);
get_config("jobN"): the same with logging.run_dir = {run_prefix}_jobN here.
"""
import os

from thesis_jax.sweeps.basecfg import load_base


def get_config(arg=""):
  return load_base(os.path.dirname(os.path.abspath(__file__)), arg)
'''

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple": tuple}


def _typed_nones(config, prefix=""):
  """Dotted keys of None-valued fields -> their declared type name."""
  out = {}
  for k in config.keys():
    v = config[k]
    key = f"{prefix}{k}"
    if hasattr(v, "keys"):
      out.update(_typed_nones(v, key + "."))
    elif v is None and hasattr(config, "get_ref"):
      t = config.get_ref(k).get_type()
      if t is not None and t.__name__ in _TYPES:
        out[key] = t.__name__
  return out


def write_base(exp_dir: str, base, run_prefix: str) -> str:
  """Writes base_config.json/.py into `exp_dir`; -> path of the .py file."""
  from thesis_jax.config_tools import to_plain as config_to_dict
  payload = {"run_prefix": run_prefix, "config": config_to_dict(base),
             "none_types": _typed_nones(base)}
  with open(os.path.join(exp_dir, BASE_JSON), "w") as f:
    json.dump(payload, f, indent=1)
  path = os.path.join(exp_dir, BASE_PY)
  with open(path, "w") as f:
    f.write(_PY.format(exp_name=os.path.basename(exp_dir), run_prefix=run_prefix))
  return path


def job_run_dir(exp_dir: str, run_prefix: str, job: int) -> str:
  """`{exp}/run_{stamp}_{name}_job{N}`: a direct child of the exp folder, where
  both readers look (thesis-ml's finds a sweep's jobs at
  `{output_root}/runs/run_{stamp}_{name}_job{N}` or as direct children of the
  `exp_` folder; `exp_*/runs/` only thesis_jax's reader sees), and the sweep
  stays one self-contained folder."""
  return os.path.join(exp_dir, f"{run_prefix}_job{job}")


def load_base(exp_dir: str, arg: str = ""):
  """base_config.json -> ConfigDict (lists back to tuples); `arg` "jobN"
  also sets logging.run_dir to that job's run folder."""
  import ml_collections
  from thesis_jax.config_tools import from_plain, set_dotted
  path = os.path.join(exp_dir, BASE_JSON)
  if not os.path.exists(path):
    raise OutputError(f"{exp_dir}: not a sweep folder (no {BASE_JSON})")
  with open(path) as f:
    payload = json.load(f)
  cfg = from_plain(payload["config"])
  for key, tname in payload.get("none_types", {}).items():
    set_dotted(cfg, key, ml_collections.FieldReference(None, field_type=_TYPES[tname]))
  if arg:
    m = re.fullmatch(r"job(\d+)", arg)
    if not m:
      raise ConfigError(f"{path}: unknown config argument '{arg}' (use jobN)")
    cfg.logging.run_dir = job_run_dir(exp_dir, payload["run_prefix"],
                                      int(m.group(1)))
  return cfg
