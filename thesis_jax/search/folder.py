"""The `search_` folder: search.json, the frozen base config, the study.

  {output_root}/multiruns/search_{stamp}_{name}/
    search.json         space, objective, pruner, trial budget, axis -> key
    base_config.json    resolved base training config (+ base_config.py)
    study.db            the Optuna study (SQLite; every worker shares it)
    runs/run_{stamp}_{name}_job{N}/   trial N's run folder (facts as usual)
    logs/worker{K}.log  local parallel workers / cluster tasks

The folder reads like a sweep's: report and facts readers find the runs in
`runs/`, and each run's `overrides.yaml` holds its trial's parameters.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

from thesis_jax.errors import ConfigError
from thesis_jax.facts.writers import atomic_write
from thesis_jax.search.space import check_space
from thesis_jax.sweeps import basecfg, state
from thesis_jax.sweeps.plan import check_base
from thesis_jax.train import rundir

SEARCH_JSON = "search.json"
STUDY_DB = "study.db"
SCHEMA = 1
DEFAULTS = {"n_trials": 20, "objective": "val_loss", "direction": "minimize",
            "pruner": "median", "n_startup_trials": 5, "n_warmup_steps": 1,
            "sampler_seed": 0}
PRUNERS = ("median", "none")
DIRECTIONS = ("minimize", "maximize")


def check_search(search_cfg) -> Dict[str, Any]:
  """`search` block -> plain settings with defaults; ConfigError if bad."""
  raw = dict(search_cfg.to_dict() if hasattr(search_cfg, "to_dict")
             else (search_cfg or {}))
  unknown = set(raw) - set(DEFAULTS)
  if unknown:
    raise ConfigError(f"search: unknown key(s) {', '.join(sorted(unknown))} "
                      f"(valid: {', '.join(DEFAULTS)})")
  s = dict(DEFAULTS, **raw)
  if int(s["n_trials"]) < 1:
    raise ConfigError(f"search.n_trials must be >= 1, got {s['n_trials']}")
  if s["direction"] not in DIRECTIONS:
    raise ConfigError(f"search.direction: '{s['direction']}' is not one of "
                      f"{', '.join(DIRECTIONS)}")
  if s["pruner"] not in PRUNERS:
    raise ConfigError(f"search.pruner: '{s['pruner']}' is not one of "
                      f"{', '.join(PRUNERS)}")
  if not str(s["objective"]).strip():
    raise ConfigError("search.objective: give a history key, e.g. val_loss")
  for k in ("n_trials", "n_startup_trials", "n_warmup_steps", "sampler_seed"):
    s[k] = int(s[k])
  return s


def create_search(search_config, source: str = ""):
  """Checks the search config, creates the folder; -> (search_dir, spec)."""
  base = check_base(search_config, "search", ("base", "space"))
  from thesis_jax.train.config_check import validate_config
  validate_config(base)
  from thesis_jax.search.study import require_optuna
  require_optuna()                # a clear error before any folder is made
  keys = check_space(search_config.space, base)
  settings = check_search(search_config.get("search", {}))
  name = base.experiment.name
  stamp = rundir.timestamp()
  sdir = state.new_exp_dir(base.logging.output_root, name, stamp, "search")
  run_prefix = f"run_{stamp}_{name}"
  basecfg.write_base(sdir, base, run_prefix)
  spec = {"schema_version": SCHEMA, "name": name, "stamp": stamp,
          "created": state.now_iso(), "search_config": source,
          "base_config": basecfg.BASE_PY, "run_prefix": run_prefix,
          "study": STUDY_DB, "study_name": f"{name}_{stamp}",
          "space": search_config.space.to_dict(), "keys": keys,
          "search": settings}
  write_spec(sdir, spec)
  from thesis_jax.search.study import open_study
  open_study(sdir, spec)   # tables + study now, before workers race for them
  return sdir, spec


def write_spec(sdir: str, spec: Dict[str, Any]) -> None:
  atomic_write(os.path.join(sdir, SEARCH_JSON), json.dumps(spec, indent=1))


def read_spec(sdir: str) -> Dict[str, Any]:
  return state.read_json(sdir, SEARCH_JSON, "search")


def trial_run_dir(sdir: str, spec: Dict[str, Any], number: int) -> str:
  return basecfg.job_run_dir(sdir, spec["run_prefix"], number)


def storage_url(sdir: str) -> str:
  return "sqlite:///" + os.path.join(os.path.abspath(sdir), STUDY_DB)
