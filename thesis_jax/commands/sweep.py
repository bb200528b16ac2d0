"""`thesis-jax sweep` / `python -m experiments.sweep`: run a grid of
trainings, locally or as a cluster array job.

  thesis-jax sweep --config compare_globals_heads
  thesis-jax sweep --config compare_latent_spaces --parallel 2
  thesis-jax sweep --config compare_globals_heads \
      --config.base.phase1.trainer.epochs=5 --config.grid.seed=0,1
  thesis-jax sweep --config compare_globals_heads --launcher slurm \
      --partition gpu --time_limit 08:00:00          # writes the script
  thesis-jax sweep --resume outputs/multiruns/exp_20250101-120000_compare_globals_heads

Creates {output_root}/multiruns/exp_{stamp}_{name}/ (sweep.json, runs/, logs/).
Exit code 0 only if every job finished. See README.md ("Sweeps").
"""
from __future__ import annotations

import os
import sys

from thesis_jax.cli import Parser, UsageError, run_command


def _main(args, config, overrides, config_file) -> None:
  from thesis_jax import sweeps
  del overrides
  if args.parallel < 1:
    raise UsageError(f"--parallel must be >= 1, got {args.parallel}")
  if args.resume:
    exp_dir = os.path.abspath(args.resume)
    if config is not None:
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
    if config is None:
      raise UsageError("give --config (an experiment config name or file) or "
                       "--resume EXP_FOLDER; see --help")
    exp_dir, sweep = sweeps.create_sweep(config, args.launcher, config_file)
    todo = [(j["job"], False) for j in sweep["jobs"]]

  workdir = os.getcwd()
  if args.launcher != "local":
    files, submit = sweeps.write_launcher(args.launcher, exp_dir, workdir,
                                          sweep, todo, launcher_options(args))
    sweep["launcher"] = args.launcher
    sweeps.write_sweep(exp_dir, sweep)
    print(f"sweep folder: {exp_dir} ({len(todo)} job(s))")
    print_written(files, submit)
    return

  print(f"sweep folder: {exp_dir} | {len(todo)} job(s), {args.parallel} at "
        "a time", flush=True)
  ok = True
  if todo:
    ok = sweeps.run_jobs(exp_dir, sweep, todo, workdir, args.parallel,
                         args.devices, cache=args.compilation_cache)
  print(sweeps.summary_table(sweep))
  print(f"sweep folder: {exp_dir}")
  if sweep.get("report"):
    print(f"report: thesis-jax report --config {sweep['report']} "
          f"--config.inputs.sweep_dir={exp_dir}")
  if not ok:
    sys.exit(1)


def add_launcher_flags(p) -> None:
  """Flags of how jobs run, shared by `sweep` and `search`."""
  p.add_argument("--parallel", type=int, default=1, help="jobs run at once (local)")
  p.add_argument("--launcher", default="local",
                 choices=["local", "slurm", "htcondor"],
                 help="local: run the jobs here; slurm/htcondor: write an "
                 "array-job script")
  p.add_argument("--devices", default="", help="GPU ids shared out to "
                 "parallel jobs (default: all visible)")
  p.add_argument("--compilation_cache", default="", help="JAX compilation "
                 "cache shared by the jobs: '' = {exp}/jax_cache (unless "
                 "JAX_COMPILATION_CACHE_DIR is set), 'off', or a folder")
  p.add_argument("--partition", default="", help="SLURM partition")
  p.add_argument("--queue", default="", help="HTCondor +JobFlavour (queue)")
  p.add_argument("--gpus_per_job", type=int, default=1,
                 help="GPUs per cluster job (0: CPU)")
  p.add_argument("--cpus_per_job", type=int, default=4,
                 help="CPU cores per cluster job")
  p.add_argument("--mem", default="16G", help="memory per cluster job")
  p.add_argument("--time_limit", default="04:00:00",
                 help="wall-time limit per cluster job, [D-]HH:MM:SS")
  p.add_argument("--env_setup", default="", help="shell line run before each "
                 "cluster job, e.g. 'source ~/venvs/thesis/bin/activate'")


def launcher_options(args):
  from thesis_jax import sweeps
  return sweeps.LauncherOptions(
      partition=args.partition, queue=args.queue,
      gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job,
      mem=args.mem, time_limit=args.time_limit, env_setup=args.env_setup)


def print_written(files, submit: str) -> None:
  for f in files:
    print(f"wrote {f}")
  print(f"submit with: {submit}")


def run(argv=None, prog: str = "thesis-jax sweep") -> None:
  p = Parser(prog=prog, description="Run a grid of trainings (a sweep).",
             usage=f"{prog} (--config NAME_OR_FILE[:variant] | --resume "
             "EXP_FOLDER) [flags] [--config.KEY=VALUE ...]")
  p.add_argument("--config", help="experiment config name "
                 "(compare_globals_heads, compare_latent_spaces) or file")
  p.add_argument("--resume", default="", help="an exp_ folder: skip finished "
                 "jobs, resume the others")
  add_launcher_flags(p)
  run_command("sweep", p, _main, argv, default_config="compare_globals_heads")
