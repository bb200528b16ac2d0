"""Validates a training config before anything is read or written."""
from __future__ import annotations

from thesis_jax.config_tools import leaf_keys
from thesis_jax.errors import ConfigError, lookup
from thesis_jax.models.components import BOTTLENECKS, DECODERS, ENCODERS
from thesis_jax.models.layers import ACTIVATIONS
from thesis_jax.models.torch_init import INITS
from thesis_jax.train.loops import LOOPS
from thesis_jax.train.rundir import check_name


def _positive(cfg, key: str, path: str, allow_zero: bool = False):
  v = cfg[key]
  if v < 0 or (v == 0 and not allow_zero):
    raise ConfigError(f"{path}.{key} must be {'>= 0' if allow_zero else '> 0'}, got {v}")


# List-valued keys and what their items must be (the command line types them
# already; this catches the same mistakes made from Python).
WIDTHS = ("phase1.encoder.enc_hidden", "phase1.decoder.dec_hidden",
          "phase1.decoder.globals_hidden")


def _check_lists(config) -> None:
  keys = set(leaf_keys(config))
  for key in WIDTHS:
    if key not in keys:
      continue
    node = config
    for part in key.split("."):
      node = node[part]
    for i, v in enumerate(node):
      if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConfigError(f"{key} item {i + 1}: expected a positive integer "
                          f"(a layer width), got {v!r}")


def validate_config(config) -> None:
  """Raises ConfigError naming the key for unknown names or bad values: the
  keys every loop shares here, the loop's own block in `loops/<name>.check`."""
  p = config.phase1
  lookup(ENCODERS, p.encoder.name, "encoder", "phase1.encoder.name")
  lookup(BOTTLENECKS, p.latent_space.name, "latent space", "phase1.latent_space.name")
  lookup(DECODERS, p.decoder.name, "decoder", "phase1.decoder.name")
  loop = lookup(LOOPS, config.loop, "training loop", "loop")
  for sub, path in ((p.encoder, "phase1.encoder"), (p.decoder, "phase1.decoder")):
    if "activation" in sub:
      lookup(ACTIVATIONS, sub.activation, "activation", f"{path}.activation")
    if "dropout" in sub and not 0.0 <= sub.dropout < 1.0:
      raise ConfigError(f"{path}.dropout must be in [0, 1), got {sub.dropout}")
  if p.get("init", "default") not in INITS:
    raise ConfigError(f"phase1.init: unknown '{p.init}' (valid: {', '.join(INITS)})")
  for key, value, valid in (
      ("phase1.trainer.test_checkpoint", p.trainer.get("test_checkpoint", "best"),
       ("best", "last")),
      ("logging.facts_semantics", config.logging.get("facts_semantics", "thesis_jax"),
       ("thesis_jax", "original"))):
    if value not in valid:
      raise ConfigError(f"{key}: unknown '{value}' (valid: {', '.join(valid)})")
  t = p.trainer
  for k in ("epochs", "batch_size", "lr", "eval_batch_size", "steps_per_dispatch"):
    _positive(t, k, "phase1.trainer")
  for k in ("weight_decay", "grad_clip"):
    _positive(t, k, "phase1.trainer", allow_zero=True)
  ls = p.latent_space
  _positive(ls, "latent_dim", "phase1.latent_space")
  if ls.name == "vq":
    _positive(ls, "codebook_size", "phase1.latent_space")
    if not 0.0 < ls.ema_decay < 1.0:
      raise ConfigError("phase1.latent_space.ema_decay must be in (0, 1), "
                        f"got {ls.ema_decay}")
    if ls.restart_dead_codes:
      _positive(ls, "restart_after", "phase1.latent_space")
  _check_lists(config)
  d = config.data
  _positive(d, "n_tokens", "data")
  _positive(d, "limit_samples", "data", allow_zero=True)
  check_name(config.experiment.name, "experiment.name")
  loop.check(config)
