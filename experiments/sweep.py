"""Run a grid of trainings (a sweep), locally or as a cluster array job.

  python -m experiments.sweep --config configs/experiments/compare_globals_heads.py
  python -m experiments.sweep --config configs/experiments/compare_latent_spaces.py --parallel 2
  python -m experiments.sweep --config configs/experiments/compare_globals_heads.py \
      --config.base.phase1.trainer.epochs=5 --config.grid.seed=0,1
  python -m experiments.sweep --config configs/experiments/compare_globals_heads.py \
      --launcher slurm --partition gpu --time_limit 08:00:00   # writes the script
  python -m experiments.sweep --resume outputs/multiruns/exp_20250101-120000_compare_globals_heads

Creates {output_root}/multiruns/exp_{stamp}_{name}/ (sweep.json, runs/, logs/).
Exit code 0 only if every job finished. See README.md ("Sweeps", "Running on a cluster").
"""
import os
import sys

from absl import flags
from ml_collections import config_flags

from thesis_jax.cli import run_main

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (base + grid).", lock_config=True)
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Jobs run at once (local).")
_RESUME = flags.DEFINE_string(
    "resume", "", "An exp_ folder: skip finished jobs, resume the others.")
_LAUNCHER = flags.DEFINE_enum(
    "launcher", "local", ["local", "slurm", "htcondor"],
    "local: run the jobs here; slurm/htcondor: write an array-job script.")
_DEVICES = flags.DEFINE_string(
    "devices", "", "GPU ids shared out to parallel jobs (default: all visible).")
_CACHE = flags.DEFINE_string(
    "compilation_cache", "", "JAX compilation cache shared by the jobs: "
    "'' = {exp}/jax_cache (unless JAX_COMPILATION_CACHE_DIR is set), 'off', "
    "or a folder.")
_PARTITION = flags.DEFINE_string("partition", "", "SLURM partition.")
_QUEUE = flags.DEFINE_string("queue", "", "HTCondor +JobFlavour (queue).")
_GPUS = flags.DEFINE_integer("gpus_per_job", 1, "GPUs per cluster job (0: CPU).")
_CPUS = flags.DEFINE_integer("cpus_per_job", 4, "CPU cores per cluster job.")
_MEM = flags.DEFINE_string("mem", "16G", "Memory per cluster job.")
_TIME = flags.DEFINE_string("time_limit", "04:00:00",
                            "Wall-time limit per cluster job, [D-]HH:MM:SS.")
_ENV = flags.DEFINE_string(
    "env_setup", "", "Shell line run before each cluster job, e.g. "
    "'source ~/venvs/thesis/bin/activate'.")

WORKDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
  del argv
  from thesis_jax import sweeps
  from thesis_jax.errors import ConfigError
  if _RESUME.value:
    exp_dir = os.path.abspath(_RESUME.value)
    if _CONFIG.value is not None:
      print("note: --resume takes the grid and base config from the exp "
            "folder; --config is ignored", flush=True)
    sweep = sweeps.read_sweep(exp_dir)
    todo = sweeps.plan_resume(exp_dir, sweep)
    sweeps.write_sweep(exp_dir, sweep)
    n_ck = sum(r for _, r in todo)
    print(f"resuming {exp_dir}: {len(sweep['jobs']) - len(todo)} finished "
          f"job(s) skipped, {n_ck} resumed from checkpoints, "
          f"{len(todo) - n_ck} started again", flush=True)
  else:
    if _CONFIG.value is None:
      raise ConfigError("give --config (an experiment config) or --resume "
                        "<exp_dir>")
    source = config_flags.get_config_filename(flags.FLAGS["config"])
    exp_dir, sweep = sweeps.create_sweep(_CONFIG.value, _LAUNCHER.value, source)
    todo = [(j["job"], False) for j in sweep["jobs"]]

  if _LAUNCHER.value != "local":
    opt = sweeps.LauncherOptions(
        partition=_PARTITION.value, queue=_QUEUE.value, gpus_per_job=_GPUS.value,
        cpus_per_job=_CPUS.value, mem=_MEM.value, time_limit=_TIME.value,
        env_setup=_ENV.value)
    files, submit = sweeps.write_launcher(_LAUNCHER.value, exp_dir, WORKDIR,
                                          sweep, todo, opt)
    sweep["launcher"] = _LAUNCHER.value
    sweeps.write_sweep(exp_dir, sweep)
    print(f"sweep folder: {exp_dir} ({len(todo)} job(s))")
    for f in files:
      print(f"wrote {f}")
    print(f"submit with: {submit}")
    return

  if _PARALLEL.value < 1:
    raise ConfigError(f"--parallel must be >= 1, got {_PARALLEL.value}")
  print(f"sweep folder: {exp_dir} | {len(todo)} job(s), {_PARALLEL.value} at "
        "a time", flush=True)
  ok = True
  if todo:
    ok = sweeps.run_jobs(exp_dir, sweep, todo, WORKDIR, _PARALLEL.value,
                         _DEVICES.value, cache=_CACHE.value)
  print(sweeps.summary_table(sweep))
  print(f"sweep folder: {exp_dir}")
  if sweep.get("report"):
    print(f"report: python -m experiments.report --config {sweep['report']} "
          f"--config.inputs.sweep_dir={exp_dir}")
  if not ok:
    sys.exit(1)


if __name__ == "__main__":
  run_main(main)
