"""HDF5 loader, synthetic events, normalisation and bad-input errors."""
import os

import h5py
import numpy as np
import pytest

from conftest import CMS_H5, tiny_config
from thesis_jax.data import Normalizer, eval_stack, join_rows, load_dataset, train_stack
from thesis_jax.data import synthetic
from thesis_jax.data.h5 import read_splits
from thesis_jax.errors import DataError

NAMES = {"train": "X_train", "val": "X_val", "test": "X_test"}


def cms_cfg(tmp_path, **kw):
  return tiny_config(tmp_path, **{"data.path": CMS_H5, **kw}).data


def test_cms_shapes_and_ids(tmp_path):
  ds = load_dataset(cms_cfg(tmp_path))
  assert {k: len(v) for k, v in ds.splits.items()} == {"train": 1452, "val": 484, "test": 485}
  tr = ds.raw["train"]
  assert tr.ids.shape == (1452, 18) and tr.cont.shape == (1452, 18, 4)
  assert tr.globals.shape == (1452, 2)
  assert ds.num_types == 6
  assert set(np.unique(tr.ids)) <= set(range(6))
  # padding slots carry zero features; real tokens have positive E and pT
  assert np.all(tr.cont[~tr.mask] == 0)
  assert np.all(tr.cont[tr.mask][:, :2] > 0)
  with h5py.File(CMS_H5) as f:
    rows = f["X_val"][()]
  np.testing.assert_array_equal(join_rows(ds.raw["val"]), rows)


