"""Cluster launchers: write an array-job submit script, never submit it.

One array task per grid point; task N runs
  python -m thesis_jax train --config {exp}/base_config.py:jobN <job N's overrides>
so every task writes `{exp}/run_{stamp}_{name}_jobN` (the shared stamp)
and records exactly its swept overrides. `${PYTHON:-python}` is the interpreter
(after the `env_setup` line, e.g. `source ~/venvs/thesis/bin/activate`).
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
from typing import Callable, Dict, List, Sequence, Tuple

from thesis_jax.errors import PREEMPTED_EXIT, ConfigError, lookup
from thesis_jax.sweeps import basecfg
from thesis_jax.sweeps.runner import RESUME_FLAG
from thesis_jax.train.rundir import check_name

# seconds between SLURM's warning SIGTERM and the time limit: one epoch's
# checkpoint plus the facts must fit (see README "Failures and recovery")
SIGNAL_LEAD_S = 120

@dataclasses.dataclass
class LauncherOptions:
  partition: str = ""        # SLURM partition
  queue: str = ""            # HTCondor +JobFlavour (e.g. CERN's "workday")
  gpus_per_job: int = 1
  cpus_per_job: int = 4
  mem: str = "16G"
  time_limit: str = "04:00:00"   # [D-]HH:MM:SS
  env_setup: str = ""        # one shell line run before training


def time_limit_seconds(text: str) -> int:
  m = re.fullmatch(r"(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})", text.strip())
  if not m:
    raise ConfigError(f"--time_limit '{text}': expected [D-]HH:MM:SS")
  d, h, mi, s = (int(g or 0) for g in m.groups())
  return ((d * 24 + h) * 60 + mi) * 60 + s


def _preamble(exp_dir: str, workdir: str, env_setup: str) -> List[str]:
  """Bash lines every task starts with: strict mode, cd, env line, cache."""
  lines = ["set -euo pipefail", f"cd {shlex.quote(_one_line(workdir, 'workdir'))}"]
  if env_setup.strip():
    lines.append(env_setup.strip())
  cache = _dq(os.path.join(exp_dir, "jax_cache"))
  lines += ['# jobs share compiled programs (see thesis_jax/sweeps/runner.py)',
            f'export JAX_COMPILATION_CACHE_DIR="${{JAX_COMPILATION_CACHE_DIR:-'
            f'{cache}}}"',
            'export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="${'
            'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}"']
  return lines


def _task_body(exp_dir: str, workdir: str, sweep: dict,
               todo: Sequence[Tuple[int, bool]], env_setup: str,
               task_var: str) -> str:
  """Shared bash: preamble, `case` over job numbers, exec training."""
  jobs = {j["job"]: j for j in sweep["jobs"]}
  cfg = shlex.quote(os.path.join(exp_dir, basecfg.BASE_PY))
  lines = _preamble(exp_dir, workdir, env_setup)
  lines += [f'TASK="{task_var}"', 'case "$TASK" in']
  for idx, _ in todo:   # resume or not is decided when the task starts
    args = [f"--config.{o}" for o in jobs[idx]["overrides"]]
    run_dir = os.path.join(exp_dir, _one_line(jobs[idx]["run_dir"], "run_dir"))
    lines.append(f"  {idx}) RUN_DIR={shlex.quote(run_dir)}; "
                 f"ARGS=({' '.join(shlex.quote(a) for a in args)}) ;;")
  lines += ['  *) echo "no job $TASK in this sweep" >&2; exit 2 ;;', "esac",
            "# a requeued/retried task continues from its last checkpoint",
            'for CK in "$RUN_DIR"/checkpoints/*; do',
            f'  if [[ "${{CK##*/}}" =~ ^[0-9]+$ ]]; then ARGS+=({RESUME_FLAG}); '
            "break; fi", "done",
            f"# exit code {PREEMPTED_EXIT}: stopped by SIGTERM/SIGINT after "
            "saving; run again to resume",
            f'exec "${{PYTHON:-python}}" -m thesis_jax train --config '
            f'{cfg}:job"$TASK" "${{ARGS[@]}}"']
  return "\n".join(lines) + "\n"


def write_slurm(exp_dir: str, workdir: str, sweep: dict,
                todo: Sequence[Tuple[int, bool]], opt: LauncherOptions
                ) -> Tuple[List[str], str]:
  """-> ([slurm_array.sh], "sbatch .../slurm_array.sh")."""
  body = _task_body(exp_dir, workdir, sweep, todo, opt.env_setup,
                    "${SLURM_ARRAY_TASK_ID:?run this script with sbatch}")
  return _slurm(exp_dir, sweep["name"], [i for i, _ in todo], body, opt,
                "one per grid point (written by thesis-jax sweep)")


def _slurm(exp_dir: str, name: str, task_ids: Sequence[int], body: str,
           opt: LauncherOptions, what: str) -> Tuple[List[str], str]:
  """Writes {exp_dir}/slurm_array.sh: #SBATCH header + `body`."""
  time_limit_seconds(opt.time_limit)
  path = os.path.join(exp_dir, "slurm_array.sh")
  logs = _directive(os.path.join(exp_dir, "logs", "job%a.log"), "--output")
  head = ["#!/bin/bash",
          f"# {_one_line(os.path.basename(exp_dir), 'exp folder')}: "
          f"{len(task_ids)} array task(s), {what}.",
          f"# Submit: sbatch {shlex.quote(path)}",
          f"#SBATCH --job-name={check_name(name, 'name')}",
          f"#SBATCH --array={','.join(str(int(i)) for i in task_ids)}",
          f"#SBATCH --output={logs}", f"#SBATCH --error={logs}",
          "#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={int(opt.cpus_per_job)}",
          f"#SBATCH --mem={_directive(opt.mem, '--mem')}",
          f"#SBATCH --time={opt.time_limit.strip()}",
          f"# SIGTERM {SIGNAL_LEAD_S} s before the time limit (B: to this "
          "shell, which exec's python): the run saves and exits "
          f"{PREEMPTED_EXIT}",
          f"#SBATCH --signal=B:TERM@{SIGNAL_LEAD_S}"]
  if opt.gpus_per_job > 0:
    head.append(f"#SBATCH --gres=gpu:{int(opt.gpus_per_job)}")
  if opt.partition:
    head.append(f"#SBATCH --partition={_directive(opt.partition, '--partition')}")
  _write_exec(path, "\n".join(head) + "\n\n" + body)
  return [path], f"sbatch {shlex.quote(path)}"


