"""Shared test fixtures: tiny configs, the real CMS events in tests/data/, and
a tiny finished sweep (`tiny_sweep`, built once per session)."""
import atexit
import os
import shutil
import sys
import tempfile

import pytest

# In-process trainings keep JAX's own device count (thesis_jax.train would
# otherwise split the CPU into host devices when it happens to run first).
os.environ.setdefault("THESIS_JAX_HOST_DEVICES", "0")

# One fresh JAX persistent compilation cache per test session, shared with
# the subprocesses the tests start (environment): the many tiny trainings
# that compile the same programs compile them once. A cached executable is
# the same program, so numbers do not depend on test order; the folder is
# new each session (nothing carries over) and removed at exit.
# THESIS_JAX_TEST_JAX_CACHE=off runs the suite without it; a folder there
# uses that folder. Subprocesses that import this file inherit the variable
# and keep the cache their launcher gave them.
_cache = os.environ.get("THESIS_JAX_TEST_JAX_CACHE", "")
if _cache != "off":
  if not _cache:
    _cache = tempfile.mkdtemp(prefix="thesis_jax_tests_jax_cache_")
    atexit.register(shutil.rmtree, _cache, True)
    os.environ["THESIS_JAX_TEST_JAX_CACHE"] = _cache
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  if "jax" in sys.modules:     # imported before this file: configure it too
    sys.modules["jax"].config.update(
        "jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    sys.modules["jax"].config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))

from thesis_jax.config_tools import set_dotted  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")
CMS_H5 = os.path.join(DATA, "cms_hzz_tokens.h5")


def start_device_worker(code: str, args, n_devices: int):
  """Runs `python -c code *args` from the repository root with `n_devices`
  forced CPU host devices; -> the Popen (read it with `worker_result`)."""
  import subprocess
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}")
  return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def worker_result(p) -> dict:
  """The JSON after "RESULT" on a `start_device_worker` process's stdout."""
  import json
  import subprocess
  try:
    out, err = p.communicate(timeout=600)
  except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
  assert p.returncode == 0, err[-3000:]
  line = [l for l in out.splitlines() if l.startswith("RESULT")][0]
  return json.loads(line[len("RESULT"):])


def tiny_config(output_root, **updates):
  """A small, fast training config (synthetic data unless data.path is set).

  `updates` are dotted keys: tiny_config(tmp, **{"phase1.trainer.epochs": 3}).
  """
  from configs.default import get_config
  c = get_config("tiny")
  c.logging.output_root = str(output_root)
  c.logging.progress = False
  for k, v in updates.items():
    set_dotted(c, k, v)
  return c


@pytest.fixture
def cms_h5():
  return CMS_H5


def train_interrupted(train, config, monkeypatch, after_epoch: int = 1):
  """Runs `train(config)` and kills it (KeyboardInterrupt) right after the
  0-based epoch `after_epoch` has been reported, as a hard stop would."""
  from thesis_jax.train import progress
  orig = progress.Progress.epoch

  def interrupt(self, epoch, *a, **k):
    orig(self, epoch, *a, **k)
    if epoch == after_epoch:
      raise KeyboardInterrupt(f"simulated kill after epoch {after_epoch + 1}")
  monkeypatch.setattr(progress.Progress, "epoch", interrupt)
  with pytest.raises(KeyboardInterrupt):
    train(config)
  monkeypatch.setattr(progress.Progress, "epoch", orig)


# The tiny sweep read by test_readers.py and test_reports.py, laid out like a
# finished one: `{root}/multiruns/exp_{stamp}_tiny/` with the jobs next to it
# in `{root}/runs/run_{stamp}_tiny_job{N}/`, each recording its overrides.
SWEEP_STAMP = "20260101-000000"
SWEEP_NAME = "tiny"
# (latent space, globals_beta, seed) per job
GRID = (("none", 0.0, 0), ("linear", 1.0, 0), ("vq", 0.0, 0), ("vq", 1.0, 0),
        ("vq", 1.0, 1))


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
  """-> {"root", "sweep_dir", "runs": [(run_dir, TrainResult, (ls, beta, seed))]}."""
  import thesis_jax
  root = tmp_path_factory.mktemp("sweep")
  sweep_dir = os.path.join(root, "multiruns", f"exp_{SWEEP_STAMP}_{SWEEP_NAME}")
  os.makedirs(sweep_dir)
  runs = []
  for job, (ls, beta, seed) in enumerate(GRID):
    run_dir = os.path.join(root, "runs", f"run_{SWEEP_STAMP}_{SWEEP_NAME}_job{job}")
    ov = {"phase1.latent_space.name": ls, "phase1.decoder.globals_beta": beta,
          "phase1.trainer.seed": seed, "logging.run_dir": run_dir}
    cfg = tiny_config(root, **ov)
    cfg.data.synthetic.update(n_train=256, n_val=128, n_test=128)
    cfg.phase1.latent_space.kmeans_init = False   # less to compile
    cfg.logging.save_artifacts = False            # reports read facts only
    res = thesis_jax.train_model(cfg, [f"{k}={v}" for k, v in ov.items()])
    runs.append((run_dir, res, (ls, beta, seed)))
  return {"root": str(root), "sweep_dir": sweep_dir, "runs": runs}
