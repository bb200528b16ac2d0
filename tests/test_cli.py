"""The training CLI as a user runs it: clear one-line errors, exit codes."""
import os
import subprocess
import sys

import pytest

from conftest import CMS_H5

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(tmp_path, *args, timeout=300):
  cmd = [sys.executable, "-m", "experiments.train", "--config",
         "configs/default.py:smoke", f"--config.logging.output_root={tmp_path}",
         *args]
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout)


def test_cli_trains_and_prints_run_folder(tmp_path):
  p = run_cli(tmp_path, f"--config.data.path={CMS_H5}",
              "--config.phase1.trainer.epochs=1", "--config.experiment.name=cli",
              "--config.phase1.latent_space.name=linear")
  assert p.returncode == 0, p.stderr
  assert "epoch   1/1" in p.stdout and "ETA" in p.stdout
  last = p.stdout.strip().splitlines()[-1]
  assert last.startswith("run folder: ") and last.endswith("_cli")
  run_dir = last.split(": ", 1)[1]
  with open(os.path.join(run_dir, "overrides.yaml")) as f:
    text = f.read()
  assert "phase1.latent_space.name=linear" in text and "experiment.name=cli" in text


@pytest.mark.parametrize("args,expect", [
    (["--config.data.path=/nonexistent/x.h5"], "/nonexistent/x.h5: file not found (data.path)"),
    (["--config.phase1.latent_space.name=vqq"],
     "unknown latent space 'vqq' (config key phase1.latent_space.name); valid names: "),
    (["--config.phase1.trainer.batch_size=0"], "phase1.trainer.batch_size must be > 0"),
])
def test_cli_errors_are_one_line(tmp_path, args, expect):
  p = run_cli(tmp_path, *args)
  assert p.returncode == 1
  err = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
  assert len(err) == 1 and expect in err[0], p.stderr[-2000:]
  assert not os.path.exists(os.path.join(tmp_path, "runs"))   # nothing half-written


def test_cli_unwritable_output(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  p = run_cli(blocker / "sub")
  assert p.returncode == 1
  assert "cannot write the output folder" in p.stderr


def test_cli_unknown_key_rejected(tmp_path):
  p = run_cli(tmp_path, "--config.phase1.trainer.epochz=3")
  assert p.returncode != 0 and "epochz" in p.stderr
