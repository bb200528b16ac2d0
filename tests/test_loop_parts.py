"""train/loop_parts.py, train/history.py, the LOOPS table and errors.lookup."""
import math

import numpy as np
import pytest

from thesis_jax.errors import ConfigError, lookup
from thesis_jax.facts.schema import clean_number, json_safe
from thesis_jax.train import loop_parts as parts
from thesis_jax.train.history import RunHistory
from thesis_jax.train.loops import LOOPS


def test_every_loop_has_check_and_build_and_unknown_names_list_the_table():
  assert {"ae", "gan_ae", "diffusion_ae"} <= set(LOOPS)
  for name, module in LOOPS.items():
    assert callable(module.check) and callable(module.build), name
  valid = ", ".join(sorted(LOOPS))
  with pytest.raises(ConfigError) as e:
    lookup(LOOPS, "gan", "training loop", "loop")
  assert str(e.value) == ("unknown training loop 'gan' (config key loop); "
                          f"valid names: {valid}")


def test_event_errors_closed_form():
  ids = np.array([[1, 0], [2, 3]])
  cont = np.zeros((2, 2, 2), np.float32)
  x_hat = np.array([[[1, 1], [3, 3]], [[2, 0], [0, 0]]], np.float32)
  batch = {"ids": ids, "cont": cont, "globals": np.zeros((2, 2), np.float32)}
  e = parts.event_errors(x_hat, np.array([[1, 1], [0, 2]], np.float32), batch)
  np.testing.assert_allclose(e["mse"], [(1 + 9) / 2, 2 / 2])
  np.testing.assert_allclose(e["mae"], [(1 + 3) / 2, 1 / 2])
  np.testing.assert_allclose(e["mse_real"], [1, 1])          # event 0: slot 1 is padding
  np.testing.assert_allclose(e["mae_real"], [1, 0.5])
  np.testing.assert_allclose(e["mse_globals"], [1, 2])
  np.testing.assert_allclose(e["loss"], [6, 3])
  no_head = parts.event_errors(x_hat, None, batch)
  assert np.isnan(no_head["mse_globals"]).all()
  np.testing.assert_allclose(no_head["loss"], no_head["mse"])


def test_split_sums_finalise_to_ratios():
  w = np.array([1.0, 1.0, 0.0])
  terms = {"rec_tokens": (np.array([2.0, 4.0, 99.0]), np.array([2.0, 2.0, 2.0]))}
  sums = parts.term_sums(terms, w)
  assert parts.finalize_terms(sums, ("rec_tokens", "rec_globals")) == {
      "rec_tokens": 1.5, "rec_globals": None}
  aux = {"perplex": np.float32(4.0), "counts": np.array([3.0, 0.0, 1.0])}
  codes = parts.code_sums(aux, w)
  assert parts.finalize_codes(codes, True) == {"perplex": 4.0, "code_usage": 2}
  assert parts.finalize_codes(codes, False) == {"perplex": None, "code_usage": None}
  assert parts.code_counts(codes) == [3, 0, 1]
  assert math.isnan(parts.host_mean([])) and parts.host_mean([1, 2]) == 1.5


def test_run_history_tracks_the_best_epoch_and_round_trips_through_meta():
  class Data:
    num_types, n_tokens = 5, 18
    norm = type("N", (), {"to_dict": lambda self: {"mean": [0.0]}})()
  h = RunHistory(run_id="r1")
  assert h.add_epoch(0, {"val_loss": 2.0, "perplex": 3.0, "train_loss": 2.5}, 2.0, 1.5)
  assert not h.add_epoch(1, {"val_loss": 2.1, "perplex": 4.0, "train_loss": 2.0}, 2.1, 1.0)
  assert (h.best_epoch, h.best_val_loss, h.total_time_s) == (0, 2.0, 2.5)
  assert list(h.ordered()) == ["train_loss", "val_loss", "perplex"]   # schema order
  assert h.final() == {"val_loss": 2.1, "perplex": 4.0, "train_loss": 2.0}
  meta = h.checkpoint_meta(1, Data(), "ae")
  assert meta["loop"] == "ae" and meta["n_tokens"] == 18 and meta["run_id"] == "r1"
  back = RunHistory.from_checkpoint_meta(meta, "other")
  assert back == h


def test_nan_to_none_helpers():
  assert clean_number(float("nan")) is None and clean_number("x") is None
  assert clean_number(np.float32(2.5)) == 2.5
  assert json_safe({1: (np.int64(2), np.float64("inf")), "a": np.arange(2)}) == {
      "1": [2, None], "a": [0, 1]}
