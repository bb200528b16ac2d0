"""The token_prior loop end to end: a tiny VQ tokenizer on the CMS events,
a tiny prior on its codes (facts, checkpoints, resume), tokenization and
prior_nll in the report's inference."""
import csv
import json
import os

import jax
import numpy as np
import pytest

import thesis_jax
from conftest import (CMS_H5, start_device_worker, tiny_config, train_interrupted,
                      worker_result)
from thesis_jax.config_tools import set_dotted
from thesis_jax.errors import ConfigError

pytestmark = pytest.mark.slow


def prior_cfg(root, tokenizer_run, **kw):
  c = thesis_jax.get_config("token_prior:tiny")
  c.logging.output_root = str(root)
  c.logging.progress = False
  c.prior.tokenizer_run = tokenizer_run
  for k, v in {"phase1.trainer.epochs": 3, **kw}.items():
    set_dotted(c, k, v)
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("prior")
  tok = thesis_jax.train_model(tiny_config(root, **{
      "data.path": CMS_H5, "phase1.trainer.epochs": 2,
      "phase1.latent_space.codebook_size": 16}))
  prior = thesis_jax.train_model(prior_cfg(root, tok.run_dir))
  return root, tok, prior


def _events(run_dir):
  with open(os.path.join(run_dir, "facts", "events.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_prior_run_facts_and_checkpoints(runs):
  _, tok, prior = runs
  ev = _events(prior.run_dir)
  assert [e["moment"] for e in ev] == (["on_start"] + ["on_epoch_end"] * 3
                                       + ["on_train_end", "on_test_end"])
  hist = ev[-2]["histories"]
  for k in ("nll", "accuracy", "perplexity", "train_loss", "val_loss"):
    assert len(hist[k]) == 3 and all(np.isfinite(hist[k])), k
    assert ev[-2][f"history_{k}"] == hist[k]
  # val_loss is the NLL per token; perplexity = exp(NLL); vocabulary of
  # 3 + 2*8 + 5*16 = 99 entries: a trained prior beats the uniform one.
  np.testing.assert_allclose(hist["perplexity"], np.exp(hist["nll"]), rtol=1e-5)
  assert hist["val_loss"] == hist["nll"]
  assert hist["nll"][-1] < np.log(99) and hist["nll"][-1] < hist["nll"][0]
  with open(os.path.join(prior.run_dir, "facts", "scalars.csv")) as f:
    header = next(csv.reader(f))
  assert header[-2:] == ["metric_accuracy", "metric_perplexity"]
  assert ev[-1]["metrics"]["test_loss"] == pytest.approx(prior.test_loss)
  assert os.path.isdir(os.path.join(prior.run_dir, "checkpoints"))


def test_restored_prior_scores_match_sequences(runs):
  """load_run(prior) + tokenize(tokenizer) reproduce the training data's
  sequences and their NLL (the vocabulary travels with the checkpoint)."""
  from thesis_jax.data import h5
  from thesis_jax.data.token_sequences import build_sequences
  from thesis_jax.models.prior import sequence_nll
  from thesis_jax.train.prior_data import load_prior_data, vocab_from_state
  from thesis_jax.train.restore import load_run
  from thesis_jax.train.tokenize import tokenize
  _, tok, prior = runs
  p = load_run(prior.run_dir)
  t = load_run(tok.run_dir)
  data = load_prior_data(p.config)
  vocab = vocab_from_state(p.state, t.info.num_types, 16)
  np.testing.assert_array_equal(vocab.met_edges, data.vocab.met_edges)
  raw = h5.read_split(CMS_H5, "X_test", 18)
  codes = tokenize(t, raw, batch_size=100)
  # Codes equal one direct forward pass of the tokenizer.
  norm = t.norm.apply(raw)
  out = t.loop.model.apply({"params": t.state.params, **t.state.model_state},
                           norm.cont[:50], norm.ids[:50], train=False)
  np.testing.assert_array_equal(codes[:50], np.asarray(out.aux["indices"]))
  seq = build_sequences(vocab, raw, codes)
  np.testing.assert_array_equal(seq, data.splits["test"]["seq"])
  scores = jax.device_get(jax.jit(p.loop.score_step)(
      p.state, {"seq": seq, "weight": np.ones(len(seq), np.float32)}))
  logits = p.loop.model.apply({"params": p.state.params}, seq[:, :-1])
  ref = sequence_nll(logits, seq, vocab.obj_offset)
  np.testing.assert_allclose(scores["prior_nll"], ref["nll"], rtol=1e-5)
  np.testing.assert_allclose(scores["prior_nll_token"], ref["nll"] / ref["n"],
                             rtol=1e-5)


def test_prior_data_in_blocks_equals_one_piece(runs, monkeypatch):
  """Sequences built block by block (64-row pieces) equal the split built
  in one piece; the splits are never held as events (raw: head rows)."""
  from thesis_jax.train import prior_data
  from thesis_jax.train.restore import load_run
  _, _, prior = runs
  cfg = load_run(prior.run_dir).config
  one = prior_data.load_prior_data(cfg)
  whole = prior_data._SplitBlocks.blocks

  def small(self, split):
    for ev in whole(self, split):
      for a in range(0, len(ev), 64):
        yield ev.take(np.arange(a, min(a + 64, len(ev))))
  monkeypatch.setattr(prior_data._SplitBlocks, "blocks", small)
  many = prior_data.load_prior_data(cfg)
  for s in ("train", "val", "test"):
    np.testing.assert_array_equal(many.splits[s]["seq"], one.splits[s]["seq"])
  assert one.splits["test"]["seq"].shape == (485, 22)
  np.testing.assert_array_equal(many.vocab.met_edges, one.vocab.met_edges)
  np.testing.assert_array_equal(many.vocab.phi_edges, one.vocab.phi_edges)


def test_prior_resumes_like_any_run(runs, tmp_path, monkeypatch):
  _, tok, prior = runs
  train_interrupted(thesis_jax.train_model, prior_cfg(tmp_path, tok.run_dir),
                    monkeypatch)
  res = thesis_jax.train_model(prior_cfg(tmp_path, tok.run_dir,
                                   **{"phase1.trainer.resume": True}))
  for k in ("train_loss", "val_loss", "accuracy", "perplexity"):
    assert res.histories[k] == prior.histories[k], k
  assert res.test_loss == prior.test_loss
  assert [e["moment"] for e in _events(res.run_dir)].count("on_epoch_end") == 3


def test_bad_tokenizer_run_is_a_config_error(runs, tmp_path):
  root, tok, prior = runs
  with pytest.raises(ConfigError, match="prior.tokenizer_run is empty"):
    thesis_jax.train_model(prior_cfg(tmp_path, ""))
  with pytest.raises(ConfigError, match="not a run folder"):
    thesis_jax.train_model(prior_cfg(tmp_path, str(tmp_path)))
  with pytest.raises(ConfigError, match="not a VQ tokenizer"):
    thesis_jax.train_model(prior_cfg(tmp_path, prior.run_dir))
  assert not os.path.exists(tmp_path / "runs")


def test_prior_nll_in_inference(runs):
  from configs.reports.inference_defaults import inference_config
  from thesis_jax.reports.inference import run_inference
  root, tok, prior = runs
  c = inference_config()
  c.enabled = True
  c.score = "prior_nll"
  c.bootstrap = 50
  c.strategies = {k: () for k in c.strategies}
  c.strategies.update(gaussian_noise=(0.0, 1.0), drop_tokens=(0.5,),
                      token_shuffle=(1.0,))
  s = run_inference([{"run_dir": tok.run_dir, "kind": "thesis_jax"}], c,
                    str(root / "inference"))
  e = s["runs"][0]
  assert os.path.realpath(e["prior_run"]) == os.path.realpath(prior.run_dir)
  recs = {(r["strategy"], r["strength"]): r for r in e["anomaly"]}
  zero = recs[("gaussian_noise", 0.0)]
  for name in ("prior_nll", "prior_nll_token", "prior_nll_globals", "mse",
               "baseline_met"):
    assert zero["auroc_by_score"][name] == 0.5, name
  # The prior reads tokens in pT order: shuffling them is visible to it.
  assert not e["permutation_check"]["permutation_invariant"]
  assert "prior_nll=" in s["text"] and "base:multiplicity=" in s["text"]
  lo, hi = recs[("drop_tokens", 0.5)]["auroc_ci"]
  assert lo <= recs[("drop_tokens", 0.5)]["auroc"] <= hi
  # An explicit prior_run for another tokenizer is refused per run.
  c.prior_run = str(root / "nowhere")
  with pytest.raises(ConfigError, match="inference.prior_run"):
    run_inference([{"run_dir": tok.run_dir, "kind": "thesis_jax"}], c,
                  str(root / "inference2"))


WORKER = r"""
import json, sys
import jax
import thesis_jax
c = thesis_jax.get_config("token_prior:tiny")
c.logging.output_root, c.logging.progress = sys.argv[1], False
c.prior.tokenizer_run = sys.argv[2]
res = thesis_jax.train_model(c)
print("RESULT" + json.dumps({"devices": jax.device_count(),
                             "hist": res.histories, "test": res.test_loss}))
"""


def test_prior_data_parallel_matches_one_device(runs, tmp_path):
  """The prior scales with the shared data-parallel machinery: 2 forced
  host devices give the single device's numbers."""
  _, tok, _ = runs
  # both at once: each compiles on its own core
  procs = {n: start_device_worker(WORKER, [tmp_path / str(n), tok.run_dir], n)
           for n in (1, 2)}
  out = {n: worker_result(p) for n, p in procs.items()}
  assert out[1]["devices"] == 1 and out[2]["devices"] == 2
  for k in ("train_loss", "val_loss", "accuracy"):
    np.testing.assert_allclose(out[2]["hist"][k], out[1]["hist"][k],
                               rtol=2e-4, err_msg=k)
  np.testing.assert_allclose(out[2]["test"], out[1]["test"], rtol=2e-4)
