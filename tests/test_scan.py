"""train/scan.py: chunked lax.scan dispatch; padded steps leave the state untouched."""
import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.train import scan, sharding
from thesis_jax.train.state import TrainState


def _state(w=0.0):
  return TrainState(step=jnp.zeros((), jnp.int32), params={"w": jnp.asarray(w)},
                    opt_state=(), model_state={})


def _step(state, batch, rng):
  """w += sum(weight * x); metrics: the batch sum and one draw of the step's rng."""
  s = (batch["weight"][:, None] * batch["x"]).sum()
  new = state.replace(step=state.step + 1, params={"w": state.params["w"] + s})
  return new, {"sum": s, "draw": jax.random.uniform(rng)}


def _stack(n_steps, b=4, seed=0):
  r = np.random.default_rng(seed)
  return {"x": r.normal(size=(n_steps, b, 3)).astype(np.float32),
          "weight": np.ones((n_steps, b), np.float32)}


def _run(stack, k, rng):
  mesh = sharding.make_mesh()
  chunk = scan.make_train_chunk(_step, mesh)
  state, draws, sums = sharding.replicate(_state(), mesh), [], []
  for part, valid in scan.chunks(stack, k):
    state, m = chunk(state, sharding.put_stack(part, mesh), jnp.asarray(valid), rng)
    draws += list(np.asarray(m["draw"])[valid])
    sums.append((np.asarray(m["sum"]), valid))
  return jax.device_get(state), np.array(draws), sums


def test_chunks_pad_with_invalid_repeats_of_the_last_step():
  stack = _stack(5)
  parts = list(scan.chunks(stack, 2))
  assert [v.tolist() for _, v in parts] == [[True, True], [True, True], [True, False]]
  last, _ = parts[-1]
  np.testing.assert_array_equal(last["x"][1], stack["x"][4])   # a copy, flagged invalid


def test_padded_steps_leave_the_state_untouched():
  stack = _stack(5)
  state, _, sums = _run(stack, 4, jax.random.PRNGKey(0))   # chunks of 4: 4 + 1 (+3 padded)
  want = (stack["weight"][..., None] * stack["x"]).sum()
  assert int(state.step) == 5
  np.testing.assert_allclose(float(state.params["w"]), want, rtol=1e-5)
  m, valid = sums[-1]
  assert valid.tolist() == [True, False, False, False]
  np.testing.assert_array_equal(m[~valid], 0.0)   # padded steps report zeros


def test_random_stream_does_not_depend_on_the_chunking():
  stack = _stack(6)
  rng = jax.random.PRNGKey(3)
  s1, d1, _ = _run(stack, 6, rng)
  s2, d2, _ = _run(stack, 4, rng)
  np.testing.assert_array_equal(d1, d2)   # step t draws from fold_in(rng, t)
  assert len(set(d1.tolist())) == 6
  np.testing.assert_allclose(float(s1.params["w"]), float(s2.params["w"]), rtol=1e-6)


def test_eval_pass_sums_and_zero_weight_padding():
  stack = _stack(3)
  stack["weight"][1, 2:] = 0.0
  padded = {k: np.concatenate([v, v[-1:]]) for k, v in stack.items()}
  padded["weight"][3] = 0.0          # a zero-weight padding batch adds nothing
  mesh = sharding.make_mesh()
  ev = scan.make_eval_pass(lambda st, b: {"s": (b["weight"][:, None] * b["x"]).sum(),
                                          "n": b["weight"].sum()}, mesh)
  out = jax.device_get(ev(sharding.replicate(_state(), mesh),
                          sharding.put_stack(padded, mesh)))
  np.testing.assert_allclose(out["s"], (stack["weight"][..., None] * stack["x"]).sum(),
                             rtol=1e-5)
  assert float(out["n"]) == 10.0
