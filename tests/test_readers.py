"""facts.readers: thesis_jax runs (tiny sweep) and original thesis-ml folders."""
import csv
import json
import logging
import os
import shutil

import numpy as np
import pytest

from conftest import GRID
from thesis_jax.errors import ConfigError
from thesis_jax.facts.fake_runs import original_config, write_fake_run
from thesis_jax.facts.readers import SUMMARY_COLUMNS, load_runs
from thesis_jax.facts.run_config import param_name, swept_params


@pytest.fixture
def sweep(tiny_sweep):
  return tiny_sweep


def _val_rows(run_dir):
  with open(os.path.join(run_dir, "facts", "scalars.csv")) as f:
    return [r for r in csv.DictReader(f) if r["split"] == "val"]


@pytest.mark.slow
def test_thesis_jax_sweep_next_to_multiruns(sweep):
  runs = load_runs(sweep_dir=sweep["sweep_dir"])
  s = runs.summary
  assert list(s.columns[:len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
  assert runs.swept == ["latent_space", "globals_beta", "seed"]  # no logging.*
  assert s["run_name"].tolist() == [os.path.basename(r) for r, _, _ in sweep["runs"]]
  assert s["tokenizer"].tolist() == [g[0] for g in GRID]
  assert s["latent_space"].tolist() == [g[0] for g in GRID]
  assert s["globals_beta"].tolist() == [g[1] for g in GRID]
  assert s["seed"].tolist() == [g[2] for g in GRID]
  assert (s["kind"] == "thesis_jax").all() and (s["encoder"] == "mlp").all()
  assert s["codebook_size"].tolist()[2:] == [32, 32, 32]
  assert s["codebook_size"].iloc[:2].isna().all()
  assert s["latent_bits_per_token"].tolist() == [256.0, 256.0, 5.0, 5.0, 5.0]
  assert (s["dataset_name"] == "synthetic").all() and (s["epochs"] == 2).all()
  for (run_dir, res, _), (_, row) in zip(sweep["runs"], s.iterrows()):
    # by hand: first minimum over the val rows of scalars.csv
    rows = _val_rows(run_dir)
    vals = [float(r["val_loss"]) for r in rows]
    best = int(np.argmin(vals))
    # facts (and so the readers) count epochs from 0; TrainResult from 1
    assert row["best_epoch"] == int(rows[best]["epoch"]) == res.best_epoch - 1
    assert row["loss.total_best"] == vals[best]
    np.testing.assert_allclose(row["loss.total_best"], res.best_val_loss, rtol=1e-7)
    assert row["loss.total_final"] == vals[-1]
    for col, key in (("loss.recon_best", "rec_tokens"),
                     ("loss.rec_globals_best", "rec_globals"),
                     ("loss.commit_best", "commit"),
                     ("loss.codebook_best", "codebook")):
      assert row[col] == pytest.approx(res.histories[key][best])
    assert row["test_loss"] == pytest.approx(res.test_loss)
    assert row["total_time_s"] == pytest.approx(sum(res.histories["epoch_time_s"]))
    assert row["throughput_mean"] == pytest.approx(
        np.mean(res.histories["throughput"]), rel=1e-6)
    if row["tokenizer"] == "vq":
      assert row["metric_perplex_final"] == pytest.approx(
          res.histories["perplex"][-1], rel=1e-6)
    else:
      assert np.isnan(row["metric_perplex_final"])
  pe = runs.per_epoch
  assert len(pe) == 10 and pe.groupby("run_dir").size().tolist() == [2] * 5
  first = pe[pe["run_dir"] == s["run_dir"].iloc[0]]
  np.testing.assert_allclose(first["time_s"], np.cumsum(first["epoch_time_s"]))
  assert first["rec_tokens"].tolist() == pytest.approx(
      sweep["runs"][0][1].histories["rec_tokens"])


@pytest.mark.slow
def test_run_dirs_as_comma_string_and_exp_runs_layout(sweep, tmp_path):
  a, b = sweep["runs"][0][0], sweep["runs"][3][0]
  runs = load_runs(run_dirs=f"{a},{b}")
  assert runs.summary["tokenizer"].tolist() == ["none", "vq"]
  # the same jobs under exp_*/runs/ (the sweep layout), given twice: deduplicated
  exp = tmp_path / "multiruns" / "exp_20260101-000000_x"
  for i, (rd, _, _) in enumerate(sweep["runs"][:2]):
    shutil.copytree(rd, exp / "runs" / f"run_20260101-000000_x_job{i}")
  runs = load_runs(sweep_dir=str(exp),
                   run_dirs=[str(exp / "runs" / "run_20260101-000000_x_job1")])
  assert runs.summary["run_name"].tolist() == ["run_20260101-000000_x_job0",
                                               "run_20260101-000000_x_job1"]


ORIG_CONFIG = """\
data:
  path: /data/4tops_splitted.h5
  n_tokens: 18
phase1:
  latent_dim: 16
  encoder:
    _target_: thesis_ml.architectures.autoencoder.encoders.mlp.MLPEncoder
    latent_dim: ${phase1.latent_dim}
  latent_space:
    _target_: thesis_ml.architectures.autoencoder.bottlenecks.vq.VQBottleneck
    codebook_size: 64
    latent_dim: ${phase1.latent_dim}
  decoder:
    _target_: thesis_ml.architectures.autoencoder.decoders.mlp.MLPDecoder
    globals_beta: 10
  trainer:
    epochs: 4
    seed: 7
"""
SCALARS = """\
epoch,split,train_loss,val_loss,epoch_time_s,throughput,max_memory_mib,metric_perplex
0,train,5.5,,2,6000,100,1.5
0,val,,5,2,6000,100,1.5
1,train,3.5,,2,6000,120,1.8
1,val,,3,2,6000,120,1.8
2,train,3.2,,2,6000,110,1.9
2,val,,3.25,2,6000,110,1.9
3,train,3.1,,4,3000,90,2
3,val,,3,4,3000,90,2
"""


def _write_literal_original(run_dir):
  """A run folder of the original written by hand from its documented layout."""
  os.makedirs(os.path.join(run_dir, ".hydra"))
  os.makedirs(os.path.join(run_dir, "facts"))
  with open(os.path.join(run_dir, ".hydra", "config.yaml"), "w") as f:
    f.write(ORIG_CONFIG)
  with open(os.path.join(run_dir, ".hydra", "overrides.yaml"), "w") as f:
    f.write("- phase1/latent_space=vq\n- phase1.decoder.globals_beta=10\n"
            "- +phase1.trainer.seed=7\n- hydra.job.chdir=true\n")
  with open(os.path.join(run_dir, "facts", "scalars.csv"), "w") as f:
    f.write(SCALARS)
  hist = {"train_loss": [5.5, 3.5, 3.2, 3.1], "val_loss": [5, 3, 3.25, 3],
          "rec_tokens": [0.9, 0.5, 0.45, 0.4], "rec_globals": [0.41, 0.25, 0.28, 0.26],
          "codebook": [0, 0, 0, 0], "perplex": [1.5, 1.8, 1.9, 2.0],
          "epoch_time_s": [2, 2, 2, 4], "throughput": [6000, 6000, 6000, 3000]}
  meta = {"timestamp": "2025-11-03T14:09:53+00:00", "run_id": "x",
          "git_commit": "abc1234", "hostname": "h", "cuda_info": {"available": True}}
  evs = [{"schema_version": 1, "moment": "on_start", "epoch": None, "meta": meta}]
  for e in range(4):
    h = {k: v[:e + 1] for k, v in hist.items()}
    evs.append({"schema_version": 1, "moment": "on_epoch_end", "epoch": e,
                "val_loss": hist["val_loss"][e], "meta": meta, "histories": h,
                **{f"history_{k}": v for k, v in h.items()}})
  evs.append({"schema_version": 1, "moment": "on_train_end", "epoch": 3,
              "total_time_s": 10.0, "meta": meta, "histories": hist})
  evs.append({"schema_version": 1, "moment": "on_test_end", "split": "test",
              "metrics": {"test_loss": 3.3}, "meta": meta})
  with open(os.path.join(run_dir, "facts", "events.jsonl"), "w") as f:
    f.write("".join(json.dumps(e) + "\n" for e in evs))


def test_original_layout_by_hand(tmp_path):
  root = tmp_path / "outputs"
  exp = root / "multiruns" / "exp_20251103-140953_cmp"
  exp.mkdir(parents=True)
  _write_literal_original(str(root / "runs" / "run_20251103-140953_cmp_job0"))
  runs = load_runs(sweep_dir=str(exp))
  r = runs.summary.iloc[0]
  assert r["kind"] == "original" and r["tokenizer"] == "vq" and r["encoder"] == "mlp"
  assert runs.swept == ["latent_space", "globals_beta", "seed"]  # hydra.* dropped
  assert (r["latent_space"], r["globals_beta"], r["seed"]) == ("vq", 10.0, 7)
  assert (r["latent_dim"], r["codebook_size"]) == (16, 64)   # ${...} resolved
  assert r["dataset_name"] == "4tops_splitted" and r["git_commit"] == "abc1234"
  # val losses 5, 3, 3.25, 3: the best epoch is the first minimum (1)
  assert (r["epochs"], r["best_epoch"]) == (4, 1)
  assert (r["loss.total_best"], r["loss.total_final"]) == (3.0, 3.0)
  # the original logs globals_beta (10) x mse: read as the plain mse
  assert r["loss.recon_best"] == 0.5
  assert r["loss.rec_globals_best"] == pytest.approx(0.025)
  assert r["test_loss_checkpoint"] == "last" and not r["globals_normalized"]
  assert r["loss.recon_final"] == 0.4 and r["loss.codebook_best"] == 0.0
  assert r["loss.commit_best"] is None          # not a history key of the original
  assert r["total_time_s"] == 10.0 and r["mean_epoch_time_s"] == 2.5
  assert r["throughput_mean"] == 5250.0 and r["max_memory_mib_max"] == 120.0
  assert r["metric_perplex_final"] == 2.0 and r["test_loss"] == 3.3
  assert r["latent_bits_per_token"] == 6.0
  pe = runs.per_epoch
  assert pe["train_loss"].tolist() == [5.5, 3.5, 3.2, 3.1]
  assert pe["time_s"].tolist() == [2, 4, 6, 10]


def test_original_fake_runs_tokenizers_and_cfg_yaml(tmp_path):
  for i, ls in enumerate(("none", "linear", "vq")):
    write_fake_run(str(tmp_path / f"run_{i}"), val_loss=[2.0, 1.0 + i, 1.5],
                   config=original_config(ls, globals_beta=1.0, seed=i),
                   overrides=[f"phase1/latent_space={ls}"])
  # an original run that only has cfg.yaml (components as _target_)
  write_fake_run(str(tmp_path / "run_3"), val_loss=[1.0], layout="thesis_jax",
                 config=original_config("linear"))
  runs = load_runs(run_dirs=[str(tmp_path / f"run_{i}") for i in range(4)])
  s = runs.summary
  assert s["tokenizer"].tolist() == ["none", "linear", "vq", "linear"]
  assert s["kind"].tolist() == ["original"] * 4
  assert s["best_epoch"].tolist() == [1, 2, 2, 0]
  assert s["loss.total_best"].tolist() == [1.0, 1.5, 1.5, 1.0]
  assert s["seed"].tolist() == [0, 1, 2, 42]
  assert s["latent_space"].tolist()[:3] == ["none", "linear", "vq"]


@pytest.mark.slow
def test_incomplete_run_skipped_with_warning(sweep, tmp_path, caplog):
  runs_dir = tmp_path / "runs"
  good = runs_dir / "run_a"
  bad = runs_dir / "run_b"
  shutil.copytree(sweep["runs"][0][0], good)
  shutil.copytree(sweep["runs"][1][0], bad)
  ev = bad / "facts" / "events.jsonl"
  lines = [ln for ln in ev.read_text().splitlines()
           if json.loads(ln)["moment"] not in ("on_train_end", "on_test_end")]
  ev.write_text("\n".join(lines) + "\n{\"moment\": \"on_epo")   # torn last line
  with caplog.at_level(logging.WARNING, logger="thesis_jax.facts"):
    runs = load_runs(sweep_dir=str(runs_dir))
  assert runs.summary["run_name"].tolist() == ["run_a"]
  assert runs.skipped == [(str(bad), "incomplete: no on_train_end in "
                           "facts/events.jsonl")]
  assert "run_b" in caplog.text and "on_train_end" in caplog.text
  shutil.rmtree(good)
  with pytest.raises(ConfigError, match="no complete runs.*run_b"):
    load_runs(sweep_dir=str(runs_dir))


def test_selection_errors(tmp_path):
  with pytest.raises(ConfigError, match="no runs selected"):
    load_runs()
  with pytest.raises(ConfigError, match="no runs selected"):
    load_runs(run_dirs=" , ")
  (tmp_path / "notes").mkdir()
  with pytest.raises(ConfigError, match="notes is not a run folder"):
    load_runs(run_dirs=str(tmp_path / "notes"))
  with pytest.raises(ConfigError, match="missing: no such folder"):
    load_runs(run_dirs=str(tmp_path / "missing"))
  with pytest.raises(ConfigError, match="no run folders found"):
    load_runs(sweep_dir=str(tmp_path / "notes"))


def test_swept_param_names():
  assert param_name("phase1/latent_space") == "latent_space"
  assert param_name("phase1.latent_space.name") == "latent_space"
  assert param_name("phase1.decoder.globals_beta") == "globals_beta"
  assert swept_params(["phase1/latent_space=vq", "++phase1.trainer.epochs=50",
                       "phase1.decoder.globals_beta=1e-1", "logging.output_root=/x",
                       "experiment.name=a", "data.path=/d/f.h5", "junk"]) == {
      "latent_space": "vq", "epochs": 50, "globals_beta": 0.1, "path": "/d/f.h5"}


def test_one_convention_for_both_implementations(tmp_path):
  """rec_globals: plain mse for every run (thesis-ml and original-mode facts
  carry globals_beta x mse; beta 0 leaves no mse: NaN); the test loss's
  checkpoint is named per run."""
  jax_cfg = lambda beta, sem, ck: {
      "loop": "ae", "data": {"normalize_globals": sem != "original"},
      "phase1": {"latent_space": {"name": "vq"}, "decoder": {"globals_beta": beta},
                 "trainer": {"test_checkpoint": ck}},
      "logging": {"facts_semantics": sem}}
  runs = {"orig_b10": (original_config("vq", 10.0), "original", [2.0, 1.0]),
          "orig_b0": (original_config("vq", 0.0), "original", [0.0, 0.0]),
          "jax_plain": (jax_cfg(10.0, "thesis_jax", "best"), "thesis_jax", [0.2, 0.1]),
          "jax_orig": (jax_cfg(10.0, "original", "last"), "thesis_jax", [2.0, 1.0])}
  for name, (cfg, layout, rg) in runs.items():
    write_fake_run(str(tmp_path / name), val_loss=[3.0, 2.0], config=cfg,
                   layout=layout, histories={"rec_globals": rg})
  s = load_runs(run_dirs=[str(tmp_path / n) for n in runs]).summary
  s = s.set_index("run_name")
  for name in ("orig_b10", "jax_plain", "jax_orig"):
    assert s.loc[name, "loss.rec_globals_best"] == pytest.approx(0.1), name
  assert np.isnan(s.loc["orig_b0", "loss.rec_globals_best"])
  assert s["test_loss_checkpoint"].to_dict() == {
      "orig_b10": "last", "orig_b0": "last", "jax_plain": "best", "jax_orig": "last"}
  assert s["globals_normalized"].tolist() == [False, False, True, False]
