"""Sweeps: grids of training runs, locally (subprocesses) or on a cluster.

  from thesis_jax import sweeps
  exp_dir, sweep = sweeps.create_sweep(exp_config)         # folder + sweep.json
  ok = sweeps.run_jobs(exp_dir, sweep,
                       [(j["job"], False) for j in sweep["jobs"]], workdir=".")
  print(sweeps.summary_table(sweep))

See experiments/sweep.py for the command line and README.md ("Sweeps", "Running on a cluster").
Names are imported lazily, so a job's base_config.py (which imports
`thesis_jax.sweeps.basecfg`) loads nothing else.
"""
import importlib

_NAMES = {
    "ALIASES": "grid", "axis_key": "grid", "expand": "grid",
    "job_overrides": "grid", "LAUNCHERS": "launchers",
    "LauncherOptions": "launchers", "write_launcher": "launchers",
    "create_sweep": "plan", "plan_jobs": "plan", "plan_resume": "runner",
    "run_jobs": "runner", "make_slots": "runner", "read_sweep": "state",
    "write_sweep": "state", "summary_table": "summary"}

__all__ = sorted(_NAMES)


def __getattr__(name):
  if name not in _NAMES:
    raise AttributeError(f"module 'thesis_jax.sweeps' has no attribute '{name}'")
  return getattr(importlib.import_module(f"thesis_jax.sweeps.{_NAMES[name]}"),
                 name)
