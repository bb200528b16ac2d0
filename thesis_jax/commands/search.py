"""`thesis-jax search` / `python -m experiments.search`: an Optuna
hyperparameter search over ranges declared in a search config.

  thesis-jax search --config vq_ae
  thesis-jax search --config vq_ae:smoke                 # minutes on a CPU
  thesis-jax search --config vq_ae --parallel 2 \
      --config.search.n_trials=40 --config.base.phase1.trainer.epochs=20
  thesis-jax search --resume outputs/multiruns/search_20260101-120000_search_vq_ae \
      [--n_trials 60]                                    # continue / extend
  thesis-jax search --config vq_ae --launcher slurm --tasks 8 --partition gpu

Creates {output_root}/multiruns/search_{stamp}_{name}/ (search.json,
study.db, runs/, logs/); each trial is a normal run folder. Workers share the
study: `--parallel N` local processes, or `--tasks N` cluster array tasks.
Exit code 0 when every worker ended normally. See README.md ("Search").
"""
from __future__ import annotations

import os
import sys

from thesis_jax.cli import Parser, UsageError, run_command
from thesis_jax.commands.sweep import (add_launcher_flags, launcher_options,
                                       print_written)


def _open(search, args, config, config_file):
  if args.resume:
    sdir = os.path.abspath(args.resume)
    spec = search.read_spec(sdir)
    if args.n_trials:
      spec["search"]["n_trials"] = args.n_trials
      search.write_spec(sdir, spec)
    if config is not None and not args.worker:
      print("note: --resume takes the search from its folder; --config is "
            "ignored", flush=True)
    return sdir, spec
  if config is None:
    raise UsageError("give --config (a search config name or file) or "
                     "--resume SEARCH_FOLDER; see --help")
  return search.create_search(config, config_file)


def _main(args, config, overrides, config_file) -> None:
  del overrides
  from thesis_jax import search
  for flag in ("parallel", "tasks", "n_trials"):
    if getattr(args, flag) < (0 if flag == "n_trials" else 1):
      raise UsageError(f"--{flag} must be >= 1, got {getattr(args, flag)}")
  sdir, spec = _open(search, args, config, config_file)
  if args.worker:
    from thesis_jax.sweeps.basecfg import load_base
    from thesis_jax.train.host_devices import configure_host_devices
    configure_host_devices(int(load_base(sdir).phase1.trainer.batch_size))
    n = search.run_worker(sdir, worker=args.worker_index)
    print(f"worker done: {n} trial(s) run here", flush=True)
    return
  print(f"search folder: {sdir}", flush=True)
  for name, text in search.describe_space(spec["space"]):
    print(f"  {name}: {text}")
  s = spec["search"]
  print(f"  objective: {s['direction']} {s['objective']} | {s['n_trials']} "
        f"trials | pruner {s['pruner']}", flush=True)
  workdir = os.getcwd()
  if args.launcher != "local":
    files, submit = search.write_cluster(args.launcher, sdir, workdir, spec,
                                         args.tasks, launcher_options(args))
    print_written(files, submit)
    return
  ok = search.run_local_workers(sdir, args.parallel, workdir, args.devices,
                                args.compilation_cache)
  print(search.summary_table(search.open_study(sdir, spec), spec))
  print(f"search folder: {sdir}")
  print(f"report: thesis-jax report --config search "
        f"--config.inputs.sweep_dir={sdir}")
  if not ok:
    sys.exit(1)


def run(argv=None, prog: str = "thesis-jax search") -> None:
  p = Parser(prog=prog, description="Hyperparameter search (Optuna).",
             usage=f"{prog} (--config NAME_OR_FILE[:variant] | --resume "
             "SEARCH_FOLDER) [flags] [--config.KEY=VALUE ...]")
  p.add_argument("--config", help="search config name (vq_ae) or file")
  p.add_argument("--resume", default="", help="a search_ folder: run more "
                 "trials of its study")
  p.add_argument("--n_trials", type=int, default=0, help="with --resume: "
                 "set the study's trial budget (all workers together)")
  p.add_argument("--tasks", type=int, default=4,
                 help="cluster launchers: array tasks (workers) to write")
  p.add_argument("--worker", action="store_true", help="run trials in this "
                 "process (what each parallel or cluster worker runs)")
  p.add_argument("--worker_index", type=int, default=0, help="with --worker: "
                 "offsets the sampler seed (set by --parallel / the launchers)")
  add_launcher_flags(p)
  run_command("search", p, _main, argv, default_config="vq_ae")
