"""Figures of merit, bootstrap intervals and model-free baselines
(thesis_jax/reports/inference/{metrics,bootstrap,baselines}.py) against
NumPy references."""
import numpy as np
import pytest

from thesis_jax.data.layout import Events
from thesis_jax.data.synthetic import make_events
from thesis_jax.reports.inference import baselines, bootstrap, metrics


def test_bootstrap_replicates_match_explicit_resampling():
  rng = np.random.default_rng(3)
  clean = rng.integers(0, 6, 57).astype(float)          # many ties
  anom = rng.integers(1, 7, 41).astype(float)
  reps = bootstrap.bootstrap_aurocs(clean, anom, 25, seed=11)
  # Reference: draw the same indices, resample the arrays, rank-based AUROC.
  ref_rng = np.random.default_rng(11)
  ib = bootstrap.resample_indices(ref_rng, clean.size, 25)
  ia = bootstrap.resample_indices(ref_rng, anom.size, 25)
  ref = [metrics.auroc(clean[b], anom[a]) for b, a in zip(ib, ia)]
  np.testing.assert_allclose(reps, ref, rtol=0, atol=1e-12)
  # Paired: one index set for both samples.
  reps = bootstrap.bootstrap_aurocs(clean[:41], anom, 10, seed=2, paired=True)
  idx = bootstrap.resample_indices(np.random.default_rng(2), 41, 10)
  np.testing.assert_allclose(
      reps, [metrics.auroc(clean[:41][i], anom[i]) for i in idx], atol=1e-12)
  with pytest.raises(ValueError, match="equal sizes"):
    bootstrap.bootstrap_aurocs(clean, anom, 5, 0, paired=True)


def test_bootstrap_interval_reproducible_and_honest():
  rng = np.random.default_rng(0)
  clean, anom = rng.normal(size=300), rng.normal(0.5, 1, 200)
  a = bootstrap.auroc_interval(clean, anom, 200, seed=4)
  b = bootstrap.auroc_interval(clean, anom, 200, seed=4)
  assert a == b                                        # same seed, same numbers
  assert bootstrap.auroc_interval(clean, anom, 200, seed=5) != a
  lo, hi = a["auroc_ci"]
  point = metrics.auroc(clean, anom)
  assert lo < point < hi
  # Mann-Whitney standard error (Hanley & McNeil 1982) for comparison.
  q1, q2 = point / (2 - point), 2 * point ** 2 / (1 + point)
  se = np.sqrt((point * (1 - point) + (199) * (q1 - point ** 2)
                + 299 * (q2 - point ** 2)) / (300 * 200))
  assert a["auroc_std"] == pytest.approx(se, rel=0.25)
  assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.3)
  # A few dozen events give a wide interval; 5000 a narrow one.
  small = bootstrap.auroc_interval(clean[:30], anom[:30], 200, seed=4)
  big = bootstrap.auroc_interval(rng.normal(size=5000),
                                 rng.normal(0.5, 1, 5000), 200, seed=4)
  w = lambda r: r["auroc_ci"][1] - r["auroc_ci"][0]
  assert w(small) > 0.2 and w(big) < 0.04
  assert bootstrap.auroc_interval([], anom, 10)["auroc_ci"] == [None, None]
  assert bootstrap.auroc_interval([np.nan], anom, 10)["auroc_std"] is None


