"""Regressions from pasting the README's commands as a new user (issue 10):
paths stored absolute, errors naming the config key, every README command
reachable as `thesis-jax COMMAND` after a plain `pip install`."""
import os

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
