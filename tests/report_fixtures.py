"""A tiny thesis_jax sweep shared by test_readers.py and test_reports.py.

Built once per pytest process (memoised), laid out like a finished sweep:
`{root}/multiruns/exp_{stamp}_tiny/` with the jobs next to it in
`{root}/runs/run_{stamp}_tiny_job{N}/`, each recording its overrides.
"""
import os

from conftest import tiny_config

STAMP = "20260101-000000"
NAME = "tiny"
# (latent space, globals_beta, seed) per job
GRID = (("none", 0.0, 0), ("linear", 1.0, 0), ("vq", 0.0, 0), ("vq", 1.0, 0),
        ("vq", 1.0, 1))
_CACHE = {}


def build_sweep(root):
  """-> {"root", "sweep_dir", "runs": [(run_dir, TrainResult, (ls, beta, seed))]}."""
  if "sweep" in _CACHE:
    return _CACHE["sweep"]
  import thesis_jax
  sweep_dir = os.path.join(root, "multiruns", f"exp_{STAMP}_{NAME}")
  os.makedirs(sweep_dir)
  runs = []
  for job, (ls, beta, seed) in enumerate(GRID):
    run_dir = os.path.join(root, "runs", f"run_{STAMP}_{NAME}_job{job}")
    ov = {"phase1.latent_space.name": ls, "phase1.decoder.globals_beta": beta,
          "phase1.trainer.seed": seed, "logging.run_dir": run_dir}
    cfg = tiny_config(root, **ov)
    cfg.data.synthetic.update(n_train=256, n_val=128, n_test=128)
    cfg.phase1.latent_space.kmeans_init = False   # less to compile
    cfg.logging.save_artifacts = False            # reports read facts only
    res = thesis_jax.train_model(cfg, [f"{k}={v}" for k, v in ov.items()])
    runs.append((run_dir, res, (ls, beta, seed)))
  _CACHE["sweep"] = {"root": str(root), "sweep_dir": sweep_dir, "runs": runs}
  return _CACHE["sweep"]
