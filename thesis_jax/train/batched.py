"""Jitted batched per-event outputs of a trained model (inference scores,
tokenizer codes).

The split is cut into batches of `batch_size` events (the last one padded
with weight-0 rows) and `steps` batches go to the device per call; inside a
call `lax.map` walks the batches, so Python never runs per batch and one
compiled program serves every call of a given shape. Batches of a few
hundred events keep the VQ distance matrix [B*T, K] in cache, which is
several times faster on CPU than one huge batch.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Optional

import jax
import numpy as np

from thesis_jax.data.pipeline import eval_stack, n_events
from thesis_jax.errors import ConfigError
from thesis_jax.train import sharding


class Scorer:
  """Per-event outputs `{name: [N, ...]}` of `score_step` over a split.

  score_step(state, batch) -> {name: [B, ...]}, batch = {"ids" int32 [B,T],
  "cont" f32 [B,T,4], "globals" f32 [B,2], "weight" f32 [B]} (normalised).
  Outputs come back as float64 (per-event scores) unless `keep_dtype`.
  `pack(stack) -> stack` rewrites each dense stack before it goes to the
  device (a `data.packing.Packer` for padding-free scoring; it leaves a
  stack dense where packing would not be exact).
  """

  def __init__(self, score_step: Callable, state, batch_size: int = 256,
               steps: int = 64, threads: int = 1, keep_dtype: bool = False,
               pack: Optional[Callable] = None):
    if batch_size <= 0 or steps <= 0:
      raise ConfigError(f"inference.batch_size ({batch_size}) and "
                        f"inference.steps_per_dispatch ({steps}) must be > 0")
    self.mesh = sharding.make_mesh()
    sharding.check_batch_size(batch_size, self.mesh, "inference.batch_size")
    self.state = state
    self.batch_size = int(batch_size)
    self.steps = int(steps)
    self.threads = max(int(threads), 1)
    self.keep_dtype = bool(keep_dtype)
    self.pack = pack
    self.compile_s = 0.0
    self._compiled = {}

    def run(st, stack):
      return jax.lax.map(lambda b: score_step(st, b), stack)
    rep = sharding.replicated(self.mesh)
    self._jit = jax.jit(run, in_shardings=(rep, sharding.stack_sharding(self.mesh)),
                        out_shardings=rep)

  def _fn(self, stack):
    key = tuple((k, v.shape) for k, v in sorted(stack.items()))
    if key not in self._compiled:
      t = time.perf_counter()
      self._compiled[key] = self._jit.lower(self.state, stack).compile()
      self.compile_s += time.perf_counter() - t
    return self._compiled[key]

  def _stack(self, ev):
    """-> (stack [S', B, ...] padded to whole calls, steps per call k)."""
    if n_events(ev) == 0:
      raise ConfigError("inference: no events to score")
    stack = eval_stack(ev, self.batch_size)
    s = stack["weight"].shape[0]
    k = min(self.steps, s)
    extra = (-s) % k
    if extra:
      stack = {name: np.concatenate([v, np.repeat(v[-1:], extra, axis=0)])
               for name, v in stack.items()}
      stack["weight"][s:] = 0.0
    if self.pack is not None:
      stack = self.pack(stack)
    return stack, k

  def compile(self, ev) -> None:
    """Compiles the program that `self(ev)` will use (timed in compile_s)."""
    stack, k = self._stack(ev)
    self._fn({name: v[:k] for name, v in stack.items()})

  def __call__(self, ev) -> Dict[str, np.ndarray]:
    """Normalised Events (or a dict of per-event arrays, e.g. {"seq"}) ->
    {name: [N, ...]} host arrays (float64 unless keep_dtype)."""
    stack, k = self._stack(ev)
    fn = self._fn({name: v[:k] for name, v in stack.items()})
    sh = sharding.stack_sharding(self.mesh)

    def one(start):
      part = {name: jax.device_put(v[start:start + k], sh)
              for name, v in stack.items()}
      return fn(self.state, part)               # dispatched asynchronously
    starts = range(0, stack["weight"].shape[0], k)
    if self.threads > 1 and len(starts) > 1:    # calls run concurrently
      with ThreadPoolExecutor(self.threads) as pool:
        host = list(pool.map(lambda s0: jax.device_get(one(s0)), starts))
    else:
      host = jax.device_get([one(s0) for s0 in starts])
    def flat(x):                                # [k, B, ...] -> [k*B, ...]
      x = np.asarray(x) if self.keep_dtype else np.asarray(x, np.float64)
      return x.reshape((-1,) + x.shape[2:])
    return {name: np.concatenate([flat(o[name]) for o in host])[:n_events(ev)]
            for name in host[0]}