def test_efficiencies_and_sic():
  clean = np.arange(1000.0)                 # eps_B(thr) = (1000 - thr) / 1000
  anom = np.arange(500.0, 1500.0)
  s = metrics.summarize(clean, anom)
  # eps_B <= 0.1: threshold 900 -> eps_S = 600 / 1000.
  assert s["eps_s_at_eps_b_0.1"] == pytest.approx(0.6)
  assert s["eps_s_at_eps_b_0.01"] == pytest.approx(0.51)
  # Reference SIC: all thresholds with >= 10 clean events passing.
  thr = np.arange(0.0, 991.0)
  eb = (1000 - thr) / 1000
  es = np.minimum(1500 - np.maximum(thr, 500), 1000) / 1000
  sic = es / np.sqrt(eb)
  assert s["sic_max"] == pytest.approx(sic.max())
  assert s["sic_max_eps_s"] == pytest.approx(es[np.argmax(sic)])
  assert s["notes"] == []
  small = metrics.summarize(clean[:300], anom[:300])
  assert small["eps_s_at_eps_b_0.01"] is None and small["eps_s_at_eps_b_0.1"] is not None
  assert "needs >= 1000 clean events" in small["notes"][0]
  # No signal: eps_S / sqrt(eps_B) = sqrt(eps_B) <= 1.
  same = metrics.summarize(clean, clean)
  assert same["sic_max"] == pytest.approx(1.0) and same["auroc"] == 0.5


def _events(ids, met):
  ids = np.asarray(ids, np.int32)
  n, t = ids.shape
  cont = np.where(ids[..., None] > 0, 1.0, 0.0).repeat(4, -1).astype(np.float32)
  glob = np.stack([met, np.zeros(n)], 1).astype(np.float32)
  return Events(ids, cont, glob)


def test_baselines_match_numpy_reference():
  train = _events([[1, 1, 0], [1, 2, 0], [1, 0, 0], [2, 2, 2]],
                  [10.0, 20.0, 30.0, 40.0])
  b = baselines.Baselines.fit(train, met_bins=2)
  test = _events([[1, 1, 0], [3, 0, 0], [0, 0, 0]], [15.0, 35.0, 100.0])
  s = b.score(test)
  a = baselines.ALPHA
  # multiplicity histogram over 0..3 real tokens: counts [0, 1, 2, 1]
  p = (np.array([0, 1, 2, 1]) + a) / (4 + 4 * a)
  np.testing.assert_allclose(s["baseline_multiplicity"], -np.log(p[[2, 1, 0]]))
  # type 1 counts per event [2, 1, 1, 0] -> hist [1, 2, 1, 0];
  # type 2: [0, 1, 0, 3] -> [2, 1, 0, 1]; type 3 unseen: [4, 0, 0, 0].
  h1 = (np.array([1, 2, 1, 0]) + a) / (4 + 4 * a)
  h2 = (np.array([2, 1, 0, 1]) + a) / (4 + 4 * a)
  h3 = (np.array([4, 0, 0, 0]) + a) / (4 + 4 * a)
  ref = [-np.log(h1[2] * h2[0] * h3[0]), -np.log(h1[0] * h2[0] * h3[1]),
         -np.log(h1[0] * h2[0] * h3[0])]
  np.testing.assert_allclose(s["baseline_type_counts"], ref)
  # MET quantile edges [10, 25, 40]; 2 events per bin, width 15 GeV.
  dens_in = (2 + a) / (4 + 2 * a) / 15.0
  dens_out = a / (4 + 2 * a) / 15.0
  np.testing.assert_allclose(s["baseline_met"],
                             -np.log([dens_in, dens_in, dens_out]))


def test_baselines_on_synthetic_events():
  train, test = make_events(3000, 18, seed=0), make_events(1000, 18, seed=1)
  b = baselines.Baselines.fit(train)
  clean = b.score(test)
  many = Events(test.ids.copy(), test.cont, test.globals.copy())
  many.ids[:, :12] = 1                                 # 12+ jets per event
  many.globals[:, 0] *= 3.0                            # harder MET
  anom = b.score(many)
  assert set(clean) == set(baselines.NAMES)
  assert metrics.auroc(clean["baseline_met"], anom["baseline_met"]) > 0.6
  for name in ("baseline_multiplicity", "baseline_type_counts"):
    assert metrics.auroc(clean[name], anom[name]) > 0.95
  assert all(np.isfinite(v).all() for v in anom.values())
