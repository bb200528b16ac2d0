"""1 device vs 4 (forced host) devices: same losses and VQ state."""
import numpy as np
import pytest

from conftest import start_device_worker, worker_result

WORKER = r"""
import json, sys
import jax, numpy as np
sys.path.insert(0, "tests")
import thesis_jax
from conftest import CMS_H5, tiny_config
from thesis_jax.train.restore import load_run
cfg = tiny_config(sys.argv[1], **{"data.path": CMS_H5, "phase1.trainer.epochs": 2,
                                  "phase1.trainer.batch_size": 64})
res = thesis_jax.train_model(cfg)
run = load_run(res.run_dir, which="last")
vq = run.state.model_state["vq_stats"]["bottleneck"]
print("RESULT" + json.dumps({
    "devices": jax.device_count(), "hist": res.histories, "test": res.test_loss,
    "codebook": np.asarray(vq["codebook"]).tolist(),
    "cluster_size": np.asarray(vq["cluster_size"]).tolist()}))
"""


@pytest.mark.slow
def test_four_devices_match_one(tmp_path):
  # both workers at once: each compiles on its own core
  procs = [start_device_worker(WORKER, [tmp_path / "one"], 1),
           start_device_worker(WORKER, [tmp_path / "four"], 4)]
  one, four = [worker_result(p) for p in procs]
  assert one["devices"] == 1 and four["devices"] == 4
  for k in ("train_loss", "val_loss", "rec_tokens", "rec_globals", "commit", "perplex"):
    np.testing.assert_allclose(four["hist"][k], one["hist"][k], rtol=2e-4, err_msg=k)
  np.testing.assert_allclose(four["test"], one["test"], rtol=2e-4)
  np.testing.assert_allclose(four["cluster_size"], one["cluster_size"], rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(four["codebook"], one["codebook"], rtol=1e-3, atol=1e-4)
