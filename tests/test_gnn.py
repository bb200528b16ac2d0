"""Graph (`gnn`) and set-transformer encoders/decoders: physics edge features,
shapes, permutation equivariance and padding masking."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.default import get_config
from thesis_jax.data.layout import Events
from thesis_jax.data.normalization import Normalizer
from thesis_jax.errors import ConfigError
from thesis_jax.models import build_autoencoder
from thesis_jax.models.components import DECODERS, ENCODERS
from thesis_jax.models.gnn import pair_features, wrap_phi

B, T, D, NT = 3, 7, 6, 5
NAMES = ("gnn", "set_transformer")


def _physical_events(rng, n=B, t=T, n_real=(7, 4, 1)):
  """Massive four-vectors (E >= |p|) with a few phi near +-pi; padding = 0."""
  pt = rng.uniform(5, 120, (n, t))
  eta = rng.uniform(-2.4, 2.4, (n, t))
  phi = rng.uniform(-np.pi, np.pi, (n, t))
  phi[0, :2] = (3.1, -3.1)                  # the pair's dphi must wrap
  m = rng.uniform(0, 20, (n, t))
  e = np.sqrt((pt * np.cosh(eta)) ** 2 + m ** 2)
  cont = np.stack([e, pt, eta, phi], -1).astype(np.float32)
  ids = rng.integers(1, NT, (n, t)).astype(np.int32)
  for b, k in enumerate(n_real):
    ids[b, k:] = 0
    cont[b, k:] = 0.0
  return Events(ids, cont, rng.normal(size=(n, 2)).astype(np.float32))


def _numpy_pairs(phys):
  """Reference delta-R and pair mass [GeV] with explicit four-vectors."""
  e, pt, eta, phi = (phys[..., k].astype(np.float64) for k in range(4))
  n, t = e.shape
  dr, mass = np.zeros((n, t, t)), np.zeros((n, t, t))
  for b in range(n):
    for i in range(t):
      for j in range(t):
        dphi = np.arctan2(np.sin(phi[b, i] - phi[b, j]), np.cos(phi[b, i] - phi[b, j]))
        dr[b, i, j] = np.hypot(eta[b, i] - eta[b, j], dphi)
        p = [pt[b, k] * np.array([np.cos(phi[b, k]), np.sin(phi[b, k]),
                                  np.sinh(eta[b, k])]) for k in (i, j)]
        m2 = (e[b, i] + e[b, j]) ** 2 - np.sum((p[0] + p[1]) ** 2)
        mass[b, i, j] = np.sqrt(max(m2, 0.0))
  return dr, mass


def test_pair_features_match_numpy_delta_r_and_mass():
  ev = _physical_events(np.random.default_rng(0))
  norm = Normalizer.fit(ev)
  # The encoders see normalised inputs and invert them: check that round trip.
  phys = norm.invert_cont(jnp.asarray(norm.apply(ev).cont))
  got = np.asarray(pair_features(phys))
  dr, mass = _numpy_pairs(ev.cont)
  np.testing.assert_allclose(got[..., 0], dr, atol=2e-4)
  np.testing.assert_allclose(got[..., 1], np.log1p(mass), atol=2e-3)
  # The wrapped pair: |dphi| = 2*pi - 6.2, not 6.2.
  assert abs(dr[0, 0, 1] - np.hypot(ev.cont[0, 0, 2] - ev.cont[0, 1, 2],
                                    2 * np.pi - 6.2)) < 1e-5
  np.testing.assert_allclose(np.asarray(wrap_phi(jnp.array([6.2, -6.2, 0.5]))),
                             [6.2 - 2 * np.pi, 2 * np.pi - 6.2, 0.5], atol=1e-6)
  # Massless collinear pair: mass 0 with a finite gradient (no NaN).
  one = jnp.array([[[10.0, 10.0, 0.0, 0.0], [20.0, 20.0, 0.0, 0.0]]])
  g = jax.grad(lambda x: pair_features(x).sum())(one)
  assert float(pair_features(one)[0, 0, 1, 1]) == pytest.approx(0.0, abs=1e-6)
  assert np.isfinite(np.asarray(g)).all()


def _cfg(name):
  c = get_config()
  for sub in (c.phase1.encoder, c.phase1.decoder):
    sub.update(name=name, gnn_layers=2, gnn_hidden=16, st_layers=2, st_hidden=16,
               attn_heads=2)
  return c.phase1


def _modules(name):
  p = _cfg(name)
  ev = _physical_events(np.random.default_rng(1))
  norm = Normalizer.fit(ev)
  enc = ENCODERS[name](p.encoder, num_types=NT, latent_dim=D, norm=norm)
  dec = DECODERS[name](p.decoder, latent_dim=D, cont_dim=4, num_globals=2,
                           norm=norm)
  x = norm.apply(ev)
  cont, ids = jnp.asarray(x.cont), jnp.asarray(x.ids)
  z = jax.random.normal(jax.random.PRNGKey(3), (B, T, D))
  ve = enc.init(jax.random.PRNGKey(0), cont, ids)
  vd = dec.init(jax.random.PRNGKey(1), z, ids > 0)
  fe = jax.jit(lambda c, i: enc.apply(ve, c, i))
  fd = jax.jit(lambda z, m: dec.apply(vd, z, m))
  return fe, fd, cont, ids, z


@pytest.fixture(scope="module", params=NAMES)
def modules(request):
  return _modules(request.param)


def test_shapes(modules):
  fe, fd, cont, ids, z = modules
  assert fe(cont, ids).shape == (B, T, D)
  x_hat, g_hat = fd(z, ids > 0)
  assert x_hat.shape == (B, T, 4) and g_hat.shape == (B, 2)
  assert np.isfinite(np.asarray(x_hat)).all()


def test_permutation_equivariance_with_padding(modules):
  fe, fd, cont, ids, z = modules
  perm = np.random.default_rng(5).permutation(T)   # moves padding around too
  assert (np.asarray(ids) == 0).any()
  out, out_p = fe(cont, ids), fe(cont[:, perm], ids[:, perm])
  np.testing.assert_allclose(np.asarray(out_p), np.asarray(out)[:, perm],
                             atol=2e-5, rtol=1e-5)
  # Not token-wise: the outputs depend on the other tokens.
  solo = fe(cont.at[0, 1:].set(cont[0, 1:] + 1.0), ids)
  assert float(jnp.abs(solo[0, 0] - out[0, 0]).max()) > 1e-4
  (x, g), (x_p, g_p) = fd(z, ids > 0), fd(z[:, perm], ids[:, perm] > 0)
  np.testing.assert_allclose(np.asarray(x_p), np.asarray(x)[:, perm],
                             atol=2e-5, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(g_p), np.asarray(g), atol=2e-5)


def test_padding_is_masked_out(modules):
  fe, fd, cont, ids, z = modules
  real = np.asarray(ids) > 0
  pad = jnp.asarray(~real)[..., None]
  noise = jax.random.normal(jax.random.PRNGKey(9), cont.shape) * 3.0
  out, out_n = fe(cont, ids), fe(jnp.where(pad, noise, cont), ids)
  np.testing.assert_allclose(np.asarray(out_n)[real], np.asarray(out)[real],
                             atol=1e-5)
  if np.asarray(out)[~real].any():    # gnn (set_transformer: 0, test below)
    assert float(jnp.abs(out_n - out).max()) > 1e-3   # padding slots did change
  zn = jnp.where(pad, jax.random.normal(jax.random.PRNGKey(8), z.shape), z)
  np.testing.assert_allclose(np.asarray(fd(zn, ids > 0)[0])[real],
                             np.asarray(fd(z, ids > 0)[0])[real], atol=1e-5)


def test_set_transformer_encoder_is_zero_on_padding():
  """z_e = 0 on every padding slot whatever the weights and the padding's
  features (`st_zero_padding`), so the padding cannot drift to another code
  (README "Stability over seeds"); configs without the key keep the old
  behaviour (a learned, weight-dependent padding latent)."""
  fe, _, cont, ids, _ = _modules("set_transformer")
  real = np.asarray(ids) > 0
  noise = jax.random.normal(jax.random.PRNGKey(9), cont.shape) * 3.0
  for c in (cont, jnp.where(jnp.asarray(~real)[..., None], noise, cont)):
    out = np.asarray(fe(c, ids))
    assert (out[~real] == 0).all() and (np.abs(out[real]).sum(-1) > 0).all()
  p = _cfg("set_transformer")
  assert p.encoder.st_zero_padding is True
  del p.encoder["st_zero_padding"]
  norm = Normalizer.fit(_physical_events(np.random.default_rng(1)))
  enc = ENCODERS["set_transformer"](p.encoder, num_types=NT, latent_dim=D,
                                    norm=norm)
  old = enc.apply(enc.init(jax.random.PRNGKey(0), cont, ids), cont, ids)
  assert np.abs(np.asarray(old)[~real]).sum(-1).min() > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_padding_goes_around_the_vq(name):
  """`bypass_padding` (default): the VQ output on padding is the encoder's
  z_e (0 for set_transformer) and its commitment 0, even when no code is
  near it (the padding's nearest code would move every padding slot when it
  changes; README "Stability over seeds"); real slots are quantised as
  before. With `bypass_padding=False` or `count_padding`, padding is
  quantised too (the original)."""
  p = _cfg(name)
  p.latent_space.update(latent_dim=D, codebook_size=8)
  ev = _physical_events(np.random.default_rng(2))
  norm = Normalizer.fit(ev)
  x = norm.apply(ev)
  cont, ids = jnp.asarray(x.cont), jnp.asarray(x.ids)
  real = np.asarray(ids) > 0
  for bypass, count in ((True, False), (False, False), (True, True)):
    p.latent_space.update(bypass_padding=bypass, count_padding=count)
    model = build_autoencoder(p, num_types=NT, norm=norm)
    v = model.init(jax.random.PRNGKey(0), cont, ids)
    # Every code at distance >= 5 from 0: padding's nearest code is far.
    cb = v["vq_stats"]["bottleneck"]["codebook"]
    far = 5.0 + jax.random.uniform(jax.random.PRNGKey(4), cb.shape)
    v = {**v, "vq_stats": {"bottleneck": {**v["vq_stats"]["bottleneck"],
                                           "codebook": far}}}
    out = model.apply(v, cont, ids)
    z, z_e = np.asarray(out.z), np.asarray(out.z_e)
    commit = np.asarray(out.aux["commit_tok"])
    codes = np.asarray(far)[np.asarray(out.aux["indices"])]
    np.testing.assert_allclose(z[real], codes[real], rtol=1e-6)   # quantised
    assert (commit[real] > 0).all()
    if bypass and not count:
      assert (z[~real] == z_e[~real]).all() and (commit[~real] == 0).all()
      if name == "set_transformer":
        assert (z[~real] == 0).all()
    else:
      np.testing.assert_allclose(z[~real], codes[~real], rtol=1e-6)
      assert (commit[~real] > 1.0).all()


@pytest.mark.parametrize("name", NAMES)
def test_autoencoder_builds_and_needs_norm(name):
  p = _cfg(name)
  p.latent_space.update(latent_dim=D, codebook_size=8)
  ev = _physical_events(np.random.default_rng(2))
  norm = Normalizer.fit(ev)
  model = build_autoencoder(p, num_types=NT, norm=norm)
  x = norm.apply(ev)
  v = model.init(jax.random.PRNGKey(0), jnp.asarray(x.cont), jnp.asarray(x.ids))
  out = model.apply(v, jnp.asarray(x.cont), jnp.asarray(x.ids))
  assert out.x_hat.shape == (B, T, 4) and out.z.shape == (B, T, D)
  with pytest.raises(ConfigError, match="Normalizer"):
    build_autoencoder(p, num_types=NT, norm=None)
