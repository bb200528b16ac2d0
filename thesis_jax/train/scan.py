"""Many steps per dispatch: `lax.scan` over device-resident batch stacks.

Python never runs per step: a chunk of K train steps (or an eval pass over a
whole split) is one jitted call. Chunks have a fixed length K so one compiled
program serves every chunk; the last chunk of an epoch is padded with steps
flagged `valid = False`, which leave the state untouched (`lax.cond`).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.train import sharding


def make_train_chunk(train_step: Callable, mesh) -> Callable:
  """-> jitted run(state, stack, valid [K] bool, base_rng) -> (state, metrics[K]).

  Step t uses rng `fold_in(base_rng, state.step)`, so chunking and resuming do
  not change the random stream.
  """
  def run(state, stack, valid, base_rng):
    def body(st, xs):
      batch, ok = xs
      def do(st):
        return train_step(st, batch, jax.random.fold_in(base_rng, st.step))
      def skip(st):
        _, m = jax.eval_shape(do, st)
        return st, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), m)
      return jax.lax.cond(ok, do, skip, st)
    return jax.lax.scan(body, state, (stack, valid))

  rep = sharding.replicated(mesh)
  return jax.jit(run, in_shardings=(rep, sharding.stack_sharding(mesh), rep, rep),
                 out_shardings=(rep, rep), donate_argnums=(0,))


def make_eval_pass(eval_step: Callable, mesh) -> Callable:
  """-> jitted run(state, stack) -> eval_step(state, batch) summed over S."""
  def run(state, stack):
    def body(acc, batch):
      s = eval_step(state, batch)
      return jax.tree.map(jnp.add, acc, s), None
    first = jax.tree.map(lambda x: x[0], stack)
    zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                        jax.eval_shape(eval_step, state, first))
    acc, _ = jax.lax.scan(body, zero, stack)
    return acc

  rep = sharding.replicated(mesh)
  return jax.jit(run, in_shardings=(rep, sharding.stack_sharding(mesh)),
                 out_shardings=rep)


def chunks(stack: Dict[str, np.ndarray], k: int
           ) -> Iterator[Tuple[Dict[str, np.ndarray], np.ndarray]]:
  """Splits a `[S, B, ...]` stack into `[K, B, ...]` chunks (+ valid flags)."""
  s = next(iter(stack.values())).shape[0]
  for start in range(0, s, k):
    part = {n: v[start:start + k] for n, v in stack.items()}
    m = next(iter(part.values())).shape[0]
    valid = np.arange(k) < m
    if m < k:
      part = {n: np.concatenate([v, np.repeat(v[-1:], k - m, axis=0)])
              for n, v in part.items()}
    yield part, valid
