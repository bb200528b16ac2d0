"""Hyperparameter search: an Optuna study over ranges a config declares.

  from thesis_jax import search
  sdir, spec = search.create_search(search_config)    # folder + search.json
  search.run_worker(sdir)                              # trials in this process
  print(search.summary_table(search.open_study(sdir, spec), spec))

See experiments/search.py for the command line and README.md ("Search").
Optuna is imported only when a study is opened (`pip install
'thesis_jax[search]'`).
"""
from thesis_jax.search.folder import (create_search, read_spec,
                                      trial_run_dir, write_spec)
from thesis_jax.search.launch import run_local_workers, write_cluster
from thesis_jax.search.space import check_space, describe_space, suggest
from thesis_jax.search.study import (objective_value, open_study, prune_hook,
                                     run_trial, run_worker)
from thesis_jax.search.summary import summary_table, trial_rows
