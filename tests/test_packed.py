"""Padding-free (packed) compute equals the dense path up to float32 rounding.

Losses, metrics, VQ counts/perplexity, EMA/codebook state and parameters
after several train steps (with dead-code restarts and a weight-masked
batch), eval sums and per-event scores, for every token-wise latent space and
both mask_padding / count_padding settings.
"""
import jax
import numpy as np
import pytest

from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.packing import pack_stack
from thesis_jax.data.pipeline import eval_stack, train_stack
from thesis_jax.data.synthetic import make_events
from thesis_jax.models import build_autoencoder
from thesis_jax.models.packed import supports_packing
from thesis_jax.train.loops import ae
from thesis_jax.train.state import init_state, make_optimizer

T, B, STEPS = 10, 24, 6
RTOL, ATOL = 2e-5, 2e-6      # float32 summation order only


def _config(latent, mask_padding, count_padding, ema=True):
  from configs.default import get_config
  c = get_config("tiny")
  p = c.phase1
  p.encoder.enc_hidden = p.decoder.dec_hidden = (16, 16)
  p.latent_space.update(name=latent, latent_dim=6, codebook_size=16, ema=ema,
                        count_padding=count_padding, restart_after=2)
  p.loss.mask_padding = mask_padding
  return p


def _data():
  ev = make_events(B * STEPS + 7, T, seed=3)
  ev = Normalizer.fit(ev).apply(ev)
  st = train_stack(ev, B, seed=0, epoch=0)
  st["weight"][2, -5:] = 0.0                  # a weight-masked batch
  return ev, st


def _run(p, ev, st, shards=1):
  model = build_autoencoder(p, num_types=6)
  tx = make_optimizer(p.trainer)
  v = model.init(jax.random.PRNGKey(0), st["cont"][0], st["ids"][0])
  state0 = init_state(v["params"], {k: x for k, x in v.items() if k != "params"}, tx)
  kw = dict(globals_beta=1.0, mask_padding=bool(p.loss.mask_padding))
  step = jax.jit(lambda s, b, r: ae.train_step(model, tx, s, b, r, **kw))
  ev_step = jax.jit(lambda s, b: ae.eval_step(model, s, b,
                                              mask_padding=kw["mask_padding"]))
  score = jax.jit(lambda s, b: ae.score_step(model, s, b))
  pk = pack_stack(st, shards=shards)
  es = eval_stack(ev, 64)
  epk = pack_stack(es, shards=shards)
  res = {}
  for name, stack, estack in (("dense", st, es), ("packed", pk, epk)):
    state, mets = state0, []
    for i in range(STEPS):
      state, m = step(state, {k: v[i] for k, v in stack.items()},
                      jax.random.PRNGKey(i))
      mets.append(jax.device_get(m))
    one = lambda s: {k: v[0] for k, v in estack.items()}
    res[name] = dict(state=jax.device_get(state), metrics=mets,
                     eval=jax.device_get(ev_step(state, one(0))),
                     scores=jax.device_get(score(state, one(0))))
  return res["dense"], res["packed"]


def _close(a, b, what):
  for path, x in jax.tree_util.tree_leaves_with_path(a):
    y = dict(jax.tree_util.tree_leaves_with_path(b))[path]
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "iub":
      np.testing.assert_array_equal(x, y, err_msg=f"{what} {path}")
    else:
      np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL, err_msg=f"{what} {path}")


# The default model stays in the fast suite (the 4-device data-parallel
# test also trains packed, with 4 row blocks).
_slow = pytest.mark.slow
CASES = [("vq", False, False, True, 1),
         pytest.param("vq", True, True, True, 2, marks=_slow),   # 2 row blocks
         pytest.param("vq", True, False, True, 1, marks=_slow),
         pytest.param("vq", False, True, True, 1, marks=_slow),
         pytest.param("vq", False, True, False, 1, marks=_slow),
         pytest.param("vq", True, False, False, 1, marks=_slow),
         pytest.param("none", False, False, True, 1, marks=_slow),
         pytest.param("linear", True, False, True, 1, marks=_slow)]


