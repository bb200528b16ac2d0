"""Reports end to end: compare_tokenizers, compare_globals_heads, the driver
(folders, manifest, backlinks, errors leave nothing) and the CLI."""
import json
import os
import re
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import GRID
from thesis_jax.errors import ConfigError
from thesis_jax.facts.fake_runs import original_config, write_fake_run
from thesis_jax.reports import run_report
from thesis_jax.reports import driver as report_driver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOK_FIGS = ("val_mse_vs_time", "pareto_error_vs_compression",
            "vq_perplexity_boxplot", "throughput_vs_best_val", "time_to_threshold")
GH_FIGS = ("grid_best_val_loss", "grid_best_rec_globals", "grid_best_rec_tokens",
           "tradeoff_rec_tokens_vs_rec_globals", "val_curves", "train_curves")


@pytest.fixture
def sweep(tiny_sweep):
  return tiny_sweep


def _config(module, **inputs):
  mod = __import__(f"configs.reports.{module}", fromlist=["get_config"])
  c = mod.get_config()
  c.inputs.update(inputs)
  return c


def _check_png(path):
  img = mpimg.imread(path)
  assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200, path
  assert float(img[..., :3].std()) > 0.01, f"{path} is blank"


def _check_folder(res, figs, root):
  d = res.report_dir
  assert os.path.dirname(d) == os.path.join(root, "reports")
  assert re.fullmatch(r"report_\d{8}-\d{6}_\w+", os.path.basename(d))
  for f in ("manifest.yaml", "training/summary.csv", "training/summary.json"):
    assert os.path.getsize(os.path.join(d, f)) > 0, f
  for k in figs:
    _check_png(os.path.join(d, "training", "figures", f"figure-{k}.png"))
  assert not os.path.exists(os.path.join(d, "inference"))   # disabled
  assert not [n for n in os.listdir(os.path.dirname(d)) if n.endswith(".partial")]
  with open(os.path.join(d, "manifest.yaml")) as f:
    man = yaml.safe_load(f)
  assert man["report_id"] == res.report_id == os.path.basename(d)
  assert {f"training/figures/figure-{k}.png" for k in figs} <= set(man["files"])
  assert man["n_runs"] == len(res.runs.summary)
  for rd in res.runs.summary["run_dir"]:
    with open(os.path.join(rd, "report_pointer.txt")) as f:
      assert f"{res.report_id}\t{d}\n" in f.read()
  return man


@pytest.mark.slow
def test_compare_tokenizers_end_to_end(sweep):
  res = run_report(_config("compare_tokenizers", sweep_dir=sweep["sweep_dir"]))
  man = _check_folder(res, TOK_FIGS, sweep["root"])
  assert man["inputs"]["sweep_dir"] == sweep["sweep_dir"]
  s = pd.read_csv(os.path.join(res.report_dir, "training", "summary.csv"))
  assert s["tokenizer"].tolist() == [g[0] for g in GRID]
  assert s["globals_beta"].tolist() == [g[1] for g in GRID]
  bests = [r.best_val_loss for _, r, _ in sweep["runs"]]
  np.testing.assert_allclose(s["loss.total_best"], bests, rtol=1e-7)
  with open(os.path.join(res.report_dir, "training", "summary.json")) as f:
    js = json.load(f)
  assert js["n_runs"] == 5 and js["swept_params"] == ["latent_space",
                                                      "globals_beta", "seed"]
  groups = {g["tokenizer"]: g for g in js["groups"]}
  assert groups["vq"]["n_runs"] == 3
  assert groups["vq"]["loss.total_best"]["mean"] == pytest.approx(np.mean(bests[2:]))
  assert groups["vq"]["loss.total_best"]["min"] == pytest.approx(min(bests[2:]))
  # threshold = worst best val loss: every run reaches it
  assert js["threshold_val_loss"] == pytest.approx(max(bests))
  assert all(t is not None for t in js["time_to_threshold_s"].values())
  assert "best run:" in res.text and res.report_dir in res.text


