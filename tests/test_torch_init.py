"""phase1.init = torch: the original's torch default distributions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.default import get_config
from thesis_jax.errors import ConfigError
from thesis_jax.models.torch_init import apply_init, torch_style_init
from thesis_jax.train.loops import ae
from thesis_jax.train.restore import DatasetInfo


def _state(init, latent="vq", ema=True):
  c = get_config("original")
  c.phase1.init = init
  c.phase1.latent_space.update(name=latent, ema=ema)
  info = DatasetInfo(num_types=6, n_tokens=18, norm=None)
  return ae.build(c, info).init_state(jax.random.PRNGKey(3), info)


def _dense_layers(tree, path=""):
  if isinstance(tree, dict):
    if "kernel" in tree:
      yield path, tree
    for k, v in tree.items():
      yield from _dense_layers(v, f"{path}/{k}")


def test_torch_init_distributions():
  st = _state("torch")
  layers = list(_dense_layers(jax.device_get(st.params)))
  assert len(layers) == 8      # encoder 3 + decoder 3 + globals head 2
  for path, p in layers:
    w, b = np.asarray(p["kernel"]), np.asarray(p["bias"])
    bound = 1 / np.sqrt(w.shape[0])          # fan_in = in features
    for x in (w, b):
      assert np.abs(x).max() <= bound, path
    # U(-a, a): std a/sqrt(3), and the range is used (not a narrower law)
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.15), path
    assert np.abs(w).max() > 0.9 * bound and np.abs(b).max() > 0.5 * bound, path
  emb = np.asarray(st.params["encoder"]["id_embed"])
  assert emb.std() == pytest.approx(1.0, rel=0.4)
  vq = jax.device_get(st.model_state["vq_stats"]["bottleneck"])
  cb, ew = np.asarray(vq["codebook"]), np.asarray(vq["ema_w"])
  for x in (cb, ew):                         # N(0, 1), 512 x 32 draws
    assert abs(x.mean()) < 0.02 and x.std() == pytest.approx(1.0, rel=0.03)
  assert abs(np.corrcoef(cb.ravel(), ew.ravel())[0, 1]) < 0.03   # separate draws
  assert (np.asarray(vq["cluster_size"]) == 0).all()


def test_non_ema_codebook_and_other_layouts():
  """Without EMA the codebook is a param: N(0, 1); any dense kernel (here a
  3-D one) uses fan_in = prod(kernel.shape[:-1]); other leaves are kept."""
  params = {"bottleneck": {"codebook": jnp.zeros((512, 32))},
            "head": {"kernel": jnp.zeros((4, 8, 16)), "bias": jnp.zeros(16)},
            "norm": {"scale": jnp.ones(5)}}
  p, ms = jax.jit(torch_style_init)(jax.random.PRNGKey(0), params, {})
  assert np.asarray(p["bottleneck"]["codebook"]).std() == pytest.approx(1.0, rel=0.03)
  k = np.asarray(p["head"]["kernel"])
  assert np.abs(k).max() <= 1 / np.sqrt(32) and np.abs(k).max() > 0.9 / np.sqrt(32)
  assert (np.asarray(p["norm"]["scale"]) == 1).all() and ms == {}
  same = apply_init("default", jax.random.PRNGKey(0), params, {})
  assert same[0] is params


def test_unknown_init_is_a_config_error():
  with pytest.raises(ConfigError, match="phase1.init"):
    _state("xavier")
