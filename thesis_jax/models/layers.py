"""Shared building blocks: activations by name and a dense MLP."""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax

from thesis_jax.registry import Registry

ACTIVATIONS: Registry[Callable] = Registry("activation", "activation")
ACTIVATIONS.register("gelu")(lambda x: jax.nn.gelu(x, approximate=False))  # torch nn.GELU
ACTIVATIONS.register("gelu_tanh")(lambda x: jax.nn.gelu(x, approximate=True))
ACTIVATIONS.register("relu")(jax.nn.relu)
ACTIVATIONS.register("silu")(jax.nn.silu)
ACTIVATIONS.register("tanh")(jax.numpy.tanh)
ACTIVATIONS.register("leaky_relu")(jax.nn.leaky_relu)


class MLP(nn.Module):
  """Dense -> act -> dropout for each hidden width, then a linear output.

  Acts on the last axis: [..., F] -> [..., out_dim].
  """
  hidden: Sequence[int]
  out_dim: int
  activation: str = "gelu"
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    act = ACTIVATIONS.get(self.activation)
    for i, h in enumerate(self.hidden):
      x = act(nn.Dense(int(h), name=f"dense_{i}")(x))
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.out_dim, name="out")(x)
