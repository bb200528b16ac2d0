"""Experiment config -> a new `exp_` folder with sweep.json and the base config.

An experiment config (configs/experiments/*.py) is a ConfigDict with
  base  a full training config (configs/default.py's keys),
  grid  axis name -> tuple of values (see thesis_jax.sweeps.grid),
  axes  (optional) the axis order, first slowest; other axes follow sorted,
  report (optional) the report config to run on the finished sweep.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

from thesis_jax.errors import ConfigError
from thesis_jax.sweeps import basecfg, grid, state
from thesis_jax.train import rundir


def check_base(config, what: str, parts: Tuple[str, ...]):
  """A sweep's or search's config: has `parts`; its base has no fixed run
  folder and no resume. -> the base training config."""
  for k in parts:
    if k not in config:
      raise ConfigError(f"{what} config: missing '{k}' (a {what} config "
                        f"needs {', '.join(parts)})")
  base = config.base
  if base.logging.run_dir:
    raise ConfigError(f"base.logging.run_dir must be empty in a {what}: each "
                      "job gets its own run folder")
  if base.phase1.trainer.resume:
    raise ConfigError(f"base.phase1.trainer.resume must be False; resume a "
                      f"{what} with --resume <its folder>")
  return base


def plan_jobs(exp_config) -> Tuple[List[str], Dict[str, str], Dict[str, list],
                                   List[dict]]:
  """Checks the experiment config and every job's training config (before
  anything runs); -> grid.expand's (axes, keys, values, params list)."""
  base = check_base(exp_config, "sweep", ("base", "grid"))
  axes, keys, values, params = grid.expand(
      exp_config.grid, base, tuple(exp_config.get("axes", ()) or ()))
  from thesis_jax.monitoring import check_figures
  from thesis_jax.train.config_check import validate_config
  for i, p in enumerate(params):
    try:
      job = grid.apply_params(base, p, keys)
      validate_config(job)
      check_figures(job.logging)
    except ConfigError as e:
      raise ConfigError(f"job {i} ({', '.join(grid.job_overrides(p, keys))})"
                        f": {e}") from None
  return axes, keys, values, params


def create_sweep(exp_config, launcher: str = "local", source: str = ""
                 ) -> Tuple[str, Dict[str, Any]]:
  """Creates the exp folder, base_config.{json,py} and sweep.json.

  -> (exp_dir, sweep dict). `source` is the experiment config path (recorded).
  """
  axes, keys, values, params = plan_jobs(exp_config)
  base = exp_config.base
  name = base.experiment.name
  stamp = rundir.timestamp()
  exp_dir = state.new_exp_dir(base.logging.output_root, name, stamp)
  run_prefix = f"run_{stamp}_{name}"
  basecfg.write_base(exp_dir, base, run_prefix)
  jobs = []
  for i, p in enumerate(params):
    jobs.append({
        "job": i, "params": p, "overrides": grid.job_overrides(p, keys),
        "run_dir": os.path.relpath(basecfg.job_run_dir(exp_dir, run_prefix, i),
                                   exp_dir),
        "log": os.path.join("logs", f"job{i}.log"), "status": "pending",
        "returncode": None, "time_s": None, "best_val_loss": None,
        "attempts": 0})
  sweep = {
      "schema_version": state.SCHEMA, "name": name, "stamp": stamp,
      "created": state.now_iso(), "experiment_config": source,
      "base_config": basecfg.BASE_PY, "run_prefix": run_prefix,
      "launcher": launcher, "report": str(exp_config.get("report", "") or ""),
      "axes": axes, "keys": keys, "grid": values, "jobs": jobs}
  state.write_sweep(exp_dir, sweep)
  return exp_dir, sweep
