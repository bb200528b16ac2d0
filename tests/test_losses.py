"""models/losses.py: loss terms against closed forms."""
import numpy as np
import pytest

from thesis_jax.models.autoencoder import AEOutput
from thesis_jax.models.losses import ae_terms, reduce_terms, total_loss


def _case():
  # 2 events, 3 slots, 2 features; event 0 has one padding slot (id 0)
  ids = np.array([[1, 2, 0], [3, 1, 2]])
  cont = np.zeros((2, 3, 2), np.float32)
  x_hat = np.array([[[1, 1], [2, 0], [4, 4]], [[0, 0], [1, 1], [0, 2]]], np.float32)
  commit = np.array([[0.1, 0.2, 0.9], [0.3, 0.0, 0.3]], np.float32)
  aux = {"commit_tok": commit, "codebook_tok": 2 * commit}
  g = np.zeros((2, 2), np.float32)
  g_hat = np.array([[1, 3], [0, 2]], np.float32)
  batch = {"ids": ids, "cont": cont, "globals": g}
  return AEOutput(x_hat, g_hat, None, None, aux), AEOutput(x_hat, None, None, None, aux), batch


def test_terms_all_slots_and_real_tokens_only():
  out, _, batch = _case()
  # per-slot mse over the 2 features: event 0 -> [1, 2, 16], event 1 -> [0, 1, 2]
  t = ae_terms(out, batch)
  np.testing.assert_allclose(t["rec_tokens"][0], [19, 3])
  np.testing.assert_allclose(t["rec_tokens"][1], [3, 3])
  np.testing.assert_allclose(t["commit"][0], [1.2, 0.6], rtol=1e-6)
  np.testing.assert_allclose(t["codebook"][0], [2.4, 1.2], rtol=1e-6)
  np.testing.assert_allclose(t["rec_globals"][0], [5, 2])     # mean over G
  np.testing.assert_allclose(t["rec_globals"][1], [1, 1])
  m = ae_terms(out, batch, mask_padding=True)                 # slot 2 of event 0 out
  np.testing.assert_allclose(m["rec_tokens"][0], [3, 3])
  np.testing.assert_allclose(m["rec_tokens"][1], [2, 3])
  np.testing.assert_allclose(m["commit"][0], [0.3, 0.6], rtol=1e-6)


def test_reduce_is_a_weighted_ratio_and_total_adds_weighted_globals():
  out, no_head, batch = _case()
  w = np.array([1.0, 0.0])                                    # event 1 is batch padding
  v = reduce_terms(ae_terms(out, batch), w)
  assert float(v["rec_tokens"]) == pytest.approx(19 / 3)
  assert float(v["rec_globals"]) == pytest.approx(5.0)
  assert float(total_loss(v, 0.5)) == pytest.approx(19 / 3 + 1.2 / 3 + 2.4 / 3 + 2.5, rel=1e-6)
  v2 = reduce_terms(ae_terms(no_head, batch), np.ones(2))
  assert "rec_globals" not in v2                              # no globals head: no term
  assert float(total_loss(v2, 10.0)) == pytest.approx(
      22 / 6 + 1.8 / 6 + 3.6 / 6, rel=1e-6)
  # Python floats of a finished split, rec_globals None: the same formula
  assert total_loss({"diffusion": 1.0, "commit": 0.5, "codebook": 0.25,
                     "rec_globals": None}, 2.0, main="diffusion") == 1.75
