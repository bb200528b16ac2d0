"""The commands as a user runs them: one-line errors, exit codes, --help,
comma lists, configs by name."""
import os
import subprocess
import sys

import pytest

from conftest import CMS_H5

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli_cmd(tmp_path, *args, module="experiments.train",
            config="configs/default.py:smoke"):
  return [sys.executable, "-m", *module.split(), "--config", config,
          f"--config.logging.output_root={tmp_path}", *args]


def run(cmd, cwd=ROOT, timeout=300) -> subprocess.CompletedProcess:
  return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                        timeout=timeout, env=dict(os.environ, PYTHONPATH=ROOT))


def run_cli(tmp_path, *args, timeout=300, cwd=ROOT, **kw):
  return run(cli_cmd(tmp_path, *args, **kw), cwd, timeout)


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
ERRORS = [
    (["--config.data.path=/nonexistent/x.h5"], "/nonexistent/x.h5: file not found (data.path)", 1),
    (["--config.phase1.latent_space.name=vqq"],
     "unknown latent space 'vqq' (config key phase1.latent_space.name); valid names: ", 2),
    (["--config.phase1.trainer.epoch=5"],
     "unknown config key 'phase1.trainer.epoch' (did you mean phase1.trainer.epochs?)", 2),
    (["--config.phase1.encoder.enc_hidden=64,x"],
     "phase1.encoder.enc_hidden item 2: expected an integer, got 'x'", 2),
    (["--epochs=3"], "unrecognized arguments: --epochs=3", 2),
]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
  """The fast cases' commands, one per core at a time (each is mostly Python
  start-up on one core) -> {case: (its output root or cwd, finished process)}."""
  from concurrent.futures import ThreadPoolExecutor
  root = tmp_path_factory.mktemp("cli")
  cases = {}     # case -> (output root or cwd, command, cwd)

  def folder(name):
    os.makedirs(root / name)
    return root / name
  for i, (args, _, _) in enumerate(ERRORS):
    out = folder(f"error{i}")
    cases[" ".join(args)] = (out, cli_cmd(out, *args), ROOT)
  out = folder("dataset")
  cases["dataset"] = (out, cli_cmd(out, f"--config.data.path={CMS_H5}",
                                   "--config.data.datasets.x_val=X_valid"), ROOT)
  blocker = root / "file"
  blocker.write_text("not a folder")
  cases["unwritable"] = (blocker / "sub", cli_cmd(blocker / "sub"), ROOT)
  out = folder("help")
  cases["help"] = (out, [sys.executable, "-m", "thesis_jax", "train", "--help"],
                   out)
  out = folder("names")
  cases["names"] = (out, cli_cmd(out, module="thesis_jax train",
                                 config="defualt"), out)
  with ThreadPoolExecutor(max(len(os.sched_getaffinity(0)), 1)) as pool:
    done = {k: pool.submit(run, cmd, cwd) for k, (_, cmd, cwd) in cases.items()}
    return {k: (cases[k][0], f.result()) for k, f in done.items()}


@pytest.mark.parametrize("args,expect,code", ERRORS)
def test_cli_errors_are_one_line(cli_runs, args, expect, code):
  out, p = cli_runs[" ".join(args)]
  assert p.returncode == code, p.stderr[-2000:]
  assert expect in one_error(p)
  assert not os.path.exists(os.path.join(out, "runs"))   # nothing half-written


def test_unknown_dataset_names_the_real_key(cli_runs):
  _, p = cli_runs["dataset"]
  assert p.returncode == 1
  assert "dataset 'X_valid' (data.datasets.x_val) not found" in one_error(p)


def test_cli_unwritable_output(cli_runs):
  _, p = cli_runs["unwritable"]
  assert p.returncode == 1
  assert "cannot write the output folder" in one_error(p)


def test_help_lists_config_keys_with_defaults(cli_runs):
  _, p = cli_runs["help"]
  assert p.returncode == 0, p.stderr
  line = [l for l in p.stdout.splitlines() if "phase1.trainer.epochs " in l]
  assert len(line) == 1 and "= 10" in line[0] and "training epochs" in line[0]
  assert "config names: default, diffusion_ae, gan_ae" in p.stdout


def test_unknown_config_name_lists_names(cli_runs):
  _, p = cli_runs["names"]
  assert p.returncode == 2
  assert "--config defualt: no such file or config name; names: default" in one_error(p)
