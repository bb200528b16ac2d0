"""A plain (non-editable) `pip install` into a fresh venv, used from another
directory: console command, configs by name, no generic top-level packages."""
import glob
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _copy_sources(dst):
  """The repository's tracked files (pip builds in place: keep ROOT clean)."""
  files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True).stdout.split()
  if not files:
    pytest.skip("not a git checkout")
  for f in files:
    if f.startswith(("configs/", "thesis_jax/", "experiments/")) or "/" not in f:
      os.makedirs(os.path.join(dst, os.path.dirname(f)), exist_ok=True)
      if os.path.isfile(os.path.join(ROOT, f)):
        shutil.copy2(os.path.join(ROOT, f), os.path.join(dst, f))


@pytest.mark.slow
def test_pip_install_and_run_from_elsewhere(tmp_path):
  src, venv, work = tmp_path / "src", tmp_path / "venv", tmp_path / "work"
  _copy_sources(src)
  work.mkdir()
  # no pip of its own (ensurepip takes seconds): the venv runs the base
  # interpreter's pip (system site-packages), which installs into the venv
  subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                  "--without-pip", str(venv)], check=True, timeout=120)
  py, exe = venv / "bin" / "python", venv / "bin" / "thesis-jax"
  p = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps",
                      str(src)], capture_output=True, text=True, timeout=600)
  if p.returncode and ("Could not find a version" in p.stderr
                       or "No matching distribution" in p.stderr):
    pytest.skip("no package index for the build backend: " + p.stderr[-300:])
  assert p.returncode == 0, p.stderr[-3000:]
  site = glob.glob(str(venv / "lib" / "python*" / "site-packages"))[0]
  installed = set(os.listdir(site))
  assert "thesis_jax" in installed
  assert not {"configs", "experiments"} & installed      # no generic names
  assert os.path.isfile(os.path.join(site, "thesis_jax", "configs", "default.py"))
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["THESIS_JAX_HOST_DEVICES"] = "0"

  def run(*args):
    return subprocess.run([str(exe), *args], cwd=work, capture_output=True,
                          text=True, timeout=600, env=env)

  p = run("train", "--config", "default:tiny", "--config.logging.output_root=out",
          "--config.phase1.trainer.epochs=1", "--config.logging.save_artifacts=False")
  assert p.returncode == 0, p.stderr[-3000:]
  run_dir = p.stdout.strip().splitlines()[-1].split(": ", 1)[1]
  assert run_dir.startswith(str(work / "out" / "runs")) and os.path.isdir(run_dir)
  assert site in subprocess.run(
      [str(py), "-c", "import thesis_jax; print(thesis_jax.__file__)"], cwd=work,
      capture_output=True, text=True, env=env).stdout
  for cmd in ("sweep", "report"):
    p = run(cmd, "--help")
    assert p.returncode == 0 and "config keys of" in p.stdout, p.stderr[-2000:]
  p = run("sweep", "--config", "compare_globals_heads:smoke", "--launcher", "slurm",
          "--config.base.logging.output_root=out")
  assert p.returncode == 0, p.stderr[-3000:]
  script = [l for l in p.stdout.splitlines() if l.startswith("wrote ")][0][6:]
  assert "-m thesis_jax train --config" in open(script).read()
