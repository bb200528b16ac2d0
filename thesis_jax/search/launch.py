"""Search workers: several on this machine, or a cluster array job.

Every worker runs `python -m thesis_jax search --resume {search} --worker`:
it opens the shared study and pulls trials until the study is full. Local
workers get their own GPU(s) or CPU cores (the sweep runner's slots) and log
to `logs/worker{K}.log`; cluster tasks are the same command, one per array
task (the launcher scripts of thesis_jax.sweeps.launchers).
"""
from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from typing import Dict, List, Tuple

from thesis_jax.sweeps import runner, state


def worker_command(sdir: str, index: int) -> List[str]:
  return [sys.executable, "-m", "thesis_jax", "search", "--resume", sdir,
          "--worker", "--worker_index", str(index)]


def run_local_workers(sdir: str, parallel: int, workdir: str,
                      devices: str = "", cache: str = "", echo: bool = True
                      ) -> bool:
  """Runs `parallel` worker processes to the end; -> True if all exited 0."""
  slots = runner.make_slots(parallel, devices)
  env = runner.cache_env(sdir, cache)
  lock = threading.Lock()
  procs: Dict[int, Tuple] = {}
  os.makedirs(os.path.join(sdir, "logs"), exist_ok=True)
  try:
    for slot in slots:
      log_path = os.path.join(sdir, "logs", f"worker{slot.index}.log")
      cmd = worker_command(sdir, slot.index)
      with open(log_path, "a") as f:
        f.write(f"# {state.now_iso()} {slot.label}: {shlex.join(cmd)}\n")
      proc = runner.spawn(cmd, slot, workdir, env)
      th = threading.Thread(target=runner.pump, daemon=True, args=(
          proc, log_path, f"[w{slot.index}] ", echo, lock))
      th.start()
      procs[slot.index] = (proc, th)
    while any(p.poll() is None for p, _ in procs.values()):
      time.sleep(0.2)
  except KeyboardInterrupt:
    for p, _ in procs.values():
      p.terminate()
    for p, _ in procs.values():
      p.wait(timeout=30)
    raise
  for _, th in procs.values():
    th.join(timeout=10)
  bad = [i for i, (p, _) in procs.items() if p.returncode != 0]
  for i in bad:
    print(f"worker {i} exited with {procs[i][0].returncode}: see "
          f"{os.path.join(sdir, 'logs', f'worker{i}.log')}", flush=True)
  return not bad


def write_cluster(launcher: str, sdir: str, workdir: str, spec: dict,
                  n_tasks: int, opt) -> Tuple[List[str], str]:
  """An array job of `n_tasks` workers (slurm or htcondor)."""
  from thesis_jax.sweeps.launchers import write_array
  # the task number (SLURM's array index, HTCondor's argument) is the index
  cmd = (f'"${{PYTHON:-python}}" -m thesis_jax search --resume '
         f'{shlex.quote(sdir)} --worker --worker_index '
         '"${SLURM_ARRAY_TASK_ID:-${1:-0}}"')
  return write_array(launcher, sdir, workdir, spec["name"],
                     list(range(n_tasks)), cmd, opt, what="search worker")
