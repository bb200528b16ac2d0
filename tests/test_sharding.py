"""train/sharding.py on 4 forced CPU devices (a subprocess: the device count
is fixed when JAX starts)."""
import os
import subprocess
import sys

import pytest

from thesis_jax.train import sharding

SCRIPT = r"""
import jax, numpy as np
from thesis_jax.errors import ConfigError
from thesis_jax.train import sharding
mesh = sharding.make_mesh()
assert mesh.devices.size == 4 and mesh.axis_names == ("data",)
stack = {"x": np.arange(2 * 8 * 3, dtype=np.float32).reshape(2, 8, 3)}
g = sharding.put_stack(stack, mesh)["x"]
# [S, B, ...]: the batch axis is split over the 4 devices, 2 rows each
shards = sorted((s.index[1].start, s.data.shape) for s in g.addressable_shards)
assert shards == [(0, (2, 2, 3)), (2, (2, 2, 3)), (4, (2, 2, 3)), (6, (2, 2, 3))], shards
# a reduction under jit is global: the same number as NumPy
total = jax.jit(lambda a: a.sum())(g)
assert float(total) == float(stack["x"].sum())
r = sharding.replicate({"w": np.ones(3)}, mesh)["w"]
assert len(r.addressable_shards) == 4 and all(s.data.shape == (3,) for s in r.addressable_shards)
sharding.check_batch_size(8, mesh, "k")
try:
  sharding.check_batch_size(6, mesh, "phase1.trainer.batch_size")
except ConfigError as e:
  assert "phase1.trainer.batch_size=6 is not divisible by the 4 devices" in str(e), e
else:
  raise AssertionError("no error")
print("ok")
"""


def test_batch_axis_sharded_and_reductions_global_on_4_devices():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
  p = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=root,
                     capture_output=True, text=True, timeout=300)
  assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_one_device_mesh_accepts_any_batch_size():
  mesh = sharding.make_mesh()
  if mesh.devices.size != 1:
    pytest.skip("in-process JAX has several devices")
  sharding.check_batch_size(7, mesh, "k")
