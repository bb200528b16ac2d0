"""Cluster launchers: scripts pass `bash -n`, name every job's overrides, and
(run with PYTHON=echo) print exactly each job's training command. Nothing is
submitted and nothing is trained here."""
import json
import os
import re
import subprocess
import sys

import pytest

from thesis_jax.errors import ConfigError
from thesis_jax.sweeps import launchers, runner, state
from thesis_jax.sweeps.launchers import LauncherOptions, write_launcher
from thesis_jax.sweeps.plan import create_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def sweep(tmp_path):
  from configs.experiments.compare_globals_heads import get_config
  c = get_config()            # the full 27-job grid
  c.base.logging.output_root = str(tmp_path)
  exp, sw = create_sweep(c, launcher="slurm")
  return exp, sw


def _expected(exp, job, resume=False):
  args = ["-m", "thesis_jax", "train", "--config",
          f"{exp}/base_config.py:job{job['job']}"]
  args += [f"--config.{o}" for o in job["overrides"]]
  return args + ([runner.RESUME_FLAG] if resume else [])


def _run(script, args=(), **env):
  return subprocess.run(["bash", script, *args], capture_output=True, text=True,
                        env=dict(os.environ, PYTHON="echo", **env), timeout=30)


def test_slurm_array_script(sweep):
  exp, sw = sweep
  todo = [(j["job"], False) for j in sw["jobs"]]
  opt = LauncherOptions(partition="gpu-a100", gpus_per_job=2, cpus_per_job=8,
                        mem="32G", time_limit="1-02:00:00",
                        env_setup="export THESIS_ENV_OK=1")
  files, submit = write_launcher("slurm", exp, ROOT, sw, todo, opt)
  script = os.path.join(exp, "slurm_array.sh")
  assert files == [script] and submit == f"sbatch {script}"
  assert subprocess.run(["bash", "-n", script]).returncode == 0
  text = open(script).read()
  for line in ("#SBATCH --array=" + ",".join(map(str, range(27))),
               "#SBATCH --partition=gpu-a100", "#SBATCH --gres=gpu:2",
               "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G",
               "#SBATCH --time=1-02:00:00", "export THESIS_ENV_OK=1",
               f"#SBATCH --output={exp}/logs/job%a.log"):
    assert line in text.splitlines()
  assert text.count(" ARGS=(") == 27
  for job in sw["jobs"]:                    # every job's exact command
    out = _run(script, SLURM_ARRAY_TASK_ID=str(job["job"]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == _expected(exp, job)
    assert job["run_dir"] in text
  assert _run(script, SLURM_ARRAY_TASK_ID="27").returncode == 2
  assert "sbatch" in _run(script).stderr          # not under SLURM: refuses


def test_htcondor_submit_files(sweep):
  exp, sw = sweep
  todo = [(j["job"], False) for j in sw["jobs"]]
  opt = LauncherOptions(queue="workday", gpus_per_job=1, time_limit="08:00:00")
  files, submit = write_launcher("htcondor", exp, ROOT, sw, todo, opt)
  sh, sub = files
  assert submit == f"condor_submit {sub}"
  assert subprocess.run(["bash", "-n", sh]).returncode == 0
  desc = dict(l.split(" = ", 1) for l in open(sub).read().splitlines()
              if " = " in l and not l.startswith("#"))
  assert desc["executable"] == sh and desc["arguments"] == "$(job)"
  assert desc["request_gpus"] == "1"
  assert desc["allowed_execute_duration"] == str(8 * 3600)
  assert desc["+JobFlavour"] == '"workday"'
  assert desc["initialdir"] == ROOT
  queue = [l for l in open(sub).read().splitlines() if l.startswith("queue")]
  assert queue == ["queue job in (" + " ".join(map(str, range(27))) + ")"]
  for job in (sw["jobs"][0], sw["jobs"][13], sw["jobs"][26]):
    out = _run(sh, [str(job["job"])])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == _expected(exp, job)
  assert _run(sh).returncode != 0                  # no job number given


def test_resume_script_lists_only_unfinished_jobs(sweep):
  exp, sw = sweep
  # job 0 finished, job 1 has a checkpoint, job 2 left a partial folder
  rd = {j["job"]: state.job_path(exp, j) for j in sw["jobs"]}
  os.makedirs(os.path.join(rd[0], "facts"))
  with open(os.path.join(rd[0], "facts", "events.jsonl"), "w") as f:
    f.write(json.dumps({"moment": "on_train_end", "best_val_loss": 0.5}) + "\n")
  os.makedirs(os.path.join(rd[1], "checkpoints", "3"))
  os.makedirs(os.path.join(rd[2], "checkpoints", "0.orbax-checkpoint-tmp-1"))
  todo = runner.plan_resume(exp, sw)
  assert todo == [(1, True)] + [(i, False) for i in range(2, 27)]
  assert not os.path.exists(rd[2])                # partial folder removed
  assert sw["jobs"][0]["status"] == "done"
  assert sw["jobs"][0]["best_val_loss"] == 0.5
  files, _ = write_launcher("slurm", exp, ROOT, sw, todo,
                            LauncherOptions(gpus_per_job=0))
  text = open(files[0]).read()
  assert "#SBATCH --array=" + ",".join(map(str, range(1, 27))) in text
  assert "--gres" not in text
  out = _run(files[0], SLURM_ARRAY_TASK_ID="1")
  assert out.stdout.split() == _expected(exp, sw["jobs"][1], resume=True)
  assert _run(files[0], SLURM_ARRAY_TASK_ID="0").returncode == 2


def test_launcher_errors(sweep):
  exp, sw = sweep
  todo = [(0, False)]
  with pytest.raises(ConfigError, match="unknown launcher 'pbs'"):
    write_launcher("pbs", exp, ROOT, sw, todo, LauncherOptions())
  with pytest.raises(ConfigError, match="time_limit '4h'"):
    write_launcher("slurm", exp, ROOT, sw, todo, LauncherOptions(time_limit="4h"))
  with pytest.raises(ConfigError, match="nothing to submit"):
    write_launcher("slurm", exp, ROOT, sw, [], LauncherOptions())
  assert launchers.time_limit_seconds("2-00:30:05") == 2 * 86400 + 1805


def test_cli_writes_scripts_and_never_trains(tmp_path):
  cfg = os.path.join(ROOT, "configs/experiments/compare_latent_spaces.py")
  p = subprocess.run(
      [sys.executable, "-m", "experiments.sweep", "--config", cfg,
       f"--config.base.logging.output_root={tmp_path}", "--launcher",
       "htcondor", "--env_setup", "source ~/venv/bin/activate"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert p.returncode == 0, p.stderr
  exp = re.search(r"sweep folder: (\S+)", p.stdout).group(1)
  assert f"submit with: condor_submit {exp}/htcondor.sub" in p.stdout
  sw = state.read_sweep(exp)
  assert sw["launcher"] == "htcondor" and len(sw["jobs"]) == 3
  assert [d for d in os.listdir(exp) if d.startswith("run_")] == []
  text = open(os.path.join(exp, "htcondor_job.sh")).read()
  assert "source ~/venv/bin/activate" in text
  for name in ("none", "linear", "vq"):
    assert f"--config.phase1.latent_space.name={name}" in text
