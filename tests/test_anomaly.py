"""Inference and anomaly detection: metrics, batching, AUROC sanity checks,
run_inference end to end on a tiny model trained on the real CMS events."""
import json
import os

import h5py
import numpy as np
import pytest

from conftest import CMS_H5, tiny_config
from configs.reports.inference_defaults import inference_config
from thesis_jax.data.layout import join_rows
from thesis_jax.data.synthetic import make_events
from thesis_jax.errors import DataError
from thesis_jax.reports.inference import metrics, run_inference, text_summary


def brute_auroc(clean, anom):
  a, c = np.asarray(anom)[:, None], np.asarray(clean)[None, :]
  return ((a > c).sum() + 0.5 * (a == c).sum()) / (a.size * c.size)


@pytest.mark.parametrize("n_clean,n_anom,levels", [(50, 70, 5), (200, 31, 1000),
                                                   (1, 1, 2), (300, 300, 3)])
def test_auroc_matches_pair_count(n_clean, n_anom, levels):
  rng = np.random.default_rng(n_clean)
  clean = rng.integers(0, levels, n_clean).astype(float)   # many ties
  anom = rng.integers(0, levels, n_anom) + 0.3 * rng.random(n_anom).round()
  assert metrics.auroc(clean, anom) == pytest.approx(brute_auroc(clean, anom),
                                                     abs=1e-12)


def test_auroc_edge_cases_and_roc():
  x = np.random.default_rng(0).random(101)
  assert metrics.auroc(x, x) == 0.5                  # identical: exactly 0.5
  assert metrics.auroc(x, x[::-1].copy()) == 0.5
  assert metrics.auroc([0, 1], [2, 3]) == 1.0
  assert metrics.auroc([2, 3], [0, 1]) == 0.0
  assert np.isnan(metrics.auroc([0, np.nan], [1.0]))
  eb, es, thr = metrics.roc_curve([0, 1, 2, 3], [2, 4, 5, 6])
  assert (eb[0], es[0], eb[-1], es[-1]) == (0, 0, 1, 1)
  assert (np.diff(eb) >= 0).all() and (np.diff(es) >= 0).all()
  assert np.trapezoid(es, eb) == pytest.approx(
      metrics.auroc([0, 1, 2, 3], [2, 4, 5, 6]))    # area = AUROC (ties: trapezoid)
  # eps_S >= 30 %: threshold 5 -> eps_B 0; >= 50 %: threshold 4 -> eps_B 0.
  s = metrics.summarize([0, 1, 2, 3], [2, 4, 5, 6])
  assert s["eps_b_30"] == 0 and s["rejection_30"] is None
  # anomalous 2..11 vs clean 0..9: eps_S >= 30 % at threshold 9 (eps_B 0.1),
  # eps_S >= 50 % at threshold 7 (eps_B 0.3).
  s = metrics.summarize(np.arange(10.0), np.arange(10.0) + 2)
  assert s["eps_b_30"] == pytest.approx(0.1) and s["rejection_30"] == pytest.approx(10)
  assert s["eps_b_50"] == pytest.approx(0.3) and s["rejection_50"] == pytest.approx(10 / 3)


def test_snap_paired_ties():
  c = np.array([1.0, 2.0, 3.0, 0.0])
  a = np.array([1.0 + 1e-7, 2.1, 3.0, 0.0])
  snapped, tied = metrics.snap_paired_ties(c, a, 1e-5)
  np.testing.assert_array_equal(tied, [True, False, True, True])
  np.testing.assert_array_equal(snapped, [1.0, 2.1, 3.0, 0.0])


# ---------------------------------------------------------------- trained model
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  import thesis_jax
  from thesis_jax.train.restore import load_run
  root = tmp_path_factory.mktemp("anomaly")
  cfg = tiny_config(root, **{"data.path": CMS_H5, "phase1.trainer.epochs": 4})
  res = thesis_jax.train_model(cfg)
  return res.run_dir, load_run(res.run_dir), root