@pytest.mark.parametrize("latent,mask_padding,count_padding,ema,shards", CASES)
def test_packed_equals_dense(latent, mask_padding, count_padding, ema, shards):
  p = _config(latent, mask_padding, count_padding, ema)
  assert supports_packing(p) == ""
  ev, st = _data()
  dense, packed = _run(p, ev, st, shards)
  for i, (md, mp) in enumerate(zip(dense["metrics"], packed["metrics"])):
    _close(md, mp, f"step {i} metrics")
  _close(dense["state"], packed["state"], "state")
  _close(dense["eval"], packed["eval"], "eval sums")
  _close(dense["scores"], packed["scores"], "scores")
  if latent == "vq":
    stats = dense["state"].model_state["vq_stats"]["bottleneck"]
    # The comparison is not vacuous: codes were used and restarted.
    assert dense["eval"]["counts"].sum() > 0
    assert (np.asarray(stats["unused"]) < 2).all()
    if count_padding:   # padding slots are counted: 24*10 slots minus masked
      assert dense["eval"]["counts"].sum() == 64 * T


def test_supports_packing_reasons():
  p = _config("vq", False, False)
  p.encoder.dropout = 0.1
  assert "dropout" in supports_packing(p)
  p = _config("vq", False, False)
  p.encoder.name = "set_transformer"
  assert "token-wise" in supports_packing(p)


def test_scorer_packed_equals_dense():
  """Per-event inference scores through `Scorer` (padded last batch)."""
  from thesis_jax.data.packing import Packer
  from thesis_jax.train.batched import Scorer
  p = _config("vq", False, False)
  ev, st = _data()
  model = build_autoencoder(p, num_types=6)
  v = model.init(jax.random.PRNGKey(0), st["cont"][0], st["ids"][0])
  state = init_state(v["params"], {k: x for k, x in v.items() if k != "params"},
                     make_optimizer(p.trainer))
  step = lambda s, b: ae.score_step(model, s, b)
  dense = Scorer(step, state, batch_size=40, steps=2)(ev)
  packed = Scorer(step, state, batch_size=40, steps=2, pack=Packer())(ev)
  assert dense["mse"].shape == (len(ev),)
  for k in dense:
    np.testing.assert_allclose(packed[k], dense[k], rtol=RTOL, atol=ATOL, err_msg=k)


@pytest.mark.slow
def test_packed_equals_dense_without_padding_slots():
  """Steps whose events fill every slot (no padding: the representative row
  stands for no slot) next to steps with padding."""
  p = _config("vq", False, False)
  ev, st = _data()
  full = dict(st, ids=np.maximum(st["ids"], 1))
  full["cont"] = np.where(st["ids"][..., None] > 0, st["cont"], 0.3).astype(np.float32)
  full["ids"][:3] = st["ids"][:3]              # 3 steps with padding, 3 without
  full["cont"][:3] = st["cont"][:3]
  dense, packed = _run(p, ev, full)
  _close(dense["state"], packed["state"], "state")
  unused = np.asarray(dense["state"].model_state["vq_stats"]["bottleneck"]["unused"])
  assert unused.max() > 0


@pytest.mark.slow
def test_training_run_packed_equals_dense(tmp_path, capsys):
  """Whole runs (CMS events, default config shrunk): every logged number of
  the packed run equals the dense run's (float32 rounding)."""
  import thesis_jax
  from conftest import CMS_H5, tiny_config
  res = {}
  for packed in (True, False):
    cfg = tiny_config(tmp_path / str(packed), **{
        "data.path": CMS_H5, "phase1.trainer.packed": packed,
        "logging.progress": True})
    res[packed] = thesis_jax.train_model(cfg)
  log = capsys.readouterr().out
  assert "padding-free compute" in log
  assert "dense compute (phase1.trainer.packed=False)" in log
  a, b = res[True], res[False]
  assert a.histories["val_loss"][-1] < a.histories["val_loss"][0]
  for k, v in b.histories.items():
    if "time" in k or "throughput" in k:
      continue
    np.testing.assert_allclose(np.asarray(a.histories[k], float),
                               np.asarray(v, float), rtol=1e-4, err_msg=k)
  for k, v in b.test.items():
    np.testing.assert_allclose(a.test[k], v, rtol=1e-4, err_msg=k)
