"""`config.inference` of every report (thesis_jax/reports/inference/).

  python -m experiments.report --config configs/reports/compare_tokenizers.py \
      --config.inputs.sweep_dir=... --config.inference.enabled=True \
      --config.inference.strategies.gaussian_noise=0.1,0.5 \
      --config.inference.anomaly_files=other_process.h5
"""
import ml_collections


def inference_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.enabled = False
  c.checkpoint = "best"         # best (by val loss) | last
  c.split = "test"              # train | val | test of the run's own data
  c.data_path = ""              # "" -> the run's data.path (cfg.yaml); else this
                                # HDF5 file (same dataset names as the run)
  c.max_events = 0              # > 0: first N events of the split (and files)
  c.block_rows = 0              # rows read and scored at a time; 0 = the run's data.block_rows
                                # (split, train split for the baselines, files)
  c.batch_size = 64             # events per batch (weight-0 rows pad the last);
                                # small batches keep the VQ distances in cache
  c.steps_per_dispatch = 64     # batches per jitted call (lax.map inside)
  c.host_threads = 2            # Python threads issuing calls concurrently
                                # (~1.3x on 2 CPU cores; 1 = serial)
  c.score = "mse"               # mse | mae | mse_real | mae_real | mse_globals | loss
                                # | baseline_multiplicity | baseline_type_counts
                                # | baseline_met (model-free, always reported)
                                # | prior_nll | prior_nll_token | prior_nll_globals
                                # (with a token prior run, see prior_run)
  c.seed = 0                    # corruption random streams and bootstrap
  c.bootstrap = 200             # AUROC bootstrap replicates (0 = no interval)
  c.ci_level = 0.95             # central bootstrap interval
  c.tie_rtol = 1e-5             # paired scores within this relative difference
                                # are ties (float rounding, e.g. token order)
  c.hist_bins = 60
  # Strengths per corruption (empty tuple = skip). Units: see
  # thesis_jax/reports/inference/corruptions.py.
  c.strategies = ml_collections.ConfigDict({
      "gaussian_noise": (0.0, 0.05, 0.1, 0.2, 0.5),   # rel. E/pT, abs. eta/phi sigma
      "token_shuffle": (1.0,),                        # fraction of events
      "drop_tokens": (0.1, 0.25, 0.5),                # fraction of real tokens
      "swap_id_cont_pairs": (0.25, 0.5, 1.0),         # fraction of events
      "met_scramble": (0.25, 0.5, 1.0),               # fraction of events
  })
  c.prior_run = ""              # token_prior run for prior_nll scores; "" ->
                                # the newest one next to each tokenizer run
  c.anomaly_files = ""          # comma-separated HDF5 files (same layout):
                                # their `file_dataset`, else their only dataset
  c.file_dataset = "X_test"
  return c
