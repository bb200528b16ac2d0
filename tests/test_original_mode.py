"""configs/default.py:original -- the original's behaviour where it changes numbers."""
import jax
import pytest
import numpy as np

from configs.default import get_config
from thesis_jax.data import synthetic
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.pipeline import as_dict
from thesis_jax.train.loops import ae
from thesis_jax.train.restore import DatasetInfo


def _tiny_original(latent="vq"):
  c = get_config("original")
  c.phase1.latent_space.update(name=latent, latent_dim=8, codebook_size=16)
  c.phase1.encoder.enc_hidden = (16,)
  c.phase1.decoder.dec_hidden = (16,)
  return c


def test_weight_masked_last_batch_equals_the_short_batch():
  """A kept last partial batch (real rows + weight-0 rows, static shape) makes
  the same update as torch's short batch of only the real rows: loss, Adam
  step and EMA VQ statistics."""
  ev = synthetic.make_events(5, 18, seed=3)
  norm = Normalizer.fit(ev, normalize_globals=False)
  info = DatasetInfo(num_types=int(ev.ids.max()) + 1, n_tokens=18, norm=norm)
  loop = ae.build(_tiny_original(), info)
  state = loop.init_state(jax.random.PRNGKey(0), info)
  short = dict(as_dict(norm.apply(ev)), weight=np.ones(5, np.float32))
  padded = {k: np.concatenate([v, v[:3]]) for k, v in short.items()}
  padded["weight"][5:] = 0.0
  step = jax.jit(loop.train_step)
  rng = jax.random.PRNGKey(1)
  a, ma = step(state, short, rng)
  b, mb = step(state, padded, rng)
  np.testing.assert_allclose(float(mb["loss"]), float(ma["loss"]), rtol=1e-5)
  np.testing.assert_allclose(float(mb["perplex"]), float(ma["perplex"]), rtol=1e-5)
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-4, atol=1e-6)
  for x, y in zip(jax.tree.leaves(a.model_state), jax.tree.leaves(b.model_state)):
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_original_mode_run_on_cms(tmp_path):
  """One original-mode run: last partial batch kept (12 steps/epoch on 1452
  events, not 11), test metrics of the last epoch, rec_globals logged as
  globals_beta x mse (read back as the plain mse), training perplexity on the
  train row of scalars.csv."""
  import csv
  import thesis_jax
  from conftest import CMS_H5
  from thesis_jax.facts.readers import load_runs
  from thesis_jax.facts.schema import iter_events
  c = _tiny_original("vq")
  c.data.path = CMS_H5
  c.phase1.decoder.globals_beta = 2.0
  c.phase1.trainer.update(epochs=2, steps_per_dispatch=4)
  c.logging.update(output_root=str(tmp_path), progress=False)
  res = thesis_jax.train_model(c)
  evs = list(iter_events(res.run_dir))
  end = [e for e in evs if e["moment"] == "on_train_end"][0]
  assert end["step"] == 2 * 12                       # ceil(1452 / 128) per epoch
  test = [e for e in evs if e["moment"] == "on_test_end"][0]
  assert test["epoch"] == 1                          # the last epoch's model
  h = res.histories
  other = [a + b + c for a, b, c in zip(h["rec_tokens"], h["commit"], h["codebook"])]
  np.testing.assert_allclose(np.subtract(h["val_loss"], other), h["rec_globals"],
                             rtol=1e-4)              # 2 x mse, as thesis-ml logs it
  with open(f"{res.run_dir}/facts/scalars.csv") as f:
    rows = list(csv.DictReader(f))
  train_p = [float(r["metric_perplex"]) for r in rows if r["split"] == "train"]
  val_p = [float(r["metric_perplex"]) for r in rows if r["split"] == "val"]
  np.testing.assert_allclose(train_p, h["train_perplex"], rtol=1e-6)
  np.testing.assert_allclose(val_p, h["perplex"], rtol=1e-6)
  row = load_runs(run_dirs=[res.run_dir]).summary.iloc[0]
  assert row["loss.rec_globals_best"] == pytest.approx(
      h["rec_globals"][row["best_epoch"]] / 2.0)
  assert row["test_loss_checkpoint"] == "last" and not row["globals_normalized"]
