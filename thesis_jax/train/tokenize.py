"""A frozen VQ tokenizer run -> integer codes per token.

  run = restore.load_run(tokenizer_run)          # best checkpoint
  codes = tokenize(run, raw_events)               # int32 [N, T]

The codes are the VQ bottleneck's nearest-code indices of the run's
encoder outputs on the run's own normalisation (padding slots get a code
too; the token prior ignores them).
"""
from __future__ import annotations

import numpy as np

from thesis_jax.data.layout import Events
from thesis_jax.errors import ConfigError
from thesis_jax.train.batched import Scorer

# Loops whose model is the TokenAutoencoder (encoder -> VQ -> decoder).
TOKENIZER_LOOPS = ("ae", "gan_ae")


def check_tokenizer(loaded, key: str = "prior.tokenizer_run") -> int:
  """-> codebook size; ConfigError unless `loaded` is a VQ autoencoder run."""
  cfg = loaded.config
  model = getattr(loaded.loop, "model", None)
  if (cfg.loop not in TOKENIZER_LOOPS or model is None
      or cfg.phase1.latent_space.name != "vq"):
    raise ConfigError(f"{key}={loaded.run_dir}: not a VQ tokenizer run (loop "
                      f"'{cfg.loop}', latent space "
                      f"'{cfg.phase1.latent_space.name}'); the token prior "
                      "needs phase1.latent_space.name=vq")
  return int(cfg.phase1.latent_space.codebook_size)


class Tokenizer:
  """Raw Events -> int32 [N, T] codes of the loaded VQ run (batched, jitted).
  One instance compiles once per batch shape, so call it block by block."""

  def __init__(self, loaded, batch_size: int = 256, steps: int = 16):
    check_tokenizer(loaded)
    model = loaded.loop.model

    def codes_step(state, batch):
      out = model.apply({"params": state.params, **state.model_state},
                        batch["cont"], batch["ids"], batch["weight"], train=False)
      return {"codes": out.aux["indices"]}
    self.norm = loaded.norm
    self.scorer = Scorer(codes_step, loaded.state, batch_size, steps,
                         keep_dtype=True)

  def __call__(self, raw: Events) -> np.ndarray:
    return np.asarray(self.scorer(self.norm.apply(raw))["codes"], np.int32)


def tokenize(loaded, raw: Events, batch_size: int = 256,
             steps: int = 16) -> np.ndarray:
  """Raw Events -> int32 [N, T] codes of the loaded VQ run (one call)."""
  return Tokenizer(loaded, batch_size, steps)(raw)
