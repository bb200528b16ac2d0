"""The token prior's data: a frozen VQ tokenizer run's splits as sequences.

  data = load_prior_data(config)      # config.prior.tokenizer_run, .n_bins
  data.splits["train"]["seq"]         # int32 [N, T + 4]

The events are the tokenizer run's own splits (its `data` config, so the
prior sees exactly what the tokenizer was trained/validated/tested on,
first `prior.limit_samples` rows per split if > 0); codes come from the
run's best checkpoint; globals bin edges from its training split.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict

import numpy as np

from thesis_jax.data.layout import Events
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.pipeline import SPLITS, load_raw
from thesis_jax.data.token_sequences import Vocab, build_sequences
from thesis_jax.errors import ConfigError
from thesis_jax.train import rundir


@dataclasses.dataclass
class PriorData:
  """What the driver needs of a dataset, for the token prior.

  splits: {split: {"seq": int32 [N, T+4]}}; raw: the tokenizer's raw Events;
  norm/num_types/n_tokens: the tokenizer's (saved with the checkpoints).
  """
  splits: Dict[str, Dict[str, np.ndarray]]
  raw: Dict[str, Events]
  norm: Normalizer
  num_types: int
  n_tokens: int
  source: str
  vocab: Vocab


def tokenizer_config(config):
  """The tokenizer run's config (cfg.yaml) named by prior.tokenizer_run;
  ConfigError naming the key when it is not a VQ autoencoder run folder."""
  from thesis_jax.train.tokenize import TOKENIZER_LOOPS
  path = str(config.prior.get("tokenizer_run", "") or "")
  if not path:
    raise ConfigError("prior.tokenizer_run is empty: give the folder of a "
                      "trained VQ run (e.g. outputs/runs/run_<stamp>_default)")
  if not os.path.isfile(os.path.join(path, "cfg.yaml")):
    raise ConfigError(f"prior.tokenizer_run={path}: not a run folder (no "
                      "cfg.yaml)")
  tc = rundir.load_config(path)
  if tc.loop not in TOKENIZER_LOOPS or tc.phase1.latent_space.name != "vq":
    raise ConfigError(f"prior.tokenizer_run={path}: loop '{tc.loop}' with "
                      f"latent space '{tc.phase1.latent_space.name}' is not a "
                      "VQ tokenizer (needs loop ae|gan_ae, latent_space vq)")
  return tc


def vocab_from_state(state, num_types: int, codebook_size: int) -> Vocab:
  """The vocabulary stored in a prior's TrainState (model_state["vocab"])."""
  v = state.model_state["vocab"]
  return Vocab(int(num_types), int(codebook_size),
               np.asarray(v["met_edges"], np.float64),
               np.asarray(v["phi_edges"], np.float64))


def load_prior_data(config) -> PriorData:
  """Tokenizes the tokenizer run's splits (see module docstring)."""
  from thesis_jax.train.restore import load_run
  from thesis_jax.train.tokenize import check_tokenizer, tokenize
  tok_dir = str(config.prior.tokenizer_run)
  tokenizer_config(config)                       # clear errors first
  tok = load_run(tok_dir, "best")
  k = check_tokenizer(tok)
  data_cfg = tok.config.data.copy_and_resolve_references()
  limit = int(config.prior.get("limit_samples", 0) or 0)
  if limit > 0:
    data_cfg.limit_samples = limit
  raw, source = load_raw(data_cfg)
  vocab = Vocab.fit(raw["train"], tok.info.num_types, k, int(config.prior.n_bins))
  splits = {s: {"seq": build_sequences(vocab, raw[s], tokenize(tok, raw[s]))}
            for s in SPLITS}
  return PriorData(splits, raw, tok.norm, tok.info.num_types, tok.info.n_tokens,
                   f"{source} via tokenizer {tok_dir}", vocab)
