"""Multi-process start-up with JAX's own runtime (`jax.distributed`).

Initialised only when asked: `distributed.initialize=True` (auto-detect on
SLURM / TPU pods / Open MPI) or an explicit `distributed.coordinator_address`
with `num_processes` and `process_id`. A plain single-host run never calls it.
"""
from __future__ import annotations

import jax
import numpy as np

from thesis_jax.errors import ConfigError

_initialized = False
_BROADCAST_BYTES = 4096   # fixed size: every process sends the same shape


def maybe_initialize(dcfg) -> bool:
  """-> True if this call (or an earlier one) started the distributed runtime.

  Must run before anything touches a JAX backend (jax.devices(), arrays).
  Raises ConfigError for inconsistent flags or a runtime that cannot start.
  """
  global _initialized
  if _initialized:
    return True
  if dcfg is None:
    return False
  explicit = bool(dcfg.get("coordinator_address", ""))
  if not (explicit or dcfg.get("initialize", False)):
    return False
  if explicit:
    n, pid = int(dcfg.num_processes), int(dcfg.process_id)
    if n < 1 or not 0 <= pid < n:
      raise ConfigError(
          f"distributed.coordinator_address={dcfg.coordinator_address} needs "
          f"distributed.num_processes >= 1 and 0 <= distributed.process_id < "
          f"num_processes, got num_processes={n}, process_id={pid}")
    kwargs = dict(coordinator_address=dcfg.coordinator_address,
                  num_processes=n, process_id=pid)
  else:
    kwargs = {}
  # CPU collectives across processes need gloo. The option only concerns the
  # CPU client, so it is set unconditionally: asking for the backend here
  # (jax.default_backend()) would initialise it, and initialize() must come
  # before that.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(**kwargs)
  except (RuntimeError, ValueError) as e:
    hint = ("" if explicit else " (distributed.initialize=True auto-detects "
            "SLURM, TPU pods and Open MPI; elsewhere set distributed."
            "coordinator_address, num_processes and process_id)")
    raise ConfigError(f"jax.distributed could not start: {e}{hint}") from None
  _initialized = True
  return True


def broadcast_str(value: str) -> str:
  """Process 0's `value` on every process (e.g. the run folder path)."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils
  data = value.encode()
  if len(data) > _BROADCAST_BYTES:
    raise ConfigError(f"'{value[:60]}...' is longer than {_BROADCAST_BYTES} "
                      "bytes (broadcast to every process)")
  raw = np.frombuffer(data.ljust(_BROADCAST_BYTES, b"\0"), dtype=np.uint8)
  out = multihost_utils.broadcast_one_to_all(raw)
  return bytes(np.asarray(out, np.uint8)).rstrip(b"\0").decode()
