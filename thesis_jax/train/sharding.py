"""Data parallelism: one `("data",)` mesh over all devices of all processes.

Batch stacks `[S, B, ...]` are sharded along B; the train state is
replicated. Under `jit` with these shardings every batch reduction (losses,
VQ counts and sums) is global, so N devices compute what one device would.
"""
from __future__ import annotations

from typing import Dict

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from thesis_jax.errors import ConfigError


def make_mesh() -> Mesh:
  # Plain Mesh (Auto axes): jax.make_mesh's Explicit axes break embedding lookups.
  return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def stack_sharding(mesh: Mesh) -> NamedSharding:
  """For `[S, B, ...]` stacks: shard axis 1 (batch) over devices."""
  return NamedSharding(mesh, P(None, "data"))


def check_batch_size(batch_size: int, mesh: Mesh, key: str) -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigError(
        f"{key}={batch_size} is not divisible by the {n} devices of "
        f"{jax.process_count()} process(es); the batch size is global")


def put_stack(stack: Dict[str, np.ndarray], mesh: Mesh):
  """Host stack (this process's rows of each global batch) -> global arrays."""
  sh = stack_sharding(mesh)
  nproc = jax.process_count()
  out = {}
  for k, v in stack.items():
    if nproc == 1:
      out[k] = jax.device_put(v, sh)
    else:
      gshape = (v.shape[0], v.shape[1] * nproc) + v.shape[2:]
      out[k] = jax.make_array_from_process_local_data(sh, v, gshape)
  return out


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))