@pytest.mark.slow
def test_compare_globals_heads_end_to_end(sweep):
  res = run_report(_config("compare_globals_heads", sweep_dir=sweep["sweep_dir"]))
  _check_folder(res, GH_FIGS, sweep["root"])
  with open(os.path.join(res.report_dir, "training", "summary.json")) as f:
    grids = json.load(f)["grids"]
  recs = {g: r for _, r, g in sweep["runs"]}
  vq1 = [recs[("vq", 1.0, 0)].best_val_loss, recs[("vq", 1.0, 1)].best_val_loss]
  cell = grids["grid_best_val_loss"]["vq"]["1"]
  assert cell["n"] == 2
  assert cell["mean"] == pytest.approx(np.mean(vq1))
  # The facts hold float32 losses: the std of two close losses is exact only
  # to float32 rounding of the losses themselves, not relative to the std.
  assert cell["std"] == pytest.approx(np.std(vq1), abs=1e-6 * max(vq1))
  assert grids["grid_best_val_loss"]["none"]["1"] == {"mean": None, "std": None, "n": 0}
  r = recs[("none", 0.0, 0)]
  assert grids["grid_best_rec_globals"]["none"]["0"]["mean"] == pytest.approx(
      r.histories["rec_globals"][r.best_epoch - 1])


@pytest.mark.slow
def test_select_filters_and_empty_selection(sweep, tmp_path):
  c = _config("compare_tokenizers", sweep_dir=sweep["sweep_dir"])
  c.env.output_root = str(tmp_path)
  c.select.tokenizer = "vq,linear"
  c.select.seed = "0"
  res = run_report(c)
  assert res.runs.summary["run_name"].str[-4:].tolist() == ["job1", "job2", "job3"]
  assert os.path.dirname(res.report_dir) == str(tmp_path / "reports")
  c.select.tokenizer = "gnn"
  with pytest.raises(ConfigError, match="no runs left.*tokenizer"):
    run_report(c)
  assert os.listdir(tmp_path / "reports") == [os.path.basename(res.report_dir)]


@pytest.mark.slow
def test_errors_leave_nothing(sweep, tmp_path, monkeypatch):
  out = tmp_path / "out"
  (tmp_path / "notarun").mkdir()
  c = _config("compare_tokenizers", run_dirs=f"{sweep['runs'][0][0]},"
              f"{tmp_path / 'notarun'}")
  c.env.output_root = str(out)
  with pytest.raises(ConfigError, match="notarun is not a run folder"):
    run_report(c)
  c.inputs.run_dirs = ""
  with pytest.raises(ConfigError, match="no runs selected"):
    run_report(c)
  c.inputs.run_dirs = sweep["runs"][0][0]
  c.report = "compare_everything"
  with pytest.raises(ConfigError, match="unknown report 'compare_everything'"):
    run_report(c)
  assert not out.exists()
  # a failure while drawing: the half-built folder is removed
  c.report = "compare_tokenizers"
  from thesis_jax.reports.compare_tokenizers import CompareTokenizers

  def boom(*a, **k):
    raise RuntimeError("drawing failed")
  monkeypatch.setattr(CompareTokenizers, "figures", boom)
  pointer = os.path.join(sweep["runs"][0][0], "report_pointer.txt")
  before = open(pointer).read() if os.path.exists(pointer) else None
  with pytest.raises(RuntimeError, match="drawing failed"):
    run_report(c)
  assert os.listdir(out / "reports") == []
  assert (open(pointer).read() if os.path.exists(pointer) else None) == before


