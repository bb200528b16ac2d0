"""VectorQuantizer against a NumPy reference of the original's algorithm."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from thesis_jax.models.kmeans import kmeans
from thesis_jax.models.vq import (VectorQuantizer, apply_pending_restarts,
                                  nearest_code, perplexity, sample_rows)

K, D = 16, 4


def np_reference(z, mask, codebook, cs, ema_w, decay=0.99, eps=1e-5, beta=0.25):
  """The original EMA VQ step written plainly in NumPy (float64)."""
  flat = z.reshape(-1, D).astype(np.float64)
  m = mask.reshape(-1).astype(np.float64)
  d = ((flat[:, None, :] - codebook[None]) ** 2).sum(-1)
  idx = d.argmin(1)
  zq = codebook[idx]
  commit = beta * ((flat - zq) ** 2).mean()
  onehot = np.eye(K)[idx] * m[:, None]
  counts = onehot.sum(0)
  cs = cs * decay + (1 - decay) * counts            # raw EMA count (the state)
  n = cs.sum()
  smoothed = (cs + eps) / (n + K * eps) * n         # only to form the codebook
  ema_w = ema_w * decay + (1 - decay) * onehot.T @ flat
  p = counts / counts.sum()
  perp = np.exp(-(p * np.log(p + 1e-10)).sum())
  return idx, zq, commit, cs, ema_w, ema_w / smoothed[:, None], perp


@pytest.fixture
def setup():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(3, 5, D)).astype(np.float32)
  mask = rng.random((3, 5)) > 0.3
  vq = VectorQuantizer(codebook_size=K, dim=D, beta=0.25, ema=True)
  variables = vq.init(jax.random.PRNGKey(0), jnp.asarray(z), jnp.asarray(mask))
  # A spread-out codebook so several codes are used.
  cb = rng.normal(size=(K, D)).astype(np.float32)
  stats = dict(variables["vq_stats"], codebook=jnp.asarray(cb),
               ema_w=jnp.asarray(cb * 0.5),
               cluster_size=jnp.asarray(rng.random(K).astype(np.float32)))
  return vq, z, mask, {"vq_stats": stats}


def test_ema_step_matches_numpy(setup):
  vq, z, mask, variables = setup
  st = variables["vq_stats"]
  (zq, aux), new = vq.apply(variables, jnp.asarray(z), jnp.asarray(mask),
                            train=True, mutable=["vq_stats"],
                            rngs={"vq": jax.random.PRNGKey(1)})
  ref = np_reference(z, mask, np.asarray(st["codebook"], np.float64),
                     np.asarray(st["cluster_size"], np.float64),
                     np.asarray(st["ema_w"], np.float64))
  idx, ref_zq, commit, cs, ema_w, cb, perp = ref
  np.testing.assert_array_equal(np.asarray(aux["indices"]).reshape(-1), idx)
  np.testing.assert_allclose(np.asarray(zq).reshape(-1, D), ref_zq, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(aux["commit_tok"].mean()), commit, rtol=1e-5)
  ns = new["vq_stats"]
  np.testing.assert_allclose(np.asarray(ns["cluster_size"]), cs, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(ns["ema_w"]), ema_w, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.asarray(ns["codebook"]), cb, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(aux["perplex"]), perp, rtol=1e-5)
  assert float(aux["codebook_tok"].sum()) == 0.0   # EMA: no codebook loss


def test_ema_multi_step_closed_form_with_dead_codes():
  """S steps on one batch whose assignments stay fixed: raw count and EMA sum
  follow c_S = d^S c_0 + (1 - d^S) counts, w_S likewise, and the codebook is
  w_S / smooth(c_S) -- smoothing never compounds, dead codes decay like d^S."""
  rng = np.random.default_rng(4)
  k, d, decay, eps = 8, 2, 0.9, 1e-5
  centers = np.array([[5.0, 0], [0, 5.0], [-5.0, 0]])     # codes 0-2 live
  lab = rng.integers(0, 3, 60)
  z = (centers[lab] + 0.05 * rng.normal(size=(60, 2))).astype(np.float32)
  cb0 = np.concatenate([centers, 100 + rng.normal(size=(k - 3, 2))]).astype(np.float32)
  c0 = rng.uniform(0.5, 2.0, k).astype(np.float32)        # dead codes 3-7 too
  w0 = (cb0 * c0[:, None]).astype(np.float32)
  vq = VectorQuantizer(codebook_size=k, dim=d, ema=True, decay=decay, eps=eps)
  x, m = jnp.asarray(z)[None], jnp.ones((1, 60), bool)
  v = vq.init(jax.random.PRNGKey(0), x, m)
  v = {"vq_stats": dict(v["vq_stats"], codebook=jnp.asarray(cb0),
                        ema_w=jnp.asarray(w0), cluster_size=jnp.asarray(c0))}
  step = jax.jit(lambda v: vq.apply(v, x, m, train=True, mutable=["vq_stats"])[1])
  counts = np.bincount(lab, minlength=k).astype(np.float64)
  sums = np.zeros((k, d))
  np.add.at(sums, lab, z.astype(np.float64))
  for s in range(1, 51):
    v = step(v)
    if s in (1, 5, 50):
      f = decay ** s
      c = f * c0 + (1 - f) * counts
      w = f * w0 + (1 - f) * sums
      n = c.sum()
      cb = w / ((c + eps) / (n + k * eps) * n)[:, None]
      st = v["vq_stats"]
      np.testing.assert_allclose(np.asarray(st["cluster_size"]), c, rtol=1e-5)
      np.testing.assert_allclose(np.asarray(st["ema_w"]), w, rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(np.asarray(st["codebook"]), cb, rtol=1e-4)
  # Dead codes: count decayed to d^50 c_0 (~5e-3 c_0), not held up by eps.
  np.testing.assert_allclose(np.asarray(v["vq_stats"]["cluster_size"])[3:],
                             decay ** 50 * c0[3:], rtol=1e-4)


def test_padding_excluded_from_statistics(setup):
  vq, z, mask, variables = setup
  (_, aux), _ = vq.apply(variables, jnp.asarray(z), jnp.asarray(mask),
                         train=True, mutable=["vq_stats"],
                         rngs={"vq": jax.random.PRNGKey(1)})
  assert float(aux["counts"].sum()) == mask.sum()
  (_, aux_all), _ = vq.apply(variables, jnp.asarray(z), jnp.ones_like(mask),
                             train=True, mutable=["vq_stats"],
                             rngs={"vq": jax.random.PRNGKey(1)})
  assert float(aux_all["counts"].sum()) == mask.size


def test_eval_does_not_update_stats(setup):
  vq, z, mask, variables = setup
  _, new = vq.apply(variables, jnp.asarray(z), jnp.asarray(mask), train=False,
                    mutable=["vq_stats"])
  for k in ("codebook", "ema_w", "cluster_size"):
    np.testing.assert_array_equal(np.asarray(new["vq_stats"][k]),
                                  np.asarray(variables["vq_stats"][k]))


def test_straight_through_gradient(setup):
  vq, z, mask, variables = setup
  target = jnp.asarray(np.random.default_rng(3).normal(size=z.shape), jnp.float32)

  def loss_q(ze):
    zq, _ = vq.apply(variables, ze, jnp.asarray(mask), train=False)
    return jnp.sum((zq - target) ** 2)

  g = jax.grad(loss_q)(jnp.asarray(z))
  zq, _ = vq.apply(variables, jnp.asarray(z), jnp.asarray(mask), train=False)
  # d loss / d z_e equals d loss / d z_q = 2 (z_q - target).
  np.testing.assert_allclose(np.asarray(g), 2 * (np.asarray(zq) - np.asarray(target)),
                             rtol=1e-5, atol=1e-6)


def test_non_ema_codebook_loss_and_grad():
  rng = np.random.default_rng(1)
  z = jnp.asarray(rng.normal(size=(2, 3, D)), jnp.float32)
  vq = VectorQuantizer(codebook_size=K, dim=D, ema=False, beta=0.25)
  v = vq.init(jax.random.PRNGKey(0), z, jnp.ones((2, 3), bool))

  def cb_loss(params):
    _, aux = vq.apply({**v, "params": params}, z, jnp.ones((2, 3), bool))
    return aux["codebook_tok"].mean()

  cb = np.asarray(v["params"]["codebook"], np.float64)
  flat = np.asarray(z, np.float64).reshape(-1, D)
  idx = ((flat[:, None] - cb[None]) ** 2).sum(-1).argmin(1)
  ref = ((flat - cb[idx]) ** 2).mean()
  np.testing.assert_allclose(float(cb_loss(v["params"])), ref, rtol=1e-5)
  g = np.asarray(jax.grad(cb_loss)(v["params"])["codebook"])
  ref_g = np.zeros_like(cb)
  np.add.at(ref_g, idx, -2 * (flat - cb[idx]) / flat.size)
  np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-7)


def test_nearest_code_equals_argmin_with_ties():
  rng = np.random.default_rng(2)
  cb = rng.normal(size=(K, D)).astype(np.float32)
  cb[5] = cb[3]   # duplicate code: ties must resolve to the lowest index
  x = np.concatenate([rng.normal(size=(50, D)), cb[3:4]]).astype(np.float32)
  got = np.asarray(nearest_code(jnp.asarray(x), jnp.asarray(cb)))
  d = ((x[:, None].astype(np.float64) - cb[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(got, d.argmin(1))
  assert got[-1] == 3


def test_perplexity_closed_forms():
  assert float(perplexity(jnp.array([5.0, 5.0, 5.0, 5.0]))) == pytest.approx(4.0, rel=1e-5)
  assert float(perplexity(jnp.array([7.0, 0.0, 0.0]))) == pytest.approx(1.0, rel=1e-5)
  assert float(perplexity(jnp.zeros(3))) == 0.0


def test_sample_rows_only_from_eligible():
  flat = jnp.arange(20, dtype=jnp.float32)[:, None] * jnp.ones((1, 2))
  w = jnp.asarray(np.arange(20) % 3 == 0, jnp.float32)
  rows = np.asarray(sample_rows(jax.random.PRNGKey(0), flat, w, 500))
  assert set(rows[:, 0].astype(int)) == {0, 3, 6, 9, 12, 15, 18}


def _toy_data(n=2000, seed=0):
  """8 well-separated clusters in 2-D."""
  rng = np.random.default_rng(seed)
  centers = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8,
                                                                  endpoint=False)]) * 5
  lab = rng.integers(0, 8, n)
  return (centers[lab] + 0.1 * rng.normal(size=(n, 2))).astype(np.float32)


def test_kmeans_init_uses_all_clusters():
  x = _toy_data()
  cent = np.asarray(kmeans(jax.random.PRNGKey(0), jnp.asarray(x),
                           jnp.ones(len(x)), 8, 10))
  idx = np.asarray(nearest_code(jnp.asarray(x), jnp.asarray(cent)))
  assert len(np.unique(idx)) == 8
  # versus the default tiny uniform init: everything maps to few codes
  vq = VectorQuantizer(codebook_size=8, dim=2)
  v = vq.init(jax.random.PRNGKey(0), jnp.asarray(x)[None], jnp.ones((1, len(x)), bool))
  idx0 = np.asarray(nearest_code(jnp.asarray(x), v["vq_stats"]["codebook"]))
  assert len(np.unique(idx0)) < 8


def test_dead_code_restart_revives_codes():
  x = jnp.asarray(_toy_data())[None]           # [1, N, 2]
  mask = jnp.ones(x.shape[:2], bool)

  def usage_after(restart_after, steps=30):
    vq = VectorQuantizer(codebook_size=8, dim=2, ema=True, decay=0.9,
                         restart_after=restart_after)
    v = vq.init(jax.random.PRNGKey(0), x, mask)
    step = jax.jit(lambda v, k: vq.apply(v, x, mask, train=True,
                                         mutable=["vq_stats"], rngs={"vq": k}))
    for i in range(steps):
      (_, aux), v = step(v, jax.random.PRNGKey(i))
    _, aux = vq.apply(v, x, mask, train=False)
    return int((np.asarray(aux["counts"]) > 0).sum())

  without, with_restart = usage_after(0), usage_after(2)
  # Without restarts the EMA codebook leaves some clusters without a code.
  assert without < 8
  assert with_restart == 8


def test_non_ema_restart_applied_to_params():
  x = jnp.asarray(_toy_data(200))[None]
  mask = jnp.ones(x.shape[:2], bool)
  vq = VectorQuantizer(codebook_size=8, dim=2, ema=False, restart_after=1)
  v = vq.init(jax.random.PRNGKey(0), x, mask)
  _, new = vq.apply(v, x, mask, train=True, mutable=["vq_stats"],
                    rngs={"vq": jax.random.PRNGKey(1)})
  params = {"bottleneck": v["params"]}
  ms = {"vq_stats": {"bottleneck": new["vq_stats"]}}
  out = apply_pending_restarts(params, ms)["bottleneck"]["codebook"]
  dead = np.asarray(new["vq_stats"]["restart_mask"])
  assert dead.any()
  np.testing.assert_array_equal(np.asarray(out)[dead],
                                np.asarray(new["vq_stats"]["restart_rows"])[dead])
  np.testing.assert_array_equal(np.asarray(out)[~dead],
                                np.asarray(v["params"]["codebook"])[~dead])


def test_code_held_by_padding_is_not_restarted():
  """Padding slots stay out of the statistics, but the code they sit on is in
  use: restarting it would move every padding slot at once (and the globals
  head's mean over slots with them -- the default run's mid-run loss jumps)."""
  real = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
  pad = np.array([[-3.0, -3.0]], np.float32)
  x = jnp.asarray(np.concatenate([real, pad, pad]))[None]       # [1, 4, 2]
  mask = jnp.asarray([[True, True, False, False]])
  cb = np.array([[1, 0], [0, 1], [-3, -3], [9, 9]], np.float32)  # 2: padding's, 3: unused
  vq = VectorQuantizer(codebook_size=4, dim=2, ema=True, restart_after=2)
  v = vq.init(jax.random.PRNGKey(0), x, mask)
  v = {"vq_stats": dict(v["vq_stats"], codebook=jnp.asarray(cb),
                        ema_w=jnp.asarray(cb), cluster_size=jnp.ones(4))}
  for i in range(3):
    _, v = vq.apply(v, x, mask, train=True, mutable=["vq_stats"],
                    rngs={"vq": jax.random.PRNGKey(i)})
  cb_after = np.asarray(v["vq_stats"]["codebook"])
  np.testing.assert_allclose(cb_after[2], [-3, -3], rtol=1e-4)   # kept
  assert np.asarray(v["vq_stats"]["unused"])[2] == 0
  # the unused code was re-seeded onto a real token
  assert any(np.allclose(cb_after[3], r, atol=1e-4) for r in real)
