"""Runs a sweep's jobs as `python -m thesis_jax train` subprocesses.

One subprocess per job, so a crash, NaN stop or bad value ends only that job.
`parallel` jobs run at once, each in a fixed slot: on GPUs a slot owns its own
CUDA_VISIBLE_DEVICES, on CPU its own cores (CPU affinity and thread-count
variables), so jobs do not fight over one device. Each job's output goes to
`logs/job{N}.log` (and to the console, prefixed `[jobN]`). sweep.json is
rewritten after every change of a job's status.

Jobs share JAX's persistent compilation cache (`{exp}/jax_cache` unless
JAX_COMPILATION_CACHE_DIR is set): jobs that differ only in values (seeds,
loss weights) reuse each other's compiled programs. A 1-epoch smoke job took
14 s of CPU cold and 4 s with the cache warm (measured here).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from thesis_jax.config_tools import split_list
from thesis_jax.sweeps import basecfg, state
from thesis_jax.train.preemption import RESUME_FLAG
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclasses.dataclass
class Slot:
  index: int
  env: Dict[str, str]
  cpus: Optional[List[int]] = None    # CPU affinity (CPU jobs in parallel)
  label: str = "cpu"


def detect_gpus(devices: str = "") -> List[str]:
  """GPU ids to hand out: `devices` ("0,1"), else CUDA_VISIBLE_DEVICES, else
  `nvidia-smi -L`; [] on a machine without GPUs. Never initialises JAX."""
  if devices:
    return [str(d) for d in split_list(devices)]
  env = os.environ.get("CUDA_VISIBLE_DEVICES")
  if env is not None:
    return [str(d) for d in split_list(env) if d != "-1"]
  if shutil.which("nvidia-smi"):
    try:
      out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                           timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
      return []
    return [str(i) for i, l in enumerate(
        l for l in out.splitlines() if l.startswith("GPU "))]
  return []


def make_slots(parallel: int, devices: str = "") -> List[Slot]:
  """`parallel` slots sharing the GPUs (or, without GPUs, the CPU cores)."""
  parallel = max(int(parallel), 1)
  gpus = detect_gpus(devices)
  slots = []
  if gpus:
    per = max(len(gpus) // parallel, 1)
    for i in range(parallel):
      start = (i * per) % len(gpus)
      mine = gpus[start:start + per]
      env = {"CUDA_VISIBLE_DEVICES": ",".join(mine)}
      if parallel > len(gpus):   # several jobs per GPU: no preallocation
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
      slots.append(Slot(i, env, None, "gpu " + ",".join(mine)))
    return slots
  if parallel == 1 or not hasattr(os, "sched_getaffinity"):
    return [Slot(i, {}) for i in range(parallel)]
  cores = sorted(os.sched_getaffinity(0))
  per = max(len(cores) // parallel, 1)
  for i in range(parallel):
    start = (i * per) % len(cores)
    mine = cores[start:start + per]
    env = {k: str(len(mine)) for k in _THREAD_VARS}
    slots.append(Slot(i, env, mine, "cpu " + ",".join(map(str, mine))))
  return slots


def job_command(exp_dir: str, job: dict, resume: bool) -> List[str]:
  cfg = os.path.join(exp_dir, basecfg.BASE_PY)
  cmd = [sys.executable, "-m", "thesis_jax", "train", "--config",
         f"{cfg}:job{job['job']}"] + [f"--config.{o}" for o in job["overrides"]]
  return cmd + [RESUME_FLAG] if resume else cmd


def plan_resume(exp_dir: str, sweep: dict) -> List[Tuple[int, bool]]:
  """Decides per job: finished -> skipped (status done); a completed
  checkpoint -> resumed; otherwise -> its partial folder removed, rerun."""
  todo = []
  for job in sweep["jobs"]:
    rd = state.job_path(exp_dir, job)
    out = state.run_outcome(rd)
    if out["finished"]:
      job.update(status="done", best_val_loss=out["best_val_loss"])
      continue
    if state.has_checkpoint(rd):
      todo.append((job["job"], True))
    else:
      if os.path.isdir(rd):
        shutil.rmtree(rd)
      todo.append((job["job"], False))
    job["status"] = "pending"
  return todo


def pump(proc, log_path: str, prefix: str, echo: bool, lock) -> None:
  with open(log_path, "a", encoding="utf-8", errors="replace") as log:
    for line in proc.stdout:
      log.write(line)
      log.flush()
      if echo:
        with lock:
          sys.stdout.write(prefix + line)
          sys.stdout.flush()


def cache_env(exp_dir: str, cache: str = "") -> Dict[str, str]:
  """JAX compilation-cache variables: `cache` "" -> {exp}/jax_cache (unless
  the user set JAX_COMPILATION_CACHE_DIR), "off" -> none, else that folder."""
  if cache == "off" or (not cache and "JAX_COMPILATION_CACHE_DIR" in os.environ):
    return {}
  path = os.path.abspath(cache) if cache else os.path.join(exp_dir, "jax_cache")
  return {"JAX_COMPILATION_CACHE_DIR": path,
          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": os.environ.get(
              "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")}


def spawn(cmd, slot: Slot, workdir: str, extra_env: Dict[str, str]):
  env = dict(os.environ, PYTHONUNBUFFERED="1", **extra_env, **slot.env)
  old = None
  if slot.cpus and hasattr(os, "sched_setaffinity"):
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, slot.cpus)   # the child inherits this thread's mask
  try:
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
  finally:
    if old is not None:
      os.sched_setaffinity(0, old)


def _last_error(log_path: str) -> str:
  try:
    with open(log_path, encoding="utf-8", errors="replace") as f:
      lines = [l.strip() for l in f if l.strip()]
  except OSError:
    return ""
  errs = [l for l in lines if l.startswith("error:")]
  return (errs or lines or [""])[-1][:500]


def run_jobs(exp_dir: str, sweep: dict, todo: Sequence[Tuple[int, bool]],
             workdir: str, parallel: int = 1, devices: str = "",
             echo: bool = True, cache: str = "", poll_s: float = 0.2) -> bool:
  """Runs `todo` [(job index, resume?)]; -> True if every one succeeded.

  `cache`: see cache_env. Ctrl-C stops the running jobs (status interrupted).
  """
  slots = make_slots(parallel, devices)
  extra_env = cache_env(exp_dir, cache)
  free = list(range(len(slots)))
  queue = list(todo)
  running: Dict[int, tuple] = {}      # job -> (proc, slot, t0, pump thread)
  lock = threading.Lock()
  jobs = {j["job"]: j for j in sweep["jobs"]}
  ok = True
  try:
    while queue or running:
      while queue and free:
        idx, resume = queue.pop(0)
        slot = slots[free.pop(0)]
        job = jobs[idx]
        log_path = state.job_path(exp_dir, job, "log")
        with open(log_path, "a") as f:
          f.write(f"# {state.now_iso()} {slot.label}: "
                  f"{' '.join(job_command(exp_dir, job, resume))}\n")
        proc = spawn(job_command(exp_dir, job, resume), slot, workdir,
                      extra_env)
        th = threading.Thread(target=pump, daemon=True, args=(
            proc, log_path, f"[job{idx}] ", echo, lock))
        th.start()
        job.update(status="running", resumed=resume,
                   attempts=job.get("attempts", 0) + 1)
        running[idx] = (proc, slot, time.perf_counter(), th)
        state.write_sweep(exp_dir, sweep)
      time.sleep(poll_s)
      for idx in [i for i, r in running.items() if r[0].poll() is not None]:
        proc, slot, t0, th = running.pop(idx)
        th.join(timeout=10)
        free.append(slot.index)
        job = jobs[idx]
        out = state.run_outcome(state.job_path(exp_dir, job))
        good = proc.returncode == 0 and out["finished"]
        ok &= good
        job.update(status="done" if good else "failed",
                   returncode=proc.returncode,
                   time_s=(job.get("time_s") or 0.0) + time.perf_counter() - t0,
                   best_val_loss=out["best_val_loss"])
        if good:
          job.pop("error", None)
        else:
          job["error"] = _last_error(state.job_path(exp_dir, job, "log"))
          with lock:
            print(f"job {idx} FAILED (exit {proc.returncode}): {job['error']}"
                  f" | log: {state.job_path(exp_dir, job, 'log')}", flush=True)
        state.write_sweep(exp_dir, sweep)
  except KeyboardInterrupt:
    for idx, (proc, *_rest) in running.items():
      proc.terminate()
    for idx, (proc, *_rest) in running.items():
      try:
        proc.wait(timeout=15)
      except subprocess.TimeoutExpired:
        proc.kill()
      jobs[idx]["status"] = "interrupted"
    state.write_sweep(exp_dir, sweep)
    raise
  return ok
