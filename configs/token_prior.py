"""Token prior (phase 2): a causal transformer over a frozen VQ tokenizer's
codes, whose per-event NLL is an anomaly score (`inference.score=prior_nll`).

  thesis-jax train --config default \
      --config.data.path=tests/data/cms_hzz_tokens.h5          # the tokenizer
  thesis-jax train --config token_prior \
      --config.prior.tokenizer_run=outputs/runs/run_<stamp>_default

The prior trains on the tokenizer run's own data splits (its cfg.yaml), so
`data.*` here is not used. Trainer settings: the shared `phase1.trainer`
block (epochs, batch_size, lr, seed, resume, ...). Variant `:tiny` for tests.
"""
import ml_collections

from thesis_jax.config_files import sibling

default_config = sibling(__file__, "default").get_config


def get_config(arg: str = ""):
  c = default_config("tiny" if arg == "tiny" else "")
  c.experiment.name = "token_prior"
  c.loop = "token_prior"
  p = c.prior = ml_collections.ConfigDict()
  p.tokenizer_run = ""          # folder of a trained VQ run (loop ae | gan_ae)
  p.n_bins = 8                  # MET and MET-phi bins (training quantiles)
  p.limit_samples = 0           # > 0: first N events per split of its data
  p.model = ml_collections.ConfigDict({
      "d_model": 64, "n_layers": 2, "n_heads": 4, "mlp_ratio": 4,
      "dropout": 0.1})
  c.phase1.trainer.update(epochs=20, batch_size=64, lr=1e-3, weight_decay=0.0,
                          steps_per_dispatch=32, eval_batch_size=512)
  c.logging.families = ("losses",)
  if arg == "tiny":
    p.model.update(d_model=16, n_layers=1, n_heads=2, mlp_ratio=2, dropout=0.0)
    c.phase1.trainer.update(epochs=2, batch_size=32, steps_per_dispatch=4)
  elif arg:
    raise ValueError(f"configs/token_prior.py: unknown variant '{arg}' "
                     "(valid: tiny)")
  return c