def _cfg(**kw):
  c = inference_config()
  c.enabled = True
  c.strategies = {k: () for k in c.strategies}
  for k, v in kw.items():
    if k in c.strategies:
      c.strategies[k] = v
    else:
      c[k] = v
  return c


@pytest.mark.slow
def test_scorer_batching_matches_one_batch(trained):
  """Batch/step padding (weight-0 rows) changes no score."""
  import jax
  from thesis_jax.data.h5 import read_split
  from thesis_jax.train.batched import Scorer
  _, run, _ = trained
  ev = run.norm.apply(read_split(CMS_H5, "X_test", 18, limit=100))
  full = {"ids": ev.ids, "cont": ev.cont, "globals": ev.globals,
          "weight": np.ones(len(ev), np.float32)}
  ref = jax.device_get(jax.jit(run.loop.score_step)(run.state, full))
  for b, k, threads in [(32, 2, 1), (7, 3, 2), (128, 1, 1)]:
    got = Scorer(run.loop.score_step, run.state, b, k, threads)(ev)
    assert set(got) == set(ref)
    for name in ref:
      np.testing.assert_allclose(got[name], ref[name], rtol=2e-5, atol=1e-7)


@pytest.mark.slow
def test_zero_strength_shuffle_and_monotone_auroc(trained):
  run_dir, _, root = trained
  cfg = _cfg(gaussian_noise=(0.0, 0.1, 0.5, 2.0), token_shuffle=(1.0,),
             drop_tokens=(0.0,), swap_id_cont_pairs=(0.0,), met_scramble=(0.0,))
  s = run_inference([{"run_dir": run_dir, "kind": "thesis_jax"}], cfg,
                    str(root / "rep_a"))
  e = s["runs"][0]
  recs = {(r["strategy"], r["strength"]): r for r in e["anomaly"]}
  for name in ("gaussian_noise", "drop_tokens", "swap_id_cont_pairs",
               "met_scramble"):
    r = recs[(name, 0.0)]
    assert r["auroc"] == 0.5 and r["frac_events_changed"] == 0.0
    assert all(v in (0.5, None) for v in r["auroc_by_score"].values())
  # token_shuffle reorders most multi-token events, yet the mlp model's score
  # is permutation invariant: exactly 0.5 for every score, flagged as such.
  sh = recs[("token_shuffle", 1.0)]
  assert sh["frac_events_changed"] > 0.3
  assert sh["auroc"] == 0.5 and set(sh["auroc_by_score"].values()) <= {0.5, None}
  assert sh["frac_scores_tied"] == 1.0 and "sanity check" in sh["note"]
  assert e["permutation_check"]["permutation_invariant"]
  assert any("sanity check" in n for n in s["notes"])
  # AUROC does not fall as the noise grows, beyond its statistical resolution:
  # at 0.1 the noise is below this 4-epoch model's own reconstruction error,
  # so that AUROC is 0.5 up to sampling noise; each step up must not drop
  # below the previous value by more than the bootstrap interval allows.
  recs_g = [recs[("gaussian_noise", v)] for v in (0.0, 0.1, 0.5, 2.0)]
  aucs = [r["auroc"] for r in recs_g]
  for prev, nxt in zip(recs_g, recs_g[1:]):
    assert nxt["auroc_ci"][1] >= prev["auroc"], aucs
  assert recs_g[1]["auroc_ci"][0] <= 0.5 <= recs_g[1]["auroc_ci"][1] or aucs[1] > 0.5
  assert aucs[2] > 0.55 and aucs[3] > aucs[2] + 0.1, aucs