def write_htcondor(exp_dir: str, workdir: str, sweep: dict,
                   todo: Sequence[Tuple[int, bool]], opt: LauncherOptions
                   ) -> Tuple[List[str], str]:
  """-> ([htcondor_job.sh, htcondor.sub], "condor_submit .../htcondor.sub")."""
  body = _task_body(exp_dir, workdir, sweep, todo, opt.env_setup,
                    "${1:?usage: htcondor_job.sh JOB_NUMBER}")
  return _htcondor(exp_dir, workdir, [i for i, _ in todo], body, opt,
                   "one grid point (written by thesis-jax sweep)")


def _htcondor(exp_dir: str, workdir: str, task_ids: Sequence[int], body: str,
              opt: LauncherOptions, what: str) -> Tuple[List[str], str]:
  """Writes htcondor_job.sh (header + `body`) and htcondor.sub."""
  secs = time_limit_seconds(opt.time_limit)
  sh = os.path.join(exp_dir, "htcondor_job.sh")
  sub = os.path.join(exp_dir, "htcondor.sub")
  head = ["#!/bin/bash",
          f"# One task of {_one_line(os.path.basename(exp_dir), 'exp folder')}"
          f" ({what}); argument: the task number.", ""]
  _write_exec(sh, "\n".join(head) + body)
  logs = _directive(os.path.join(exp_dir, "logs"), "logs folder")
  lines = [f"# {os.path.basename(exp_dir)}: {len(task_ids)} job(s).",
           f"# Submit: condor_submit {shlex.quote(sub)}",
           "universe = vanilla", f"executable = {_directive(sh, 'executable')}",
           "arguments = $(job)",
           f"initialdir = {_directive(workdir, 'workdir')}",
           f"output = {logs}/job$(job).log", f"error = {logs}/job$(job).err",
           f"log = {logs}/htcondor.log",
           f"request_cpus = {int(opt.cpus_per_job)}",
           f"request_memory = {_directive(opt.mem, '--mem')}"]
  if opt.gpus_per_job > 0:
    lines.append(f"request_gpus = {int(opt.gpus_per_job)}")
  lines += [f"allowed_execute_duration = {secs}", f"+MaxRuntime = {secs}",
            "# eviction/removal sends SIGTERM: the run saves and exits "
            f"{PREEMPTED_EXIT};", "# such a job goes back to the queue and "
            "resumes from its checkpoint",
            "kill_sig = SIGTERM",
            f"on_exit_remove = (ExitBySignal == True) || (ExitCode != {PREEMPTED_EXIT})"]
  if opt.queue:
    lines.append(f'+JobFlavour = "{_directive(opt.queue, "--queue")}"')
  lines.append(f"queue job in ({' '.join(str(int(i)) for i in task_ids)})")
  with open(sub, "w") as f:
    f.write("\n".join(lines) + "\n")
  return [sh, sub], f"condor_submit {shlex.quote(sub)}"


