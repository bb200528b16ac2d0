"""The token prior's data: a frozen VQ tokenizer run's splits as sequences.

  data = load_prior_data(config)      # config.prior.tokenizer_run, .n_bins
  data.splits["train"]["seq"]         # int32 [N, T + 4]

The events are the tokenizer run's own splits (its `data` config, so the
prior sees exactly what the tokenizer was trained/validated/tested on,
first `prior.limit_samples` rows per split if > 0); codes come from the
run's best checkpoint; globals bin edges from its training split.

An HDF5 file is read in blocks of the tokenizer run's `data.block_rows`:
memory holds the sequences (int32, 4 (T+4) B per event: 88 B for T=18),
the train split's two globals columns while the edges are fitted (8 B per
train event) and one block, never the splits as events.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterator

import numpy as np

from thesis_jax.data.layout import Events
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.pipeline import SPLITS, head_rows, load_raw, open_split_file
from thesis_jax.data.token_sequences import EXTRA_SLOTS, Vocab, build_sequences
from thesis_jax.errors import ConfigError
from thesis_jax.train import rundir


@dataclasses.dataclass
class PriorData:
  """What the driver needs of a dataset, for the token prior.

  splits: {split: {"seq": int32 [N, T+4]}}; raw: the tokenizer's raw Events
  (the first HEAD_ROWS of each split when read from a file);
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
  from thesis_jax.train.tokenize import Tokenizer, check_tokenizer
  tok_dir = str(config.prior.tokenizer_run)
  tokenizer_config(config)                       # clear errors first
  tok = load_run(tok_dir, "best")
  k = check_tokenizer(tok)
  data_cfg = tok.config.data.copy_and_resolve_references()
  limit = int(config.prior.get("limit_samples", 0) or 0)
  if limit > 0:
    data_cfg.limit_samples = limit
  codes = Tokenizer(tok)                         # compiled once, all blocks
  with _SplitBlocks(data_cfg) as data:
    glob = np.concatenate([ev.globals for ev in data.blocks("train")])
    vocab = Vocab.fit_globals(glob, tok.info.num_types, k,
                              int(config.prior.n_bins))
    del glob
    splits = {}
    for s in SPLITS:
      seq = np.empty((data.size(s), tok.info.n_tokens + EXTRA_SLOTS), np.int32)
      a = 0
      for ev in data.blocks(s):
        seq[a:a + len(ev)] = build_sequences(vocab, ev, codes(ev))
        a += len(ev)
      splits[s] = {"seq": seq}
    raw = data.head()
  return PriorData(splits, raw, tok.norm, tok.info.num_types, tok.info.n_tokens,
                   f"{data.source} via tokenizer {tok_dir}", vocab)


class _SplitBlocks:
  """A run's splits as raw Events blocks: an HDF5 file read `data.block_rows`
  rows at a time, or the synthetic splits (generated in memory)."""

  def __init__(self, data_cfg):
    self.file, self.raw = None, None
    if data_cfg.path:
      self.file = open_split_file(data_cfg)
      self.source = str(data_cfg.path)
    else:
      self.raw, self.source = load_raw(data_cfg)

  def size(self, split: str) -> int:
    return self.file.sizes[split] if self.file else len(self.raw[split])

  def blocks(self, split: str) -> Iterator[Events]:
    if self.file is None:
      yield self.raw[split]
      return
    for a, b in self.file.blocks(split):
      yield self.file.read(split, a, b)

  def head(self) -> Dict[str, Events]:
    if self.file is None:
      return self.raw
    return head_rows(self.file)

  def __enter__(self) -> "_SplitBlocks":
    return self

  def __exit__(self, *exc) -> None:
    if self.file is not None:
      self.file.close()