@pytest.mark.slow
def test_run_inference_end_to_end_with_anomaly_file(trained, tmp_path):
  run_dir, run, _ = trained
  sig = tmp_path / "other_process.h5"
  with h5py.File(sig, "w") as f:                    # one dataset, not X_test
    f["events"] = join_rows(make_events(300, 18, seed=9))
  cfg = _cfg(gaussian_noise=(0.2,), drop_tokens=(0.5,), met_scramble=(1.0,),
             swap_id_cont_pairs=(1.0,), token_shuffle=(1.0,),
             anomaly_files=f"{sig}, ", max_events=400, batch_size=64)
  out = tmp_path / "inference"
  runs = [{"run_dir": run_dir, "kind": "thesis_jax", "tokenizer": "vq"},
          {"run_dir": "/somewhere/run_orig", "kind": "original"}]
  s = run_inference(runs, cfg, str(out))
  json.dumps(s, allow_nan=False)                    # strict JSON
  assert {"split", "score", "strategies", "anomaly_files", "runs", "figures",
          "notes", "text"} <= set(s)
  e, orig = s["runs"]
  assert orig["skipped"] and "original PyTorch" in orig["note"]
  assert e["n_events"] == 400 and e["split"] == "test" and e["events_per_s"] > 0
  assert set(e["clean"]) >= {"mse", "mae", "mse_real", "mae_real", "loss"}
  for r in e["anomaly"]:
    assert {"auroc", "auroc_by_score", "eps_b_30", "rejection_30", "eps_b_50",
            "rejection_50", "roc"} <= set(r)
    assert 0 <= r["auroc"] <= 1 and len(r["roc"]["eps_b"]) == 101
  f = [r for r in e["anomaly"] if r["kind"] == "file"]
  assert len(f) == 1 and f[0]["strategy"] == "other_process.h5"
  assert f[0]["dataset"] == "events" and f[0]["n_anomalous"] == 300
  assert len(s["figures"]) == 4 and any("roc_by_score" in f for f in s["figures"])
  for r in e["anomaly"]:                            # baselines + intervals
    assert {"baseline_multiplicity", "baseline_type_counts",
            "baseline_met"} <= set(r["auroc_by_score"])
    for name, v in r["auroc_by_score"].items():
      lo, hi = r["auroc_ci_by_score"][name]
      assert v is None or lo <= v <= hi
  drop = [r for r in e["anomaly"] if r["strategy"] == "drop_tokens"][0]
  assert drop["auroc_by_score"]["baseline_multiplicity"] != 0.5
  noise = [r for r in e["anomaly"] if r["strategy"] == "gaussian_noise"][0]
  assert noise["auroc_by_score"]["baseline_type_counts"] == 0.5
  assert noise["auroc_ci"][0] < noise["auroc"] < noise["auroc_ci"][1]
  import matplotlib.image as mpimg
  for rel in s["figures"]:
    img = mpimg.imread(out / rel)
    assert img.shape[0] > 200 and img.shape[1] > 200 and img.std() > 0
  assert "other_process.h5:" in text_summary(s) and "skipped" in s["text"]
  assert "base:met=" in s["text"] and "bootstrap interval" in s["text"]


@pytest.mark.slow
def test_bad_anomaly_file_is_a_data_error(trained, tmp_path):
  run_dir, _, _ = trained
  ev = make_events(50, 18, seed=1)
  ev.ids[0, 0] = 17                                 # unknown to the model
  bad = tmp_path / "bad.h5"
  with h5py.File(bad, "w") as f:
    f["X_test"] = join_rows(ev)
  with pytest.raises(DataError, match="type id 17"):
    run_inference([{"run_dir": run_dir, "kind": "thesis_jax"}],
                  _cfg(anomaly_files=str(bad)), str(tmp_path / "o"))
  two = tmp_path / "two.h5"
  with h5py.File(two, "w") as f:
    f["a"] = join_rows(make_events(5, 18))
    f["b"] = join_rows(make_events(5, 18))
  with pytest.raises(DataError, match="not exactly one"):
    run_inference([{"run_dir": run_dir, "kind": "thesis_jax"}],
                  _cfg(anomaly_files=str(two)), str(tmp_path / "o2"))
  assert os.path.isdir(tmp_path / "o2" / "figures")


def _chunked_copy(src, dst, rows=32):
  """`src` rewritten with HDF5 chunks of `rows` rows (blocks of 64 possible)."""
  with h5py.File(src) as f, h5py.File(dst, "w") as g:
    for k in f:
      g.create_dataset(k, data=f[k][:], chunks=(rows, f[k].shape[1]))
  return str(dst)


