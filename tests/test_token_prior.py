"""Token prior: sequences, a NumPy reference of the transformer and its
per-event NLL, padding / end-of-event handling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from thesis_jax.data.layout import Events
from thesis_jax.data.token_sequences import BOS, EOS, PAD, Vocab, build_sequences
from thesis_jax.errors import DataError
from thesis_jax.models.prior import TokenPrior, sequence_nll


def _events(ids, met, phi):
  ids = np.asarray(ids, np.int32)
  cont = np.zeros(ids.shape + (4,), np.float32)
  return Events(ids, cont, np.stack([met, phi], 1).astype(np.float32))


def _vocab():
  return Vocab(num_types=3, codebook_size=4, met_edges=np.array([20.0, 50.0]),
               phi_edges=np.array([0.0]))


def test_sequences_layout():
  v = _vocab()          # 0 PAD 1 BOS 2 EOS | MET 3..5 | phi 6..7 | obj 8..15
  assert (v.met_offset, v.phi_offset, v.obj_offset, v.size) == (3, 6, 8, 16)
  ev = _events([[2, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]],
               [10.0, 20.0, 99.0], [-1.0, 0.5, 0.0])
  codes = np.array([[3, 2, 1, 0], [1, 1, 1, 1], [0, 1, 2, 3]])
  seq = build_sequences(v, ev, codes)
  # type 2 code 3 -> 8 + 4 + 3 = 15; type 1 code 1 -> 9 (padding compacted).
  np.testing.assert_array_equal(seq, [
      [BOS, 15, 9, EOS, 3, 6, PAD, PAD],
      [BOS, EOS, 4, 7, PAD, PAD, PAD, PAD],       # MET 20 -> bin 1 (right)
      [BOS, 8, 9, 10, 11, EOS, 5, 7]])
  assert Vocab.from_dict(v.to_dict()).to_dict() == v.to_dict()
  with pytest.raises(DataError, match="type id 3"):
    build_sequences(v, _events([[3, 0, 0, 0]], [1.0], [0.0]), codes[:1])


def _ln(x, p, eps=1e-6):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * p["scale"] + p["bias"]


def _dense(x, p):
  return x @ p["kernel"] + p["bias"]


def _gelu(x):   # tanh approximation, as jax.nn.gelu
  return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def numpy_prior(params, tokens, n_layers, n_heads):
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  b, l = tokens.shape
  x = p["tok"]["embedding"][tokens] + p["pos"][None, :l]
  for i in range(n_layers):
    q = p[f"block{i}"]
    d = x.shape[-1]
    hd = d // n_heads
    qkv = _dense(_ln(x, q["ln1"]), q["qkv"]).reshape(b, l, 3, n_heads, hd)
    out = np.zeros((b, l, n_heads, hd))
    for h in range(n_heads):
      for t in range(l):                 # position t attends to 0..t
        s = np.einsum("bd,bkd->bk", qkv[:, t, 0, h], qkv[:, :t + 1, 1, h])
        w = np.exp(s / np.sqrt(hd) - (s / np.sqrt(hd)).max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        out[:, t, h] = np.einsum("bk,bkd->bd", w, qkv[:, :t + 1, 2, h])
    x = x + _dense(out.reshape(b, l, d), q["proj"])
    y = _gelu(_dense(_ln(x, q["ln2"]), q["fc1"]))
    x = x + _dense(y, q["fc2"])
  return _dense(_ln(x, p["ln_f"]), p["head"])


def test_prior_nll_matches_numpy_reference():
  v = _vocab()
  rng = np.random.default_rng(0)
  ids = rng.integers(0, 3, (5, 4)) * (rng.random((5, 4)) < 0.8)
  ev = _events(ids, rng.uniform(0, 80, 5), rng.uniform(-3, 3, 5))
  seq = build_sequences(v, ev, rng.integers(0, 4, (5, 4)))
  model = TokenPrior(vocab_size=v.size, max_len=seq.shape[1] - 1, d_model=8,
                     n_layers=2, n_heads=2)
  params = jax.jit(model.init)(jax.random.PRNGKey(1), seq[:, :-1])["params"]
  # Non-trivial LayerNorm/bias parameters so the reference checks them too.
  params = jax.tree.map(lambda a: a + 0.1 * rng.standard_normal(a.shape), params)
  logits = jax.jit(model.apply)({"params": params}, jnp.asarray(seq[:, :-1]))
  ref = numpy_prior(params, seq[:, :-1], 2, 2)
  np.testing.assert_allclose(logits, ref, rtol=1e-4, atol=1e-4)
  out = jax.device_get(jax.jit(sequence_nll, static_argnums=2)(
      logits, jnp.asarray(seq), v.obj_offset))
  logp = ref - np.log(np.exp(ref).sum(-1, keepdims=True))
  tgt = seq[:, 1:]
  per = -np.take_along_axis(logp, tgt[..., None], -1)[..., 0] * (tgt != PAD)
  np.testing.assert_allclose(out["nll"], per.sum(1), rtol=1e-4)
  n_real = (ids > 0).sum(1)
  np.testing.assert_array_equal(out["n"], n_real + 3)   # objects, EOS, 2 globals
  glob = per[np.arange(5), n_real + 1] + per[np.arange(5), n_real + 2]
  np.testing.assert_allclose(out["nll_globals"], glob, rtol=1e-4)


def test_padding_and_end_of_event():
  v = _vocab()
  rng = np.random.default_rng(2)
  ids = np.array([[1, 2, 0, 0], [2, 0, 0, 0], [1, 1, 1, 2]])
  codes = rng.integers(0, 4, (3, 4))
  ev = _events(ids, [5.0, 30.0, 70.0], [0.3, -0.3, 1.0])
  seq = build_sequences(v, ev, codes)
  # The same events with 3 more padding slots: longer sequences.
  wide = _events(np.pad(ids, ((0, 0), (0, 3))), [5.0, 30.0, 70.0], [0.3, -0.3, 1.0])
  seq_w = build_sequences(v, wide, np.pad(codes, ((0, 0), (0, 3))))
  model = TokenPrior(vocab_size=v.size, max_len=seq_w.shape[1] - 1, d_model=8,
                     n_layers=1, n_heads=2)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), seq_w[:, :-1])["params"]
  fn = jax.jit(lambda s: sequence_nll(model.apply({"params": params}, s[:, :-1]),
                                      s, v.obj_offset))
  nll = lambda s: jax.device_get(fn(jnp.asarray(s)))
  a, b = nll(seq), nll(seq_w)
  np.testing.assert_allclose(a["nll"], b["nll"], rtol=1e-5)
  # Whatever follows the last counted target does not change the counted
  # NLLs (causal mask): fill every PAD with another token and compare the
  # per-target NLLs of the real prefix.
  last = (seq_w != PAD).sum(1)                  # BOS .. MET-phi
  junk = nll(np.where(seq_w == PAD, 5, seq_w))
  for i in range(3):
    np.testing.assert_allclose(junk["nll_tok"][i, :last[i] - 1].sum(),
                               a["nll"][i], rtol=1e-5)
    assert junk["n"][i] == seq_w.shape[1] - 1 > a["n"][i]
  # EOS is a counted target: moving it changes the NLL.
  no_eos = seq.copy()
  no_eos[0, 3] = seq[0, 4]     # replace EOS by the MET token
  assert nll(no_eos)["nll"][0] != pytest.approx(a["nll"][0])


def test_resonance_sample_has_fixed_mass():
  from thesis_jax.data.synthetic import make_resonance_events
  ev = make_resonance_events(300, 18, seed=4, mass=250.0)
  again = make_resonance_events(300, 18, seed=4, mass=250.0)
  np.testing.assert_array_equal(ev.cont, again.cont)
  mu = ev.ids == 4
  assert (mu.sum(1) == 2).all() and (ev.ids[~mu] <= 1).all()
  c = ev.cont.astype(np.float64)
  e, pt, eta, phi = np.moveaxis(c, -1, 0)
  p4 = np.stack([e, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1)
  pair = (p4 * mu[..., None]).sum(1)
  mass = np.sqrt(pair[:, 0] ** 2 - (pair[:, 1:] ** 2).sum(1))
  np.testing.assert_allclose(mass, 250.0, rtol=1e-4)
  real_pt = np.where(ev.mask, pt, -1)
  assert (np.diff(real_pt, axis=1) <= 0).all()            # pT-ordered
  assert (np.abs(eta[mu]) < 2.4).all() and (pt[mu] > 10).all()
