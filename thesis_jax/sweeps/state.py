"""The `exp_` folder and its `sweep.json` (spec §3, §6).

  {output_root}/multiruns/exp_{stamp}_{name}/
    sweep.json          grid, axis -> key, jobs (params, overrides, run_dir,
                        status, returncode, time_s, best_val_loss, log)
    base_config.json    resolved base training config (+ base_config.py)
    runs/run_{stamp}_{name}_job{N}/   each job's run folder
    logs/job{N}.log     each job's stdout + stderr
    slurm_array.sh | htcondor.sub + htcondor_job.sh   (launcher mode)

Job status: pending | running | done | failed | interrupted. `run_dir` and
`log` are relative to the exp folder, so the folder can be moved.
"""
from __future__ import annotations

import datetime
import json
import math
import os
from typing import Any, Dict, Optional

from thesis_jax.errors import OutputError
from thesis_jax.facts.schema import iter_events
from thesis_jax.train import rundir

SWEEP_JSON = "sweep.json"
SCHEMA = 1


def new_exp_dir(output_root: str, name: str, stamp: str) -> str:
  """Creates `{output_root}/multiruns/exp_{stamp}_{name}` (suffix _2 on clash)."""
  base = os.path.join(os.path.abspath(output_root), "multiruns",
                      f"exp_{stamp}_{name}")
  path, i = base, 1
  while os.path.exists(path):
    i += 1
    path = f"{base}_{i}"
  rundir.ensure_writable_dir(path, "base.logging.output_root")
  os.makedirs(os.path.join(path, "runs"), exist_ok=True)
  os.makedirs(os.path.join(path, "logs"), exist_ok=True)
  return path


def now_iso() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_sweep(exp_dir: str, sweep: Dict[str, Any]) -> None:
  """Atomic rewrite of sweep.json (a reader never sees half a file)."""
  path = os.path.join(exp_dir, SWEEP_JSON)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(sweep, f, indent=1)
  os.replace(tmp, path)


def read_sweep(exp_dir: str) -> Dict[str, Any]:
  path = os.path.join(exp_dir, SWEEP_JSON)
  if not os.path.exists(path):
    raise OutputError(f"{exp_dir}: not a sweep folder (no {SWEEP_JSON})")
  with open(path) as f:
    return json.load(f)


def has_checkpoint(run_dir: str) -> bool:
  """True if an Orbax epoch folder was completed (tmp folders do not count)."""
  ck = os.path.join(run_dir, "checkpoints")
  return os.path.isdir(ck) and any(n.isdigit() for n in os.listdir(ck))


def run_outcome(run_dir: str) -> Dict[str, Any]:
  """From a run's facts: finished?, best val loss, total training time."""
  out: Dict[str, Any] = {"finished": False, "best_val_loss": None,
                         "total_time_s": None}
  for ev in iter_events(run_dir):
    if ev.get("moment") == "on_epoch_end":
      v = ev.get("val_loss")
      if v is not None and (out["best_val_loss"] is None
                            or v < out["best_val_loss"]):
        out["best_val_loss"] = v
      out["total_time_s"] = ev.get("total_time_s")
    elif ev.get("moment") == "on_train_end":
      out["finished"] = True
      out["best_val_loss"] = ev.get("best_val_loss", out["best_val_loss"])
      out["total_time_s"] = ev.get("total_time_s")
  return out


def job_path(exp_dir: str, job: Dict[str, Any], field: str = "run_dir") -> str:
  return os.path.join(exp_dir, job[field])


def fmt_num(x: Optional[float], spec: str = ".5g") -> str:
  if x is None or (isinstance(x, float) and not math.isfinite(x)):
    return "-"
  return format(x, spec)