@pytest.mark.slow
def test_streamed_inference_one_block_as_before_and_blocks_as_one(trained,
                                                                   tmp_path):
  """One block: every number as scoring the split in one piece (the code
  before streaming, rebuilt here from its parts); 64-row blocks: the same
  clean scores, every event scored once."""
  from thesis_jax.data.h5 import read_split
  from thesis_jax.reports.inference import corruptions
  from thesis_jax.reports.inference.baselines import Baselines
  from thesis_jax.reports.inference.run import _record
  from thesis_jax.train.batched import Scorer
  run_dir, run, _ = trained
  sig = tmp_path / "sig.h5"
  with h5py.File(sig, "w") as f:
    f.create_dataset("X_test", data=join_rows(make_events(300, 18, seed=9)),
                     chunks=(20, 92))
  kw = dict(gaussian_noise=(0.2,), drop_tokens=(0.5,), met_scramble=(1.0,),
            max_events=450, bootstrap=20, anomaly_files=str(sig))
  one = run_inference([{"run_dir": run_dir, "kind": "thesis_jax"}],
                      _cfg(**kw), str(tmp_path / "one"))["runs"][0]
  # Reference: the whole split in memory, corrupted and scored in one piece.
  cfg = _cfg(**kw)
  raw = read_split(CMS_H5, "X_test", 18, limit=450)
  base = Baselines.fit(read_split(CMS_H5, "X_train", 18))
  pack = run.loop.packer() if getattr(run.loop, "packer", None) else None
  scorer = Scorer(run.loop.score_step, run.state, 64, 64, 2, pack=pack)

  def score_all(ev):
    return dict(scorer(run.norm.apply(ev)), **base.score(ev))
  clean = score_all(raw)
  assert one["n_events"] == 450
  assert one["clean"] == {k: float(np.mean(v)) for k, v in clean.items()}
  recs = {r["strategy"]: r for r in one["anomaly"]}
  for name, (s,) in [("gaussian_noise", (0.2,)), ("drop_tokens", (0.5,)),
                     ("met_scramble", (1.0,))]:
    bad = corruptions.apply(name, raw, s, 0)
    changed = ((raw.ids != bad.ids).any(1) | (raw.cont != bad.cont).any((1, 2))
               | (raw.globals != bad.globals).any(1))
    ref, _ = _record("corruption", name, s, f"strength {s:g}", clean,
                     score_all(bad), "mse", cfg, changed=changed)
    for key in ("auroc", "auroc_by_score", "auroc_ci_by_score", "mean_score",
                "frac_events_changed", "frac_scores_tied", "eps_b_30", "roc"):
      assert recs[name][key] == ref[key], (name, key)
  ref, _ = _record("file", "sig.h5", None, "sig.h5:X_test", clean,
                   score_all(read_split(str(sig), "X_test", 18)), "mse", cfg)
  assert recs["sig.h5"]["auroc_by_score"] == ref["auroc_by_score"]
  # 64-row blocks (a copy chunked by 32 rows): 450 = 7 x 64 + 2 events.
  kw.update(data_path=_chunked_copy(CMS_H5, tmp_path / "chunked.h5"),
            block_rows=64)
  many = run_inference([{"run_dir": run_dir, "kind": "thesis_jax"}],
                       _cfg(**kw), str(tmp_path / "many"))["runs"][0]
  assert many["n_events"] == 450
  for k, v in one["clean"].items():
    assert many["clean"][k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
  for r in many["anomaly"]:
    assert r["n_clean"] == 450
    assert r["n_anomalous"] == (300 if r["kind"] == "file" else 450)
  by = {r["strategy"]: r for r in many["anomaly"]}
  assert by["gaussian_noise"]["mean_score"] != recs["gaussian_noise"][
      "mean_score"]                                   # blocks > 0: own streams
  for name in ("gaussian_noise", "drop_tokens", "met_scramble"):
    assert abs(by[name]["frac_events_changed"]
               - recs[name]["frac_events_changed"]) < 0.1, name
  for k, v in recs["sig.h5"]["auroc_by_score"].items():
    assert by["sig.h5"]["auroc_by_score"][k] == pytest.approx(v, abs=1e-6), k
