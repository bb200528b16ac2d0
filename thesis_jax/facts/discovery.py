"""Finding run folders: single runs and the jobs of a sweep.

Layouts: `{output_root}/multiruns/exp_{stamp}_{name}/` with the jobs either
inside it (`runs/run_{stamp}_{name}_job{N}/`, thesis_jax sweeps) or next to
`multiruns/` (`{output_root}/runs/run_{stamp}_{name}_job{N}/`, the original);
a `sweep.json` job list; or any folder whose children are run folders.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
from typing import List

from thesis_jax.errors import ConfigError

log = logging.getLogger("thesis_jax.facts")
_JOB = re.compile(r"_job(\d+)$")
_EXP = re.compile(r"^exp_(\d{8}-\d{6})_(.+)$")


def is_run_dir(path: str) -> bool:
  return (os.path.isdir(os.path.join(path, "facts"))
          or os.path.isfile(os.path.join(path, "cfg.yaml"))
          or os.path.isfile(os.path.join(path, ".hydra", "config.yaml")))


def _run_children(folder: str) -> List[str]:
  if not os.path.isdir(folder):
    return []
  return [p for p in (os.path.join(folder, n) for n in sorted(os.listdir(folder)))
          if os.path.isdir(p) and is_run_dir(p)]


def discover_runs(sweep_dir: str) -> List[str]:
  """Run folders of a sweep: `{sweep}/runs/*`, the jobs
  `{output_root}/runs/run_{stamp}_{name}_job*` next to `multiruns/`, runs in
  `sweep.json`, else run folders directly inside `sweep_dir`."""
  if not os.path.isdir(sweep_dir):
    raise ConfigError(f"inputs.sweep_dir: {sweep_dir}: no such folder")
  if is_run_dir(sweep_dir):
    return [sweep_dir]
  found = _run_children(os.path.join(sweep_dir, "runs"))
  looked = [os.path.join(sweep_dir, "runs")]
  m = _EXP.match(os.path.basename(os.path.normpath(sweep_dir)))
  if m:
    sib = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(sweep_dir))), "runs", f"run_{m[1]}_{m[2]}_job*")
    looked.append(sib)
    found += [p for p in sorted(glob.glob(sib)) if is_run_dir(p)]
  sj = os.path.join(sweep_dir, "sweep.json")
  if os.path.isfile(sj):
    try:
      with open(sj) as f:
        jobs = json.load(f).get("jobs", [])
      paths = [os.path.join(sweep_dir, j["run_dir"]) for j in jobs
               if isinstance(j, dict) and j.get("run_dir")]   # relative: to sweep
      found += [p for p in paths if is_run_dir(p)]
    except (OSError, ValueError, AttributeError):
      log.warning("%s: unreadable sweep.json, ignored", sj)
  if not found:
    found = _run_children(sweep_dir)
    looked.append(os.path.join(sweep_dir, "*"))
  if not found:
    raise ConfigError(f"inputs.sweep_dir: no run folders found for {sweep_dir} "
                      f"(looked in {', '.join(looked)})")
  return found


def order_key(path: str):
  """Sort key: folder name without `_jobN`, then N numerically."""
  m = _JOB.search(os.path.basename(os.path.normpath(path)))
  base = _JOB.sub("", os.path.normpath(path))
  return (base, int(m[1]) if m else -1)
