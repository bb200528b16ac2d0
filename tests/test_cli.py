"""The commands as a user runs them: one-line errors, exit codes, --help,
comma lists, configs by name."""
import os
import subprocess
import sys

import pytest

from conftest import CMS_H5

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(tmp_path, *args, timeout=300, module="experiments.train",
            config="configs/default.py:smoke", cwd=ROOT):
  cmd = [sys.executable, "-m", *module.split(), "--config", config,
         f"--config.logging.output_root={tmp_path}", *args]
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                        timeout=timeout, env=env)


def one_error(p) -> str:
  lines = [l for l in p.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr[-2000:]
  return lines[0]


@pytest.mark.slow
def test_cli_trains_and_prints_run_folder(tmp_path):
  p = run_cli(tmp_path, f"--config.data.path={CMS_H5}",
              "--config.phase1.trainer.epochs=1", "--config.experiment.name=cli",
              "--config.phase1.latent_space.name=linear")
  assert p.returncode == 0, p.stderr
  assert "epoch   1/1" in p.stdout and "ETA" in p.stdout
  assert "no longer supported" not in p.stderr        # no XLA flag warning
  last = p.stdout.strip().splitlines()[-1]
  assert last.startswith("run folder: ") and last.endswith("_cli")
  run_dir = last.split(": ", 1)[1]
  with open(os.path.join(run_dir, "overrides.yaml")) as f:
    text = f.read()
  assert "phase1.latent_space.name=linear" in text and "experiment.name=cli" in text


@pytest.mark.slow
def test_relative_paths_are_stored_absolute(tmp_path):
  """data.path typed relative to the working directory is stored absolute
  (as typed in a comment), so the run works from any directory later."""
  rel = os.path.relpath(CMS_H5, ROOT)
  p = run_cli(tmp_path, f"--config.data.path={rel}", "--config.phase1.trainer.epochs=1",
              "--config.logging.save_artifacts=False", config="default:tiny")
  assert p.returncode == 0, p.stderr[-2000:]
  run_dir = p.stdout.strip().splitlines()[-1].split(": ", 1)[1]
  import yaml
  with open(os.path.join(run_dir, "cfg.yaml")) as f:
    text = f.read()
  assert yaml.safe_load(text)["data"]["path"] == CMS_H5
  assert f"#   data.path: {rel}" in text


# (more bad values are checked in-process: test_config_cli.py)
@pytest.mark.parametrize("args,expect,code", [
    (["--config.data.path=/nonexistent/x.h5"], "/nonexistent/x.h5: file not found (data.path)", 1),
    (["--config.phase1.latent_space.name=vqq"],
     "unknown latent space 'vqq' (config key phase1.latent_space.name); valid names: ", 2),
    (["--config.phase1.trainer.epoch=5"],
     "unknown config key 'phase1.trainer.epoch' (did you mean phase1.trainer.epochs?)", 2),
    (["--config.phase1.encoder.enc_hidden=64,x"],
     "phase1.encoder.enc_hidden item 2: expected an integer, got 'x'", 2),
    (["--epochs=3"], "unrecognized arguments: --epochs=3", 2),
])
def test_cli_errors_are_one_line(tmp_path, args, expect, code):
  p = run_cli(tmp_path, *args)
  assert p.returncode == code, p.stderr[-2000:]
  assert expect in one_error(p)
  assert not os.path.exists(os.path.join(tmp_path, "runs"))   # nothing half-written


def test_unknown_dataset_names_the_real_key(tmp_path):
  p = run_cli(tmp_path, f"--config.data.path={CMS_H5}",
              "--config.data.datasets.x_val=X_valid")
  assert p.returncode == 1
  assert "dataset 'X_valid' (data.datasets.x_val) not found" in one_error(p)


def test_cli_unwritable_output(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  p = run_cli(blocker / "sub")
  assert p.returncode == 1
  assert "cannot write the output folder" in one_error(p)


def test_help_lists_config_keys_with_defaults(tmp_path):
  p = subprocess.run([sys.executable, "-m", "thesis_jax", "train", "--help"],
                     cwd=tmp_path, capture_output=True, text=True, timeout=120,
                     env=dict(os.environ, PYTHONPATH=ROOT))
  assert p.returncode == 0, p.stderr
  line = [l for l in p.stdout.splitlines() if "phase1.trainer.epochs " in l]
  assert len(line) == 1 and "= 10" in line[0] and "training epochs" in line[0]
  assert "config names: default, diffusion_ae, gan_ae" in p.stdout


def test_unknown_config_name_lists_names(tmp_path):
  p = run_cli(tmp_path, module="thesis_jax train", config="defualt", cwd=tmp_path)
  assert p.returncode == 2
  assert "--config defualt: no such file or config name; names: default" in one_error(p)
