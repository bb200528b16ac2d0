"""train/checkpoint.py: save/restore equality, which epochs are kept, meta."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from thesis_jax.train.checkpoint import Checkpoints, abstract_like
from thesis_jax.train.state import init_state


def _state(seed):
  r = np.random.default_rng(seed)
  params = {"dense": {"kernel": jnp.asarray(r.normal(size=(3, 2)), jnp.float32),
                      "bias": jnp.asarray(r.normal(size=2), jnp.float32)}}
  ms = {"vq_stats": {"count": jnp.asarray(r.integers(0, 9, 4), jnp.int32)}}
  tx = optax.adam(1e-3)
  st = init_state(params, ms, tx, extra={"ema": params})
  grads = jax.tree.map(jnp.ones_like, params)
  upd, opt = tx.update(grads, st.opt_state, params)   # a non-trivial Adam state
  return st.replace(step=jnp.asarray(seed, jnp.int32), opt_state=opt)


def test_save_restore_is_exact_and_keeps_best_and_last_two(tmp_path):
  ck = Checkpoints(str(tmp_path / "checkpoints"))
  val = [3.0, 1.0, 2.0, 4.0]
  states = [_state(e) for e in range(4)]
  for e, v in enumerate(val):
    ck.save(e, states[e], {"epoch": e, "histories": {"val_loss": val[:e + 1]}}, v)
  assert (ck.best_epoch(), ck.latest_epoch()) == (1, 3)
  # best (epoch 1) and the last two (2, 3) stay; folders count epochs from 1
  assert sorted(int(d) for d in os.listdir(tmp_path / "checkpoints")
                if d.isdigit()) == [2, 3, 4]
  got, meta = ck.restore(1, abstract_like(states[0]))
  assert meta["epoch"] == 1 and meta["histories"] == {"val_loss": [3.0, 1.0]}
  assert len(meta["state_sha256"]) == 64
  assert jax.tree.structure(got) == jax.tree.structure(states[1])
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(states[1])):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert ck.restore_meta(3)["epoch"] == 3
  ck.close()
