"""Importing thesis-ml runs: the torch-free reader and number-for-number
per-event errors against the original's own forward pass."""
import glob
import io
import os
import pickle
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CMS_H5, DATA
from thesis_jax.interop.torch_zip import UnsafeCheckpointError, load_state_dict

ORIG = os.path.join(DATA, "original_runs")
RUNS = {os.path.basename(p).split("_orig_")[1]: p
        for p in sorted(glob.glob(os.path.join(ORIG, "run_*")))}


class _Evil:
  def __reduce__(self):
    return (os.system, ("touch pwned_by_pickle",))


def _zip_with_pickle(path, payload: bytes):
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", payload)
    z.writestr("archive/byteorder", "little")


def test_malicious_pickle_refused(tmp_path):
  for obj in (_Evil(), {"w": _Evil()}, eval):
    bad = tmp_path / "bad.pt"
    _zip_with_pickle(bad, pickle.dumps(obj, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match="refusing global"):
      load_state_dict(str(bad))
  assert not os.path.exists("pwned_by_pickle")


def test_reads_a_torch_state_dict():
  sd = load_state_dict(os.path.join(RUNS["vq_seed3"], "last.pt"))
  assert sd["encoder.net.0.weight"].shape == (128, 12)
  assert sd["bottleneck.quant.codebook"].shape == (512, 32)
  assert sd["bottleneck.quant.ema_count"].dtype == np.float32
  assert np.isfinite(sd["decoder.g_head.2.bias"]).all()


def _scores(run_dir, which):
  from thesis_jax.data.pipeline import load_raw
  from thesis_jax.train.restore import load_run
  run = load_run(run_dir, which)
  test = run.norm.apply(load_raw(run.config.data)[0]["test"])
  batch = {"ids": jnp.asarray(test.ids, jnp.int32), "cont": jnp.asarray(test.cont),
           "globals": jnp.asarray(test.globals),
           "weight": jnp.ones(len(test.ids), jnp.float32)}
  out = jax.jit(run.loop.score_step)(run.state, batch)
  st = run.state
  fwd = run.loop.model.apply({"params": st.params, **st.model_state},
                             batch["cont"], batch["ids"], train=False)
  out["globals_hat"] = fwd.globals_hat
  return run, test, {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("name", [
    pytest.param("none_seed1", marks=pytest.mark.slow),
    pytest.param("linear_seed1", marks=pytest.mark.slow), "vq_seed3"])
def test_imported_run_reproduces_original_errors(tmp_path, name):
  from configs.default import get_config
  from thesis_jax.interop.original_run import import_run
  out = import_run(RUNS[name], get_config("original"), data_path=CMS_H5,
                   out_dir=str(tmp_path / "run"))
  ref = np.load(os.path.join(RUNS[name], "reference_errors.npz"))
  for which, key in (("last", "last"), ("best", "best_val")):
    if f"{key}_mse" not in ref:
      continue
    run, test, s = _scores(out, which)
    np.testing.assert_allclose(s["mse"], ref[f"{key}_mse"], rtol=1e-5)
    # Globals are raw MET (~100 GeV) and phi: the prediction agrees to 1e-5
    # of each output's scale (float32 rounding of the ~100-sized head terms
    # reaches the small phi output); its squared error cancels digits.
    g_ref = ref[f"{key}_globals_hat"]
    for j in range(g_ref.shape[1]):
      np.testing.assert_allclose(s["globals_hat"][:, j], g_ref[:, j], rtol=1e-5,
                                 atol=1e-5 * np.abs(g_ref[:, j]).max())
    np.testing.assert_allclose(s["mse_globals"], ref[f"{key}_mse_globals"], rtol=1e-4)
  if "tokens_cont" in ref:    # the same normalised inputs as the original's
    np.testing.assert_allclose(test.cont, ref["tokens_cont"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(test.ids, ref["tokens_id"])
    np.testing.assert_allclose(test.globals, ref["globals"], rtol=1e-6)
    assert run.epoch == 18       # vq seed 3: best epoch 18, last 19
  assert run.config.phase1.latent_space.name == name.split("_")[0]


def test_cli_refuses_malicious_checkpoint(tmp_path):
  run = tmp_path / "run"
  os.makedirs(run / ".hydra")
  src = RUNS["none_seed1"]
  for f in (".hydra/config.yaml", "facts/scalars.csv"):
    os.makedirs(os.path.dirname(run / f), exist_ok=True)
    with open(os.path.join(src, f)) as a, open(run / f, "w") as b:
      b.write(a.read())
  _zip_with_pickle(run / "last.pt", pickle.dumps(_Evil(), protocol=2))
  # The installed command, run from outside the repository.
  p = subprocess.run([sys.executable, "-m", "thesis_jax", "import_original",
                      f"--run_dir={run}", "--checkpoint=last",
                      f"--data_path={CMS_H5}"], cwd=tmp_path, capture_output=True,
                     text=True, timeout=300)
  assert p.returncode == 1
  assert p.stderr.strip().splitlines()[-1].startswith("error: ")
  assert "refusing global" in p.stderr and "Traceback" not in p.stderr
  assert not os.path.exists(run / "checkpoints")
  assert not os.path.exists(run / "cfg.yaml")


@pytest.mark.slow
def test_report_inference_evaluates_imported_original_run(tmp_path):
  """The reports' inference scores an imported thesis-ml run (kind stays
  'original') with the original's own per-event errors; an unimported one is
  skipped with the command that converts it."""
  from configs.default import get_config
  from configs.reports.inference_defaults import inference_config
  from thesis_jax.interop.original_run import import_run
  from thesis_jax.reports.inference import run_inference
  out = import_run(RUNS["vq_seed3"], get_config("original"), data_path=CMS_H5,
                   out_dir=str(tmp_path / "run"))
  c = inference_config()
  c.enabled = True
  c.strategies = {k: () for k in c.strategies}
  c.strategies["gaussian_noise"] = (0.5,)
  s = run_inference([{"run_dir": out, "kind": "original"},
                     {"run_dir": RUNS["none_seed1"], "kind": "original"}],
                    c, str(tmp_path / "inference"))
  e, skipped = s["runs"]
  assert e["kind"] == "original" and not e.get("skipped")
  assert e["checkpoint_epoch"] == 18 and e["n_events"] == 485
  ref = np.load(os.path.join(RUNS["vq_seed3"], "reference_errors.npz"))
  assert e["clean"]["mse"] == pytest.approx(float(ref["best_val_mse"].mean()), rel=1e-5)
  assert 0.5 < e["anomaly"][0]["auroc"] <= 1.0
  assert skipped["skipped"] and "import_original" in skipped["note"]
