"""The Optuna study of a search folder and the worker that runs its trials.

Each trial is a normal training run (`thesis_jax.train_model`) in
`runs/..._job{N}` (N = the trial number). Its objective is read back from
the run's facts: the best (min or max, `search.direction`) value over the
epochs of history key `search.objective` (default: val_loss, i.e. the best
validation loss). The median pruner sees that key after every epoch (through
the training driver's `on_event` hook) and stops trials that are worse than
the median of earlier trials at the same epoch.

Workers share the study through SQLite; each pulls trials until the study
holds `search.n_trials` finished-or-running trials (parallel workers may
overshoot by at most one trial each). A worker's heartbeat marks its running
trial; a trial whose worker died is failed after `GRACE_S` and retried once
with the same parameters (as a new trial).
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Any, Callable, Dict, Optional

from thesis_jax.errors import ConfigError, NonFiniteLossError, ThesisJaxError
from thesis_jax.facts.schema import iter_events
from thesis_jax.search import folder
from thesis_jax.search.space import suggest

HEARTBEAT_S = 30
GRACE_S = 120
COUNTED = ("COMPLETE", "PRUNED", "RUNNING")


def require_optuna():
  try:
    import optuna
  except ImportError:
    raise ConfigError("hyperparameter search needs optuna: pip install "
                      "'thesis_jax[search]'") from None
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  # heartbeats and stale-trial retries are marked experimental (stable API)
  warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
  return optuna


def open_study(sdir: str, spec: Dict[str, Any], worker: int = 0):
  """Creates or loads the study in `{sdir}/study.db`. The sampler seed is
  `search.sampler_seed` offset by `worker` and by the trials so far: one
  worker from an empty study reproduces a search exactly."""
  optuna = require_optuna()
  s = spec["search"]
  storage = optuna.storages.RDBStorage(
      folder.storage_url(sdir),
      engine_kwargs={"connect_args": {"timeout": 120}},  # wait out locks
      heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
      heartbeat_stale_trial_callback=(
          optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)))
  pruner = (optuna.pruners.MedianPruner(
      n_startup_trials=s["n_startup_trials"], n_warmup_steps=s["n_warmup_steps"])
            if s["pruner"] == "median" else optuna.pruners.NopPruner())
  study = optuna.create_study(
      storage=storage, study_name=spec["study_name"], direction=s["direction"],
      pruner=pruner, load_if_exists=True)
  # seeded by worker and by the trials already there, so neither parallel
  # workers nor a resumed search repeat earlier draws
  study.sampler = optuna.samplers.TPESampler(
      seed=s["sampler_seed"] + 7919 * worker + len(study.trials))
  return study


def objective_value(run_dir: str, key: str, direction: str) -> float:
  """Best value of history `key` over the epochs of a finished run."""
  hist = None
  for ev in iter_events(run_dir):
    if ev.get("moment") == "on_train_end":
      hist = (ev.get("histories") or {})
  if hist is None:
    raise ConfigError(f"{run_dir}: no on_train_end in the facts; cannot read "
                      "the objective")
  if key not in hist:
    raise ConfigError(f"search.objective: '{key}' is not a history key of "
                      f"this run (have: {', '.join(hist)})")
  vals = [v for v in hist[key] if v is not None and math.isfinite(v)]
  if not vals:
    return math.nan
  return min(vals) if direction == "minimize" else max(vals)


def prune_hook(trial, key: str) -> Callable:
  """on_event hook: reports `key` after each epoch; raises TrialPruned."""
  optuna = require_optuna()

  def hook(moment: str, payload: Dict[str, Any], context=None) -> None:
    if moment != "on_epoch_end":
      return
    hist = payload.get("histories") or {}
    if key not in hist:
      raise ConfigError(f"search.objective: '{key}' is not a history key of "
                        f"this loop (have: {', '.join(hist)})")
    value = hist[key][-1]
    if value is None:
      return
    trial.report(float(value), int(payload["epoch"]))
    if trial.should_prune():
      raise optuna.TrialPruned(f"pruned after epoch {int(payload['epoch']) + 1}")
  return hook


def count_trials(study) -> int:
  """Trials that use up the budget; queued (WAITING) ones do not, and are
  always run (enqueued by hand, or retries of a dead worker's trial)."""
  return sum(t.state.name in COUNTED for t in study.get_trials(deepcopy=False))


def _waiting(study) -> bool:
  return any(t.state.name == "WAITING" for t in study.get_trials(deepcopy=False))


def run_trial(trial, sdir: str, spec: Dict[str, Any], base,
              train_fn: Optional[Callable] = None) -> float:
  """The Optuna objective: one training run, objective from its facts."""
  import copy
  from thesis_jax.sweeps.grid import apply_params, job_overrides
  keys = spec["keys"]
  params = suggest(trial, spec["space"], base, keys)
  cfg = apply_params(copy.deepcopy(base), params, keys)
  run_dir = folder.trial_run_dir(sdir, spec, trial.number)
  cfg.logging.run_dir = run_dir
  trial.set_user_attr("run_dir", os.path.relpath(run_dir, sdir))
  s = spec["search"]
  hook = (prune_hook(trial, s["objective"]) if s["pruner"] != "none" else None)
  if train_fn is None:
    import thesis_jax
    train_fn = thesis_jax.train_model
  optuna = require_optuna()
  try:
    train_fn(cfg, job_overrides(params, keys), on_event=hook)
  except optuna.TrialPruned as e:
    print(f"trial {trial.number} {e}", flush=True)
    raise
  finally:
    from thesis_jax.tracking.sink import close_all
    close_all("KILLED")    # trackers of a pruned/failed run (no-op otherwise)
  value = objective_value(run_dir, s["objective"], s["direction"])
  print(f"trial {trial.number} complete: {s['objective']} {value:.6g}",
        flush=True)
  return value


def run_worker(sdir: str, train_fn: Optional[Callable] = None,
               max_trials: Optional[int] = None, worker: int = 0) -> int:
  """Pulls trials from the study until it is full; -> trials run here.

  `max_trials`: stop after this many here (tests; cluster tasks leave it
  None). `worker`: this worker's index (local slot or array task). A
  diverged trial (NaN loss) fails and the worker goes on; any other error
  fails the trial and stops the worker.
  """
  from thesis_jax.sweeps.basecfg import load_base
  spec = folder.read_spec(sdir)
  base = load_base(sdir)
  study = open_study(sdir, spec, worker)
  optuna = require_optuna()
  n_target = spec["search"]["n_trials"]
  done = 0
  while max_trials is None or done < max_trials:
    optuna.storages.fail_stale_trials(study)   # trials of dead workers
    if count_trials(study) >= n_target and not _waiting(study):
      break
    failed = sum(t.state.name == "FAIL" for t in study.get_trials(deepcopy=False))
    if failed >= n_target:
      raise ThesisJaxError(f"{sdir}: {failed} trials failed (no more are "
                        "started); see the logs and the trials' run folders")
    study.optimize(lambda t: run_trial(t, sdir, spec, base, train_fn),
                   n_trials=1, catch=(NonFiniteLossError,),
                   gc_after_trial=True)   # free the last trial's arrays
    done += 1
  return done
