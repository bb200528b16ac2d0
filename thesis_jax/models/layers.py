"""Shared building blocks: activations by name and a dense MLP."""
from __future__ import annotations

from typing import Callable, Dict, Sequence

import flax.linen as nn
import jax

ACTIVATIONS: Dict[str, Callable] = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),   # torch nn.GELU
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "tanh": jax.numpy.tanh,
    "leaky_relu": jax.nn.leaky_relu,
}


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
    act = ACTIVATIONS[self.activation]
    for i, h in enumerate(self.hidden):
      x = act(nn.Dense(int(h), name=f"dense_{i}")(x))
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.out_dim, name="out")(x)