def _one_line(text: str, what: str) -> str:
  """`text` unchanged, or ConfigError if it holds a newline or other control
  character (which would end a comment/directive and inject a line)."""
  text = str(text)
  if any(ord(c) < 32 or ord(c) == 127 for c in text):
    raise ConfigError(f"{what} {text!r} contains a newline or control "
                      "character; it cannot go into a launcher script")
  return text


def _directive(text: str, what: str) -> str:
  """A value for a `#SBATCH` line or an HTCondor submit line: one line, no
  spaces or quotes (neither format has a quoting rule we can rely on)."""
  text = _one_line(text, what)
  if not text or any(c.isspace() or c in "\"'" for c in text):
    raise ConfigError(f"{what} {text!r}: cluster submit files need a value "
                      "without spaces or quotes")
  return text


def _dq(text: str) -> str:
  """Escaped for use inside bash double quotes."""
  for ch in ("\\", '"', "$", "`"):
    text = text.replace(ch, "\\" + ch)
  return text


# `--launcher` names -> writer(exp_dir, workdir, sweep, todo, options).
LAUNCHERS: Dict[str, Callable] = {"slurm": write_slurm, "htcondor": write_htcondor}


def _write_exec(path: str, text: str) -> None:
  with open(path, "w") as f:
    f.write(text)
  os.chmod(path, 0o755)


def write_launcher(name: str, exp_dir: str, workdir: str, sweep: dict,
                   todo: Sequence[Tuple[int, bool]], opt: LauncherOptions
                   ) -> Tuple[List[str], str]:
  fn = lookup(LAUNCHERS, name, "launcher", "--launcher")
  if not todo:
    raise ConfigError(f"{exp_dir}: every job is finished; nothing to submit")
  return fn(exp_dir, workdir, sweep, todo, opt)


def write_array(launcher: str, exp_dir: str, workdir: str, name: str,
                task_ids: Sequence[int], command: str, opt: LauncherOptions,
                what: str) -> Tuple[List[str], str]:
  """An array job whose every task runs the same `command` (bash) after the
  usual preamble, e.g. the workers of a hyperparameter search."""
  body = "\n".join(_preamble(exp_dir, workdir, opt.env_setup)
                   + [f"exec {command}"]) + "\n"
  if launcher == "slurm":
    return _slurm(exp_dir, name, task_ids, body, opt, what)
  if launcher == "htcondor":
    return _htcondor(exp_dir, workdir, task_ids, body, opt, what)
  raise ConfigError(f"unknown launcher '{launcher}' (--launcher); valid "
                    "names: htcondor, slurm")
