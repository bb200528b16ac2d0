"""SIGTERM/SIGINT during training: stop at the next safe point, never mid-write.

SLURM (time limit, preemption, scancel) and HTCondor (eviction) send SIGTERM,
Ctrl-C sends SIGINT. Inside `StopSignals`, the first one only sets a flag:
the training loop abandons the current epoch at the next dispatch boundary
(a checkpoint or facts write in progress finishes first), so the newest
checkpoint is the last complete epoch and facts hold exactly the epochs up to
it. The run then raises `Preempted` (exit code PREEMPTED_EXIT) whose message
is the exact command that resumes it. A second signal stops at once.

With several processes the flag is agreed at epoch ends only (a collective),
so all processes stop after the same epoch.
"""
from __future__ import annotations

import shlex
import signal
import sys
import threading
from typing import Optional, Sequence

import numpy as np

from thesis_jax.errors import PREEMPTED_EXIT, Preempted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
RESUME_FLAG = "--config.phase1.trainer.resume=True"


class StopSignals:
  """`with StopSignals() as stop:` ... `if stop.requested(): ...`"""

  def __init__(self):
    self.signum: Optional[int] = None
    self._old = {}

  def __enter__(self) -> "StopSignals":
    if threading.current_thread() is threading.main_thread():
      for s in SIGNALS:
        self._old[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, h in self._old.items():
      signal.signal(s, h)
    self._old = {}

  def _handle(self, signum, frame) -> None:
    if self.signum is not None:          # second signal: stop right now
      raise Preempted(f"stopped at once by a second {signal.Signals(signum).name}"
                      "; resume from the last checkpoint")
    self.signum = signum
    print(f"{signal.Signals(signum).name} received: finishing the current step,"
          " then saving and stopping", file=sys.stderr, flush=True)

  @property
  def name(self) -> str:
    return signal.Signals(self.signum).name if self.signum else ""

  def requested(self, process_count: int = 1) -> bool:
    """Mid-epoch check: only a single process may stop on its own."""
    return process_count == 1 and self.signum is not None

  def agreed(self, process_count: int = 1) -> bool:
    """Epoch-end check, the same answer on every process."""
    if process_count == 1:
      return self.signum is not None
    from jax.experimental import multihost_utils
    flags = multihost_utils.process_allgather(np.int32(self.signum is not None))
    return bool(np.any(flags))


def resume_command(run_dir: str, argv: Optional[Sequence[str]] = None) -> str:
  """The command that continues `run_dir`: this process's `--config` file with
  logging.run_dir and the resume flag (resume restores the run's cfg.yaml)."""
  argv = list(sys.argv if argv is None else argv)
  config = "default"
  for i, a in enumerate(argv):
    if a == "--config" and i + 1 < len(argv):
      config = argv[i + 1]
    elif a.startswith("--config="):
      config = a.split("=", 1)[1]
  return (f"python -m thesis_jax train --config {shlex.quote(config)} "
          f"--config.logging.run_dir={shlex.quote(run_dir)} {RESUME_FLAG}")


def stopped(stop: StopSignals, run_dir: str, last_saved: Optional[int]) -> Preempted:
  """The error that ends a stopped run (one line; exit PREEMPTED_EXIT)."""
  if last_saved is None:
    return Preempted(f"stopped by {stop.name} before a checkpoint was saved "
                     f"({run_dir}); nothing to resume, start the run again "
                     f"(exit code {PREEMPTED_EXIT})")
  return Preempted(f"stopped by {stop.name}; epochs 1-{last_saved + 1} are "
                   f"saved in {run_dir}; resume with: {resume_command(run_dir)}")
