"""configs/default.py:original -- the original's behaviour where it changes numbers."""
import jax
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
