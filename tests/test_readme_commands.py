"""Regressions from pasting the README's commands as a new user (issue 10):
paths stored absolute, errors naming the config key, every README command
reachable as `thesis-jax COMMAND` after a plain `pip install`."""
import importlib
import os
import re

import h5py
import pytest
import yaml

from conftest import CMS_H5, DATA
from thesis_jax.errors import DataError

VQ_RUN = os.path.join(DATA, "original_runs", "run_20261201-141208_orig_vq_seed3")


def test_make_synthetic_is_a_thesis_jax_command(tmp_path, capsys, monkeypatch):
  from thesis_jax import commands
  monkeypatch.chdir(tmp_path)
  commands.main(["make_synthetic", "--events", "200", "--out", "s.h5", "--seed", "1"])
  with h5py.File(tmp_path / "s.h5", "r") as f:
    assert {k: f[k].shape for k in f} == {"X_train": (160, 92), "X_val": (20, 92),
                                          "X_test": (20, 92)}
  assert "s.h5: train 160 / val 20 / test 20 events" in capsys.readouterr().out


def test_missing_anomaly_file_names_its_key(tmp_path):
  import thesis_jax
  from thesis_jax.reports.inference import read_anomaly_files
  cfg = thesis_jax.get_config("compare_tokenizers", "report").inference
  cfg.anomaly_files = str(tmp_path / "bsm.h5")
  with pytest.raises(DataError) as e:
    read_anomaly_files(cfg)
  assert str(e.value) == f"{tmp_path / 'bsm.h5'}: file not found (inference.anomaly_files)"
  with h5py.File(tmp_path / "bsm.h5", "w") as f:
    f["a"], f["b"] = [1.0], [2.0]
  with pytest.raises(DataError, match=r"no dataset 'X_test' \(inference.file_dataset\)"
                     r".*found: a, b; inference.anomaly_files\)"):
    read_anomaly_files(cfg)


def test_import_original_stores_absolute_data_path(tmp_path, monkeypatch):
  """`--data_path tests/data/...` typed relative: the imported run's cfg.yaml
  holds the absolute path, so reports find the data from any directory."""
  from thesis_jax import config_files
  from thesis_jax.interop.original_run import import_run
  monkeypatch.chdir(os.path.dirname(CMS_H5))
  out = import_run(VQ_RUN, config_files.load("default:original")[0], which="best",
                   data_path=os.path.basename(CMS_H5), out_dir=str(tmp_path / "run"))
  text = open(os.path.join(out, "cfg.yaml")).read()
  assert yaml.safe_load(text)["data"]["path"] == os.path.abspath(CMS_H5)
  assert f"#   data.path: {os.path.basename(CMS_H5)}\n" in text   # as typed


README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "README.md")
CONFIG_COMMANDS = ("train", "sweep", "report", "search")


def _readme_commands():
  """Every `thesis-jax ...` / `python -m experiments.X ...` command of the
  README: code-block lines (backslash continuations joined) and inline
  `...` spans. Placeholders (`<run>`, `[--opt]`, `...`) are neutralised."""
  text = open(README).read()
  cmds, in_block = [], False
  for line in re.sub(r"\\\n\s*", " ", text).splitlines():
    if line.startswith("```"):
      in_block = not in_block
      continue
    line = line.strip().removeprefix("$ ").removeprefix("srun ")
    if in_block and line.startswith(("thesis-jax ", "python -m experiments.")):
      cmds.append(line)
  for span in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
    span = " ".join(span.split())
    if span.startswith(("thesis-jax ", "python -m experiments.")):
      cmds.append(span)
  out = []
  for c in cmds:
    c = re.sub(r"<[^>]*>", "X", c).replace("[", " ").replace("]", " ")
    c = c.split(" #")[0]
    words = [w for w in c.split() if w not in ("...", "|")]
    name = words[1] if words[0] == "thesis-jax" else words[2].split(".", 1)[1]
    out.append((name, words[2:] if words[0] == "thesis-jax" else words[3:], c))
  return out


def _flags_of(name, capsys):
  """The --flags `thesis-jax NAME --help` lists."""
  with pytest.raises(SystemExit):
    importlib.import_module(f"thesis_jax.commands.{name}").run(["--help"], prog=name)
  return set(re.findall(r"(--[a-z_]+)", capsys.readouterr().out))


def test_readme_commands_name_real_commands_configs_keys_and_flags(capsys):
  """Stale README commands fail here: an unknown command, config name, key
  (checked by applying the overrides to the named config) or flag."""
  from thesis_jax import commands, config_files
  from thesis_jax.cli import split_config_args
  from thesis_jax.config_tools import apply_assignments
  found = _readme_commands()
  assert len(found) > 40
  flags, bad = {}, []
  for name, argv, text in found:
    if name.isupper() or not name.isidentifier():   # COMMAND, train|sweep, --help
      continue
    if name not in commands.COMMANDS:
      bad.append(f"unknown command: {text}")
      continue
    if name not in flags:
      flags[name] = _flags_of(name, capsys)
    spec, overrides, rest = split_config_args(argv)
    bad += [f"unknown flag {a}: {text}" for a in rest
            if a.startswith("--") and a.split("=")[0] not in flags[name]]
    if name not in CONFIG_COMMANDS or (spec or "").isupper():
      continue
    if overrides and spec is None and "--resume" not in rest:
      bad.append(f"--config.* without --config: {text}")
    if spec and not spec.startswith("NAME"):
      try:
        apply_assignments(config_files.load(spec, name)[0], overrides)
      except Exception as e:  # noqa: BLE001 -- collected, reported together
        bad.append(f"{e}: {text}")
  assert not bad, "\n".join(bad)