def test_normalisation_uses_train_only(tmp_path):
  ds = load_dataset(cms_cfg(tmp_path))
  flat = ds.raw["train"].cont.reshape(-1, 4).astype(np.float64)
  np.testing.assert_allclose(ds.norm.cont_mean, flat.mean(0), rtol=1e-5)
  np.testing.assert_allclose(ds.norm.cont_std, flat.std(0, ddof=1), rtol=1e-5)
  g = ds.raw["train"].globals.astype(np.float64)
  np.testing.assert_allclose(ds.norm.glob_mean, g.mean(0), rtol=1e-5)
  # normalised train split has zero mean / unit std per feature
  nflat = ds.splits["train"].cont.reshape(-1, 4)
  np.testing.assert_allclose(nflat.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(nflat.astype(np.float64).std(0, ddof=1), 1, atol=1e-3)
  # val is NOT standardised with its own statistics
  vflat = ds.splits["val"].cont.reshape(-1, 4)
  assert np.abs(vflat.mean(0)).max() > 1e-3
  # the original behaviour: raw globals
  raw = load_dataset(cms_cfg(tmp_path, **{"data.normalize_globals": False}))
  np.testing.assert_array_equal(raw.splits["train"].globals, raw.raw["train"].globals)


def test_normalizer_roundtrip(tmp_path):
  ds = load_dataset(cms_cfg(tmp_path))
  path = tmp_path / "norm.json"
  ds.norm.save(str(path))
  again = Normalizer.load(str(path))
  np.testing.assert_array_equal(again.cont_std, ds.norm.cont_std)
  back = again.invert_cont(ds.splits["test"].cont)
  np.testing.assert_allclose(back, ds.raw["test"].cont, rtol=1e-4, atol=1e-3)
  # re-loading with the saved statistics reproduces the normalised data exactly
  ds2 = load_dataset(cms_cfg(tmp_path), norm=again)
  np.testing.assert_array_equal(ds2.splits["val"].cont, ds.splits["val"].cont)


def test_limit_samples(tmp_path):
  ds = load_dataset(cms_cfg(tmp_path, **{"data.limit_samples": 100}))
  assert all(len(v) == 100 for v in ds.splits.values())


def test_synthetic_deterministic_and_physical():
  a = synthetic.make_events(500, 18, seed=3)
  b = synthetic.make_events(500, 18, seed=3)
  np.testing.assert_array_equal(a.cont, b.cont)
  m = a.mask
  pt = a.cont[..., 1]
  assert np.all(np.diff(np.where(m, pt, -1), axis=1) <= 0)     # sorted by pT
  e, eta = a.cont[..., 0], a.cont[..., 2]
  assert np.all(e[m] >= pt[m] * np.cosh(eta[m]) - 1e-3)          # E >= |p|
  assert np.all(np.abs(a.cont[..., 3]) <= np.pi)
  assert 2.0 < m.sum(1).mean() < 4.0
  assert np.all(a.globals[:, 0] >= 0)


def test_batch_stacks():
  ev = synthetic.make_events(300, 18, seed=0)
  st = train_stack(ev, 64, seed=1, epoch=0)
  assert st["ids"].shape == (4, 64, 18)              # 300 // 64, last dropped
  again = train_stack(ev, 64, seed=1, epoch=0)
  np.testing.assert_array_equal(st["cont"], again["cont"])
  other = train_stack(ev, 64, seed=1, epoch=1)
  assert not np.array_equal(st["ids"], other["ids"])
  # two processes' halves put together give the single-process batch
  h0 = train_stack(ev, 64, 1, 0, process_index=0, process_count=2)
  h1 = train_stack(ev, 64, 1, 0, process_index=1, process_count=2)
  np.testing.assert_array_equal(np.concatenate([h0["cont"], h1["cont"]], 1), st["cont"])
  # drop_last=False (the original): the same batches plus a last one whose
  # 300 - 4*64 = 44 real rows have weight 1 and the padding rows weight 0
  kept = train_stack(ev, 64, seed=1, epoch=0, drop_last=False)
  assert kept["ids"].shape == (5, 64, 18) and kept["weight"].sum() == 300
  np.testing.assert_array_equal(kept["cont"][:4], st["cont"])
  assert kept["weight"][4].tolist() == [1.0] * 44 + [0.0] * 20
  real = kept["globals"].reshape(-1, 2)[kept["weight"].reshape(-1) > 0]
  assert len({tuple(g) for g in real}) == 300          # every event once
  k0 = train_stack(ev, 64, 1, 0, process_index=0, process_count=2, drop_last=False)
  k1 = train_stack(ev, 64, 1, 0, process_index=1, process_count=2, drop_last=False)
  np.testing.assert_array_equal(np.concatenate([k0["weight"], k1["weight"]], 1),
                                kept["weight"])
  es = eval_stack(ev, 128)
  assert es["ids"].shape == (3, 128, 18) and es["weight"].sum() == 300
  np.testing.assert_array_equal(es["cont"].reshape(-1, 18, 4)[:300], ev.cont)


def write_h5(path, **datasets):
  with h5py.File(path, "w") as f:
    for k, v in datasets.items():
      f[k] = v


def good_rows(n=20):
  return join_rows(synthetic.make_events(n, 18, seed=0))


@pytest.mark.parametrize("case,expect", [
    ("missing_file", "file not found"),
    ("not_hdf5", "not a readable HDF5 file"),
    ("missing_dataset", "dataset 'X_val' (data.datasets.x_val) not found"),
    ("wrong_width", "row width 91 does not match data.n_tokens=18"),
    ("negative_id", "negative type id -1 at row 2, token 0"),
    ("nan", "non-finite values (NaN/inf), first at row 1"),
    ("inf", "non-finite values (NaN/inf), first at row 0"),
    ("one_dim", "expected a 2-D dataset"),
    ("empty", "dataset is empty"),
])
def test_bad_inputs(tmp_path, case, expect):
  path = str(tmp_path / "bad.h5")
  rows = good_rows()
  if case == "missing_file":
    path = str(tmp_path / "nope.h5")
  elif case == "not_hdf5":
    open(path, "w").write("plain text")
  elif case == "missing_dataset":
    write_h5(path, X_train=rows, X_test=rows)
  elif case == "wrong_width":
    write_h5(path, X_train=rows[:, :91], X_val=rows, X_test=rows)
  elif case == "negative_id":
    bad = rows.copy(); bad[2, 0] = -1
    write_h5(path, X_train=bad, X_val=rows, X_test=rows)
  elif case == "nan":
    bad = rows.copy(); bad[1, 40] = np.nan
    write_h5(path, X_train=bad, X_val=rows, X_test=rows)
  elif case == "inf":
    bad = rows.copy(); bad[0, 18] = np.inf
    write_h5(path, X_train=bad, X_val=rows, X_test=rows)
  elif case == "one_dim":
    write_h5(path, X_train=rows[0], X_val=rows, X_test=rows)
  elif case == "empty":
    write_h5(path, X_train=rows[:0], X_val=rows, X_test=rows)
  with pytest.raises(DataError) as e:
    read_splits(path, NAMES, 18)
  msg = str(e.value)
  assert expect in msg and os.path.basename(path) in msg and "\n" not in msg
