"""Property tests of the anomaly corruptions on the real CMS events."""
import numpy as np
import pytest

from conftest import CMS_H5
from thesis_jax.data.h5 import read_split
from thesis_jax.errors import ConfigError
from thesis_jax.reports.inference import corruptions
from thesis_jax.reports.inference.corruptions import CORRUPTIONS, apply, wrap_phi

PI32 = np.float32(np.pi)
NAMES = ("gaussian_noise", "token_shuffle", "drop_tokens", "swap_id_cont_pairs",
         "met_scramble")


@pytest.fixture(scope="module")
def ev():
  return read_split(CMS_H5, "X_train", 18)


def _rows(ev, i):
  """Sorted (id, E, pT, eta, phi) rows of event i's real tokens."""
  m = ev.ids[i] > 0
  rows = np.column_stack([ev.ids[i][m], ev.cont[i][m]])
  return rows[np.lexsort(rows.T[::-1])]


def test_registry_has_all_strategies():
  assert set(NAMES) <= set(CORRUPTIONS)
  assert set(corruptions.STRENGTH_UNITS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("strength", [0.0, 0.3, 1.0])
def test_shapes_dtypes_input_untouched_and_seeded(ev, name, strength):
  before = [a.copy() for a in ev]
  out = apply(name, ev, strength, seed=3)
  for a, b in zip(out, ev):
    assert a.shape == b.shape and a.dtype == b.dtype
  for a, b in zip(ev, before):
    np.testing.assert_array_equal(a, b)            # input never modified
  again = apply(name, ev, strength, seed=3)
  for a, b in zip(out, again):
    np.testing.assert_array_equal(a, b)            # same seed, same result
  if strength == 0:
    for a, b in zip(out, ev):
      np.testing.assert_array_equal(a, b)          # zero strength = identity
  elif not (name == "drop_tokens" and strength == 1):  # that one is certain
    other = apply(name, ev, strength, seed=4)
    assert any((a != b).any() for a, b in zip(out, other))


@pytest.mark.parametrize("name", ["gaussian_noise", "token_shuffle",
                                  "swap_id_cont_pairs", "met_scramble"])
def test_padding_untouched(ev, name):
  out = apply(name, ev, 1.0, seed=0)
  pad = ev.ids == 0
  np.testing.assert_array_equal(out.ids == 0, pad)
  np.testing.assert_array_equal(out.cont[pad], ev.cont[pad])


def test_gaussian_noise_physics(ev):
  s = 0.1
  out = apply("gaussian_noise", ev, s, seed=1)
  m = ev.mask
  np.testing.assert_array_equal(out.ids, ev.ids)
  np.testing.assert_array_equal(out.globals, ev.globals)
  assert (out.cont[..., 0][m] > 0).all() and (out.cont[..., 1][m] > 0).all()
  # Relative smearing of E and pT, absolute of eta and phi, all sigma = s.
  for f in (0, 1):
    rel = out.cont[..., f][m] / ev.cont[..., f][m] - 1
    assert abs(rel.std() - s) < 0.01 and abs(rel.mean()) < 0.01
  deta = out.cont[..., 2][m] - ev.cont[..., 2][m]
  assert abs(deta.std() - s) < 0.01
  dphi = wrap_phi(out.cont[..., 3][m].astype(np.float64) - ev.cont[..., 3][m])
  assert abs(dphi.std() - s) < 0.01
  # Large smearing: still positive, phi wrapped into (-pi, pi].
  big = apply("gaussian_noise", ev, 3.0, seed=2)
  phi = big.cont[..., 3][m]
  assert (phi > -PI32).all() and (phi <= PI32).all()
  assert (big.cont[..., :2][m] > 0).all()
  assert (np.abs(phi) > 3.0).any()                 # wrapping was exercised


def test_wrap_phi_edges():
  x = np.array([-np.pi, np.pi, 3 * np.pi, -3 * np.pi, 0.5, -np.pi + 1e-9, 7.0])
  w = wrap_phi(x)
  assert (w > -PI32).all() and (w <= PI32).all()
  np.testing.assert_allclose(w[:4], np.pi, rtol=1e-6)
  np.testing.assert_allclose(w[4], 0.5, rtol=1e-6)
  np.testing.assert_allclose(w[6], 7.0 - 2 * np.pi, rtol=1e-6)


def test_token_shuffle_permutes_real_tokens_only(ev):
  out = apply("token_shuffle", ev, 1.0, seed=0)
  np.testing.assert_array_equal(out.mask, ev.mask)
  np.testing.assert_array_equal(out.globals, ev.globals)
  for i in range(len(ev)):
    np.testing.assert_array_equal(_rows(out, i), _rows(ev, i))
  multi = ev.mask.sum(1) >= 2
  changed = (out.cont != ev.cont).any((1, 2))
  assert not changed[~multi].any()
  # A random permutation of n >= 2 tokens is the identity with prob. <= 1/2.
  assert changed[multi].mean() > 0.5
  half = apply("token_shuffle", ev, 0.5, seed=0)
  frac = (half.cont != ev.cont).any((1, 2))[multi].mean()
  assert 0.3 * changed[multi].mean() < frac < 0.7 * changed[multi].mean()


def test_drop_tokens_removes_and_compacts(ev):
  s = 0.4
  out = apply("drop_tokens", ev, s, seed=5)
  n_in, n_out = ev.mask.sum(1), out.mask.sum(1)
  assert (n_out <= n_in).all()
  assert (n_out[n_in > 0] >= 1).all()              # never empties an event
  # Real tokens first, padding (id 0, zero features) after.
  np.testing.assert_array_equal(np.sort(~out.mask, axis=1), ~out.mask)
  assert (out.cont[~out.mask] == 0).all()
  np.testing.assert_array_equal(out.globals, ev.globals)
  for i in range(len(ev)):                         # kept = ordered subsequence
    src = [tuple(r) for r in np.column_stack([ev.ids[i], ev.cont[i]])[ev.mask[i]]]
    kept = [tuple(r) for r in np.column_stack([out.ids[i], out.cont[i]])[out.mask[i]]]
    it = iter(src)
    assert all(k in it for k in kept)
  multi = n_in >= 3
  frac = 1 - n_out[multi].sum() / n_in[multi].sum()
  assert abs(frac - s) < 0.05


def test_swap_ids_keeps_features(ev):
  out = apply("swap_id_cont_pairs", ev, 1.0, seed=0)
  np.testing.assert_array_equal(out.cont, ev.cont)
  np.testing.assert_array_equal(out.mask, ev.mask)
  np.testing.assert_array_equal(np.sort(out.ids, 1), np.sort(ev.ids, 1))
  # A non-zero rotation changes every event whose >= 2 real ids are all
  # different, and none whose real ids are all equal.
  real_ids = [r[r > 0] for r in ev.ids]
  distinct = np.array([len(r) >= 2 and len(set(r)) == len(r) for r in real_ids])
  same = np.array([len(set(r)) <= 1 for r in real_ids])
  changed = (out.ids != ev.ids).any(1)
  assert distinct.sum() > 100
  assert changed[distinct].all() and not changed[same].any()
  half = apply("swap_id_cont_pairs", ev, 0.5, seed=0)
  assert abs((half.ids != ev.ids).any(1)[distinct].mean() - 0.5) < 0.08


def test_met_scramble_uses_other_events(ev):
  for s in (0.5, 1.0):
    out = apply("met_scramble", ev, s, seed=0)
    np.testing.assert_array_equal(out.ids, ev.ids)
    np.testing.assert_array_equal(out.cont, ev.cont)
    changed = (out.globals != ev.globals).any(1)
    assert abs(changed.mean() - s) < 0.05
    pool = {tuple(r) for r in ev.globals}
    assert all(tuple(r) in pool for r in out.globals[changed])


def test_bad_strength_is_a_config_error(ev):
  with pytest.raises(ConfigError, match="fraction"):
    apply("drop_tokens", ev, 1.5, seed=0)
  with pytest.raises(ConfigError, match=">= 0"):
    apply("gaussian_noise", ev, -0.1, seed=0)
  with pytest.raises(ConfigError, match="valid names"):
    apply("no_such_thing", ev, 0.1, seed=0)