@pytest.mark.slow
def test_inference_called_and_written(sweep, tmp_path, monkeypatch):
  calls = []

  def fake_inference(runs, cfg, out_dir):
    calls.append((runs, out_dir))
    from matplotlib.figure import Figure
    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    path = os.path.join(out_dir, "figures", "roc.png")
    fig.savefig(path)
    return {"runs": [{"run_dir": r["run_dir"], "auroc": 0.75} for r in runs],
            "figures": [path], "notes": ["fake"], "nan": float("nan")}
  monkeypatch.setattr(report_driver, "_inference_fn", lambda cfg: fake_inference)
  monkeypatch.setattr(report_driver, "_inference_lines", lambda s: ["inference: fake"])
  c = _config("compare_tokenizers", run_dirs=sweep["runs"][3][0])
  c.env.output_root = str(tmp_path)
  res = run_report(c)
  (runs, out_dir), = calls
  assert runs[0]["kind"] == "thesis_jax" and runs[0]["tokenizer"] == "vq"
  with open(os.path.join(res.report_dir, "inference", "summary.json")) as f:
    js = json.load(f)
  # paths point into the final folder, NaN became null
  assert js["figures"] == [os.path.join(res.report_dir, "inference", "figures", "roc.png")]
  assert js["nan"] is None and js["runs"][0]["auroc"] == 0.75
  _check_png(js["figures"][0])
  assert any(f.endswith("inference/figures/roc.png") for f in res.figures)
  assert "inference: fake" in res.text


def test_reports_on_original_runs(tmp_path):
  """The original's runs: tokenizer filled (legend), grid found from configs."""
  root = tmp_path / "outputs"
  (root / "multiruns" / "exp_20251103-140953_gh").mkdir(parents=True)
  job, expect = 0, {}
  for ls in ("none", "linear", "vq"):
    for beta in (0.0, 1.0, 10.0):
      for seed in (0, 1):
        v = [3.0, 1.0 + job / 100, 1.5]
        write_fake_run(str(root / "runs" / f"run_20251103-140953_gh_job{job}"),
                       val_loss=v, histories={"rec_tokens": [1.0, 0.5 + job, 0.7],
                                              "rec_globals": [1, 1, 1],
                                              "perplex": [2, 3, 4]},
                       config=original_config(ls, beta, seed), seed=seed,
                       overrides=[f"phase1/latent_space={ls}",
                                  f"phase1.decoder.globals_beta={beta:g}",
                                  f"phase1.trainer.seed={seed}"])
        expect.setdefault((ls, beta), []).append(0.5 + job)
        job += 1
  sweep_dir = str(root / "multiruns" / "exp_20251103-140953_gh")
  res = run_report(_config("compare_globals_heads", sweep_dir=sweep_dir))
  _check_folder(res, GH_FIGS, str(root))
  with open(os.path.join(res.report_dir, "training", "summary.json")) as f:
    summary = json.load(f)
  grid = summary["grids"]["grid_best_rec_tokens"]
  # One convention, named: the original's logged globals_beta x mse (1 here)
  # is read as the plain mse; beta 0 leaves none (null).
  assert "plain mse" in summary["convention"]["rec_globals"]
  with open(os.path.join(res.report_dir, "manifest.yaml")) as f:
    assert yaml.safe_load(f)["convention"] == summary["convention"]
  rg = summary["grids"]["grid_best_rec_globals"]
  assert rg["vq"]["10"]["mean"] == pytest.approx(0.1)
  assert rg["vq"]["1"]["mean"] == pytest.approx(1.0)
  assert rg["vq"]["0"]["mean"] is None
  assert "convention: rec_globals = plain mse" in res.text
  for (ls, beta), vals in expect.items():
    assert grid[ls][f"{beta:g}"] == {"mean": pytest.approx(np.mean(vals)),
                                     "std": pytest.approx(np.std(vals)), "n": 2}
  res = run_report(_config("compare_tokenizers", sweep_dir=sweep_dir))
  s = res.runs.summary
  assert s["kind"].eq("original").all()
  assert s["tokenizer"].tolist() == ["none"] * 6 + ["linear"] * 6 + ["vq"] * 6


@pytest.mark.slow
def test_cli_run_dirs_comma_string(sweep, tmp_path):
  a, b = sweep["runs"][0][0], sweep["runs"][2][0]
  out = subprocess.run(
      [sys.executable, "-m", "experiments.report", "--config",
       os.path.join(ROOT, "configs/reports/compare_tokenizers.py"),
       f"--config.inputs.run_dirs={a},{b}", f"--config.env.output_root={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert "report compare_tokenizers: 2 runs" in out.stdout
  (rep,) = os.listdir(tmp_path / "reports")
  assert f"report folder: {tmp_path / 'reports' / rep}" in out.stdout
