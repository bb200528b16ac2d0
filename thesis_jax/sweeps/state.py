"""The `exp_` folder and its `sweep.json` (the original's layout).

  {output_root}/multiruns/exp_{stamp}_{name}/
    sweep.json          grid, axis -> key, jobs (params, overrides, run_dir,
                        status, returncode, time_s, best_val_loss, log)
    base_config.json    resolved base training config (+ base_config.py)
    run_{stamp}_{name}_job{N}/   each job's run folder (sweeps before Dec
                        2026: runs/run_..._job{N}/; both are read)
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
from thesis_jax.facts.writers import atomic_write
from thesis_jax.train import rundir

SWEEP_JSON = "sweep.json"
SCHEMA = 1


def new_exp_dir(output_root: str, name: str, stamp: str,
                prefix: str = "exp") -> str:
  """Creates `{output_root}/multiruns/{prefix}_{stamp}_{name}` (suffix _2 on
  clash); prefix "search" for hyperparameter searches."""
  base = os.path.join(os.path.abspath(output_root), "multiruns",
                      f"{prefix}_{stamp}_{name}")
  path = rundir.create_unique_dir(base, "base.logging.output_root")
  rundir.ensure_writable_dir(path, "base.logging.output_root")
  os.makedirs(os.path.join(path, "logs"), exist_ok=True)
  return path


def now_iso() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_sweep(exp_dir: str, sweep: Dict[str, Any]) -> None:
  """Atomic rewrite of sweep.json (a reader never sees half a file)."""
  atomic_write(os.path.join(exp_dir, SWEEP_JSON), json.dumps(sweep, indent=1))


def read_json(folder: str, name: str, what: str) -> Dict[str, Any]:
  """`{folder}/{name}` parsed; OutputError (one line) if absent or broken."""
  path = os.path.join(folder, name)
  if not os.path.exists(path):
    raise OutputError(f"{folder}: not a {what} folder (no {name})")
  try:
    with open(path) as f:
      return json.load(f)
  except ValueError as e:
    raise OutputError(f"{path}: not valid JSON ({e})") from None


def read_sweep(exp_dir: str) -> Dict[str, Any]:
  sweep = read_json(exp_dir, SWEEP_JSON, "sweep")
  check_jobs(exp_dir, sweep)
  return sweep


# keys a job's overrides may not set: they would move its outputs out of the
# sweep folder or change how it starts
_RESERVED = ("logging.run_dir", "logging.output_root", "phase1.trainer.resume")


def check_jobs(exp_dir: str, sweep: Dict[str, Any]) -> None:
  """Raises OutputError (one line naming sweep.json and the job) unless every
  job's run_dir is a `run_*` folder directly inside the exp folder (or its
  `runs/`, the older layout), its log inside `logs/`, and its overrides leave
  _RESERVED alone: a hand-edited or hostile sweep.json must never make
  --resume delete or write outside the sweep folder."""
  where = os.path.join(exp_dir, SWEEP_JSON)
  jobs = sweep.get("jobs") if isinstance(sweep, dict) else None
  if not isinstance(jobs, list):
    raise OutputError(f"{where}: no 'jobs' list")
  for n, job in enumerate(jobs):
    if not isinstance(job, dict) or job.get("job") != n:
      raise OutputError(f"{where}: jobs[{n}] is not job {n}")
    _inside(exp_dir, ("", "runs"), "run_", job.get("run_dir"),
            f"{where}: job {n} run_dir")
    _inside(exp_dir, ("logs",), "", job.get("log"), f"{where}: job {n} log")
    ovs = job.get("overrides")
    if not isinstance(ovs, list) or not all(isinstance(o, str) for o in ovs):
      raise OutputError(f"{where}: job {n} overrides must be a list of strings")
    for o in ovs:
      if o.split("=", 1)[0].strip() in _RESERVED:
        raise OutputError(f"{where}: job {n} override '{o}' is not allowed "
                          "in a sweep (it would move or restart the job)")


def _inside(exp_dir: str, parents, prefix: str, rel, what: str) -> None:
  """`rel` (relative) must resolve, symlinks followed, to a `prefix*` entry
  directly inside one of exp_dir's `parents` folders."""
  roots = {os.path.realpath(os.path.join(exp_dir, p)) for p in parents}
  ok = isinstance(rel, str) and bool(rel) and not os.path.isabs(rel)
  if ok:
    full = os.path.realpath(os.path.join(exp_dir, rel))
    ok = (os.path.dirname(full) in roots
          and os.path.basename(full).startswith(prefix))
  if not ok:
    inside = " or ".join(os.path.join(exp_dir, p) for p in parents)
    raise OutputError(f"{what} {rel!r} is not a {prefix or 'file'}* entry "
                      f"directly inside {inside}; refusing to touch it")


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
