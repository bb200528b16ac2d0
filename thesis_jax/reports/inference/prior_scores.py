"""`prior_nll` scores: a token prior run scoring events through its tokenizer.

  prior_dir = find_prior_run(tokenizer_run_dir, inference_cfg)   # or None
  scores = PriorScorer(prior_dir, loaded_tokenizer, inference_cfg)(raw)
  # {"prior_nll", "prior_nll_token", "prior_nll_globals"}: float64 [N]

A prior run is `inference.prior_run` when given, else the newest finished
token_prior run in the same runs folder whose `prior.tokenizer_run` is this
tokenizer run ("next to the tokenizer run").
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np

from thesis_jax.data.layout import Events
from thesis_jax.data.token_sequences import build_sequences
from thesis_jax.errors import ConfigError, OutputError
from thesis_jax.train import rundir
from thesis_jax.train.batched import Scorer

PRIOR_LOOP = "token_prior"


def _same(a: str, b: str) -> bool:
  return os.path.realpath(a) == os.path.realpath(b)


def _prior_of(run_dir: str) -> Optional[str]:
  """The tokenizer run a prior run folder was trained on (None if not a
  token_prior run with checkpoints)."""
  try:
    c = rundir.load_config(run_dir)
  except (OutputError, OSError, ValueError):
    return None
  if c.get("loop") != PRIOR_LOOP or not os.path.isdir(
      os.path.join(run_dir, "checkpoints")):
    return None
  return str(c.prior.tokenizer_run)


def trained_on(prior_dir: str, tokenizer_dir: str) -> bool:
  """Was the prior run `prior_dir` trained on tokenizer run `tokenizer_dir`?"""
  tok = _prior_of(prior_dir)
  return bool(tok) and _same(tok, tokenizer_dir)


def find_prior_run(tokenizer_dir: str, cfg) -> Optional[str]:
  """`inference.prior_run` if set (checked: a token_prior run), else the
  newest token_prior run next to `tokenizer_dir` trained on it, else None."""
  explicit = str(cfg.get("prior_run", "") or "")
  if explicit:
    if _prior_of(explicit) is None:
      raise ConfigError(f"inference.prior_run={explicit}: not a token_prior "
                        "run folder with checkpoints")
    return explicit
  parent = os.path.dirname(os.path.normpath(tokenizer_dir))
  if not os.path.isdir(parent):
    return None
  found = []
  for name in sorted(os.listdir(parent)):     # names end in a timestamp
    d = os.path.join(parent, name)
    if os.path.isdir(d) and trained_on(d, tokenizer_dir):
      found.append(d)
  return found[-1] if found else None


class PriorScorer:
  """Raw Events -> prior scores, through the tokenizer `tok` (a LoadedRun)."""

  def __init__(self, prior_dir: str, tok, cfg):
    from thesis_jax.train.prior_data import vocab_from_state
    from thesis_jax.train.restore import load_run
    from thesis_jax.train.tokenize import Tokenizer, check_tokenizer
    self.prior = load_run(prior_dir, str(cfg.get("checkpoint", "best")))
    trained_on = str(self.prior.config.prior.tokenizer_run)
    if not _same(trained_on, tok.run_dir):
      raise ConfigError(f"inference.prior_run={prior_dir} was trained on "
                        f"tokenizer {trained_on}, not {tok.run_dir}")
    self.tok = tok
    self.run_dir = prior_dir
    self.vocab = vocab_from_state(self.prior.state, tok.info.num_types,
                                  check_tokenizer(tok))
    self.scorer = Scorer(self.prior.loop.score_step, self.prior.state,
                         int(cfg.batch_size), int(cfg.steps_per_dispatch),
                         int(cfg.get("host_threads", 1)))
    self.tokenize = Tokenizer(tok, int(cfg.batch_size))  # compiled once

  def __call__(self, raw: Events) -> Dict[str, np.ndarray]:
    codes = self.tokenize(raw)
    return self.scorer({"seq": build_sequences(self.vocab, raw, codes)})
