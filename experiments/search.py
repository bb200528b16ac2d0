"""Hyperparameter search (Optuna) over ranges declared in a search config.

  python -m experiments.search --config configs/search/vq_ae.py
  python -m experiments.search --config configs/search/vq_ae.py --parallel 2 \
      --config.search.n_trials=40 --config.base.phase1.trainer.epochs=20
  python -m experiments.search --resume outputs/multiruns/search_20260101-120000_vq_ae \
      [--n_trials 60]                                  # continue / extend
  python -m experiments.search --config configs/search/vq_ae.py \
      --launcher slurm --tasks 8 --partition gpu       # writes the script

Creates {output_root}/multiruns/search_{stamp}_{name}/ (search.json,
study.db, runs/, logs/); each trial is a normal run folder. Workers share the
study: `--parallel N` local processes, or `--tasks N` cluster array tasks.
Exit code 0 when the workers ended normally. See README.md ("Search").
"""
import os
import sys

from absl import flags
from ml_collections import config_flags

from experiments import launcher_flags as lf
from thesis_jax.cli import run_main

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Search config file (base + space + search).",
    lock_config=True)
_RESUME = flags.DEFINE_string(
    "resume", "", "A search_ folder: run more trials of its study.")
_N_TRIALS = flags.DEFINE_integer(
    "n_trials", 0, "With --resume: raise the study's trial budget to this.")
_TASKS = flags.DEFINE_integer(
    "tasks", 4, "Cluster launchers: array tasks (workers) to write.")
_WORKER = flags.DEFINE_bool(
    "worker", False, "Run trials in this process (what each parallel or "
    "cluster worker runs).")

WORKDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _open(search):
  from thesis_jax.errors import ConfigError
  if _RESUME.value:
    sdir = os.path.abspath(_RESUME.value)
    spec = search.read_spec(sdir)
    if _N_TRIALS.value:
      if _N_TRIALS.value < 1:
        raise ConfigError(f"--n_trials must be >= 1, got {_N_TRIALS.value}")
      spec["search"]["n_trials"] = _N_TRIALS.value
      search.write_spec(sdir, spec)
    if _CONFIG.value is not None and not _WORKER.value:
      print("note: --resume takes the search from its folder; --config is "
            "ignored", flush=True)
    return sdir, spec
  if _CONFIG.value is None:
    raise ConfigError("give --config (a search config) or --resume "
                      "<search_dir>")
  source = config_flags.get_config_filename(flags.FLAGS["config"])
  return search.create_search(_CONFIG.value, source)


def main(argv):
  del argv
  from thesis_jax import search
  from thesis_jax.errors import ConfigError
  sdir, spec = _open(search)
  if _WORKER.value:
    from thesis_jax.sweeps.basecfg import load_base
    from thesis_jax.train.host_devices import configure_host_devices
    configure_host_devices(int(load_base(sdir).phase1.trainer.batch_size))
    n = search.run_worker(sdir)
    print(f"worker done: {n} trial(s) run here", flush=True)
    return
  print(f"search folder: {sdir}", flush=True)
  for name, text in search.describe_space(spec["space"]):
    print(f"  {name}: {text}")
  s = spec["search"]
  print(f"  objective: {s['direction']} {s['objective']} | {s['n_trials']} "
        f"trials | pruner {s['pruner']}", flush=True)
  if lf.LAUNCHER.value != "local":
    if _TASKS.value < 1:
      raise ConfigError(f"--tasks must be >= 1, got {_TASKS.value}")
    files, submit = search.write_cluster(lf.LAUNCHER.value, sdir, WORKDIR,
                                         spec, _TASKS.value,
                                         lf.launcher_options())
    lf.print_written(files, submit)
    return
  lf.check_parallel()
  ok = search.run_local_workers(sdir, lf.PARALLEL.value, WORKDIR,
                                lf.DEVICES.value, lf.CACHE.value)
  print(search.summary_table(search.open_study(sdir, spec), spec))
  print(f"search folder: {sdir}")
  print("report: python -m experiments.report --config "
        f"configs/reports/search.py --config.inputs.sweep_dir={sdir}")
  if not ok:
    sys.exit(1)


if __name__ == "__main__":
  run_main(main)
