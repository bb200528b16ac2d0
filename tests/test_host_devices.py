"""configure_host_devices: XLA flags chosen from cores and batch size."""
from thesis_jax.train import host_devices


def test_splits_into_divisor_of_batch(monkeypatch):
  monkeypatch.setattr(host_devices, "cpu_cores", lambda: 4)
  env = {}
  assert host_devices.configure_host_devices(128, env) == 4
  assert "--xla_force_host_platform_device_count=4" in env["XLA_FLAGS"]
  env = {}
  assert host_devices.configure_host_devices(66, env) == 3      # 66 % 4 != 0
  env = {}
  assert host_devices.configure_host_devices(7, env) == 0 and "XLA_FLAGS" not in env


def test_respects_user_choice(monkeypatch):
  monkeypatch.setattr(host_devices, "cpu_cores", lambda: 8)
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
  assert host_devices.configure_host_devices(128, env) == 0
  assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"
  env = {"THESIS_JAX_HOST_DEVICES": "0"}
  assert host_devices.configure_host_devices(128, env) == 0
  env = {"THESIS_JAX_HOST_DEVICES": "2", "XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  assert host_devices.configure_host_devices(128, env) == 2
  assert env["XLA_FLAGS"].startswith("--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=2")
