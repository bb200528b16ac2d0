"""The token prior loop (`loop = token_prior`): phase 2 over a frozen VQ run.

  python -m experiments.train --config configs/token_prior.py \
      --config.prior.tokenizer_run=outputs/runs/default_<stamp>

Data: the tokenizer run's own splits as token sequences (`prior_data.py`);
model: a causal transformer (`models/prior.py`); objective: mean NLL per
counted target token (objects, EOS, two globals tokens). The globals bin
edges live in the TrainState (`model_state["vocab"]`), so every checkpoint
carries the vocabulary it was trained with. Trainer settings (epochs,
batch size, lr, seed, resume) are the shared `phase1.trainer` block.
Scores: prior_nll (per event, nats), prior_nll_token, prior_nll_globals.
"""
from __future__ import annotations

from typing import Dict

import jax.numpy as jnp
import numpy as np

from thesis_jax.data.token_sequences import EXTRA_SLOTS, Vocab
from thesis_jax.errors import ConfigError
from thesis_jax.models.prior import build_prior
from thesis_jax.train import loop_parts as parts
from thesis_jax.train import prior_steps
from thesis_jax.train.loop_api import EpochRecord, Loop
from thesis_jax.train.prior_data import load_prior_data, tokenizer_config
from thesis_jax.train.state import init_state, make_optimizer

METRIC_KEYS = ("accuracy", "perplexity")


def check(config) -> None:
  """prior.* values (before any data is read or folder written)."""
  p = config.get("prior")
  if p is None:
    raise ConfigError("loop=token_prior needs a `prior` config block "
                      "(use configs/token_prior.py)")
  tokenizer_config(config)
  if int(p.n_bins) < 2:
    raise ConfigError(f"prior.n_bins must be >= 2, got {p.n_bins}")
  m = p.model
  for key in ("d_model", "n_layers", "n_heads", "mlp_ratio"):
    if int(m[key]) < 1:
      raise ConfigError(f"prior.model.{key} must be >= 1, got {m[key]}")
  if int(m.d_model) % int(m.n_heads):
    raise ConfigError(f"prior.model.d_model ({m.d_model}) must be divisible "
                      f"by prior.model.n_heads ({m.n_heads})")
  if not 0.0 <= float(m.dropout) < 1.0:
    raise ConfigError(f"prior.model.dropout must be in [0, 1), got {m.dropout}")


def load_data(config):
  """The driver's dataset for this loop: tokenized sequences."""
  return load_prior_data(config)


def build(config, dataset) -> Loop:
  """`dataset`: PriorData (training) or DatasetInfo (restoring a run)."""
  tok_cfg = tokenizer_config(config)
  k = int(tok_cfg.phase1.latent_space.codebook_size)
  n_bins = int(config.prior.n_bins)
  vocab_size = Vocab.size_for(dataset.num_types, k, n_bins)
  seq_len = dataset.n_tokens + EXTRA_SLOTS
  model = build_prior(config.prior, vocab_size, seq_len)
  tx = make_optimizer(config.phase1.trainer)
  obj_offset = Vocab.size_for(dataset.num_types, 0, n_bins)
  train_step = prior_steps.make_train_step(model, tx, obj_offset)
  eval_step = prior_steps.make_eval_step(model, obj_offset)
  score_step = prior_steps.make_score_step(model, obj_offset)

  def init(rng, ds):
    params, _ = parts.init_variables(
        model, rng, jnp.zeros((1, seq_len - 1), jnp.int32))
    vocab = getattr(ds, "vocab", None)
    if vocab is None:          # restoring a run: the checkpoint holds them
      met = phi = np.zeros(n_bins - 1)
    else:
      met, phi = vocab.met_edges, vocab.phi_edges
    ms = {"vocab": {"met_edges": jnp.asarray(met, jnp.float32),
                    "phi_edges": jnp.asarray(phi, jnp.float32)}}
    return init_state(params, ms, tx)

  def record(train_metrics, val_sums) -> EpochRecord:
    val = prior_steps.finalize(val_sums)
    train_loss = parts.host_mean(train_metrics["loss"])
    hist = {"train_loss": train_loss, "val_loss": val["nll"], "nll": val["nll"],
            "accuracy": val["accuracy"], "perplexity": val["perplexity"],
            "nll_event": val["nll_event"],
            "train_accuracy": parts.host_mean(train_metrics["acc"])}
    return EpochRecord(train_loss, val["nll"],
                       {k: val[k] for k in METRIC_KEYS}, hist)

  def test_metrics(test_sums) -> Dict[str, float]:
    t = prior_steps.finalize(test_sums)
    return {"test_loss": t["nll"], **{f"test_{k}": v for k, v in t.items()}}

  return Loop(name="token_prior", config=config, model=model, init_state=init,
              train_step=train_step, eval_step=eval_step, score_step=score_step,
              reconstruct=None, record=record, test_metrics=test_metrics,
              metric_keys=METRIC_KEYS)

