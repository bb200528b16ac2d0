"""What a run folder's config says, for both kinds of run folder.

- thesis_jax: `cfg.yaml` (full resolved config) + `overrides.yaml` (a YAML
  list of `key=value`, e.g. `phase1.latent_space.name=vq`).
- original thesis-ml: `.hydra/config.yaml`, components given as `_target_`
  class paths (`...VQBottleneck` is `vq`), + `.hydra/overrides.yaml` (e.g.
  `phase1/latent_space=vq`, `phase1.decoder.globals_beta=10`). A folder with
  `cfg.yaml` whose config holds `_target_` entries is read as original too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence

import yaml

from thesis_jax.config_tools import YAML_LOADER, read_yaml

# Original class names -> registry names used by thesis_jax.
CLASS_NAMES = {
    "IdentityBottleneck": "none", "NoBottleneck": "none",
    "LinearBottleneck": "linear", "VQBottleneck": "vq",
    "VectorQuantizer": "vq", "VQEMABottleneck": "vq",
    "MLPEncoder": "mlp", "MLPDecoder": "mlp", "EncoderMLP": "mlp",
    "DecoderMLP": "mlp", "GNNEncoder": "gnn", "GNNDecoder": "gnn",
}
_SUFFIX = re.compile(r"(Bottleneck|Encoder|Decoder|Quantizer)$")
# Override keys that are bookkeeping, not experiment parameters.
IGNORED_PREFIXES = ("logging.", "hydra.", "hydra/", "distributed.", "env.",
                    "experiment.name")
_INTERP = re.compile(r"^\$\{([A-Za-z0-9_.]+)\}$")


@dataclasses.dataclass
class RunConfig:
  kind: str                 # "thesis_jax" | "original"
  config: Dict[str, Any]    # the resolved config as plain dicts/lists
  overrides: List[str]      # "key=value" strings
  path: str                 # the config file read




def _has_target(x) -> bool:
  if isinstance(x, dict):
    return "_target_" in x or any(_has_target(v) for v in x.values())
  return False


def lookup(cfg, dotted: str, default=None):
  node = cfg
  for part in dotted.split("."):
    if not isinstance(node, dict) or part not in node:
      return default
    node = node[part]
  return node


def _resolve(cfg: dict) -> dict:
  """Resolves whole-value `${a.b}` interpolations (Hydra stores them raw)."""
  def conv(x, depth=0):
    if isinstance(x, dict):
      return {k: conv(v, depth) for k, v in x.items()}
    if isinstance(x, list):
      return [conv(v, depth) for v in x]
    m = _INTERP.match(x) if isinstance(x, str) else None
    if m and depth < 8:
      return conv(lookup(cfg, m.group(1), x), depth + 1)
    return x
  return conv(cfg)


def read_run_config(run_dir: str) -> Optional[RunConfig]:
  """-> RunConfig, or None when the folder has no config snapshot."""
  hydra = os.path.join(run_dir, ".hydra", "config.yaml")
  cfg_yaml = os.path.join(run_dir, "cfg.yaml")
  if os.path.exists(hydra):
    path, ov_path, kind = hydra, os.path.join(run_dir, ".hydra",
                                              "overrides.yaml"), "original"
  elif os.path.exists(cfg_yaml):
    path, ov_path, kind = cfg_yaml, os.path.join(run_dir, "overrides.yaml"), ""
  else:
    return None
  cfg = read_yaml(path, dict)
  if not kind:
    kind = "original" if _has_target(cfg) else "thesis_jax"
  overrides = []
  if os.path.exists(ov_path):
    overrides = [str(o) for o in read_yaml(ov_path, list)]
  return RunConfig(kind, _resolve(cfg), overrides, path)


def component_name(node) -> Optional[str]:
  """A component's registry name from `name` or a `_target_` class path."""
  if isinstance(node, str):
    return node
  if not isinstance(node, dict):
    return None
  if node.get("name"):
    return str(node["name"])
  target = node.get("_target_")
  if not target:
    return None
  cls = str(target).rsplit(".", 1)[-1]
  return CLASS_NAMES.get(cls, _SUFFIX.sub("", cls).lower() or cls.lower())


def _first(cfg, paths: Sequence[str]):
  for p in paths:
    v = lookup(cfg, p)
    if v is not None:
      return v
  return None


def config_sha1(cfg: dict) -> str:
  """sha1 of the config without output/bookkeeping sections (`logging`,
  `hydra`, `env`, `distributed`), so equal experiments hash equal."""
  core = {k: v for k, v in cfg.items()
          if k not in ("logging", "hydra", "env", "distributed")}
  text = json.dumps(core, sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()


def describe(cfg: dict) -> Dict[str, Any]:
  """The summary columns a config determines (None where it says nothing)."""
  p1 = cfg.get("phase1", {}) if isinstance(cfg.get("phase1"), dict) else {}
  latent = p1.get("latent_space", p1.get("bottleneck"))
  tokenizer = component_name(latent)
  latent_dim = _first(cfg, ("phase1.latent_space.latent_dim", "phase1.latent_dim",
                            "phase1.encoder.latent_dim",
                            "phase1.latent_space.embedding_dim"))
  codebook = None
  if tokenizer == "vq":
    codebook = _first(cfg, ("phase1.latent_space.codebook_size",
                            "phase1.latent_space.num_codes",
                            "phase1.latent_space.num_embeddings"))
  path = str(_first(cfg, ("data.path", "data.h5_path", "data.file")) or "")
  dataset = _first(cfg, ("data.name", "data.dataset_name"))
  if not dataset:
    dataset = (os.path.splitext(os.path.basename(path))[0] if path
               else "synthetic")
  as_int = lambda v: None if v is None else int(v)
  as_float = lambda v: None if v is None else float(v)
  return {
      "encoder": component_name(p1.get("encoder")),
      "tokenizer": tokenizer,
      "decoder": component_name(p1.get("decoder")),
      "loop": cfg.get("loop"),
      "seed": as_int(_first(cfg, ("phase1.trainer.seed", "trainer.seed", "seed"))),
      "latent_dim": as_int(latent_dim),
      "codebook_size": as_int(codebook),
      "globals_beta": as_float(_first(cfg, ("phase1.decoder.globals_beta",
                                            "phase1.globals_beta"))),
      "dataset_name": dataset,
      "config_epochs": as_int(_first(cfg, ("phase1.trainer.epochs",
                                           "trainer.epochs"))),
      "config_sha1": config_sha1(cfg),
  }


# One meaning per number across both implementations (issue 15). The readers
# convert every run to this convention; reports name it in their outputs.
CONVENTION = {
    "rec_globals": "plain mse(globals_hat, globals) in the run's globals units "
                   "(thesis-ml and original-mode runs log globals_beta x mse: "
                   "divided by globals_beta here; NaN where globals_beta = 0)",
    "globals_units": "column globals_normalized: False = raw MET (GeV, the "
                     "original), True = z-scored (thesis_jax default)",
    "test_loss": "column test_loss_checkpoint: 'last' = the last-epoch model "
                 "(thesis-ml, original mode), 'best' = the best-val checkpoint",
    "loss.total_*": "the training objective as logged (includes globals_beta x "
                    "rec_globals), not converted",
    "metric_perplex_final": "validation perplexity of the last epoch",
}


def facts_semantics(kind: str, cfg: dict) -> Dict[str, Any]:
  """How a run's facts must be read -> {"rec_globals_scale": factor its
  logged rec_globals carries (globals_beta or 1), "test_loss_checkpoint":
  best|last, "globals_normalized": bool}."""
  beta = lookup(cfg, "phase1.decoder.globals_beta", 1.0)
  beta = 1.0 if beta is None else float(beta)
  if kind == "original":
    return {"rec_globals_scale": beta, "test_loss_checkpoint": "last",
            "globals_normalized": False}
  original = lookup(cfg, "logging.facts_semantics", "thesis_jax") == "original"
  return {"rec_globals_scale": beta if original else 1.0,
          "test_loss_checkpoint": str(lookup(cfg, "phase1.trainer.test_checkpoint",
                                             "best")),
          "globals_normalized": bool(lookup(cfg, "data.normalize_globals", True))}


def param_name(key: str) -> str:
  """Column name of an override key: its last component (`phase1/latent_space`
  -> `latent_space`); a thesis_jax `....latent_space.name` is named by its
  parent (`latent_space`) like the original's config-group override."""
  parts = [p for p in re.split(r"[./]", key) if p]
  if len(parts) > 1 and parts[-1] == "name":
    return parts[-2]
  return parts[-1] if parts else key


def parse_value(text: str):
  """Override value -> int/float/bool/str (`1e-3` is a float, unlike YAML 1.1)."""
  try:
    v = yaml.load(text, Loader=YAML_LOADER)
  except yaml.YAMLError:
    v = text
  if isinstance(v, str):
    try:
      return float(v) if v.strip().lower() not in ("nan", "inf", "-inf") else v
    except ValueError:
      return v
  return v


def swept_params(overrides: Sequence[str]) -> Dict[str, Any]:
  """`["phase1/latent_space=vq", "phase1.trainer.seed=0"]` ->
  {"latent_space": "vq", "seed": 0} (bookkeeping keys dropped)."""
  out: Dict[str, Any] = {}
  for o in overrides:
    if "=" not in o:
      continue
    key, val = o.split("=", 1)
    key = key.lstrip("+~").strip()
    if key.startswith("base."):
      key = key[len("base."):]
    if not key or key.startswith(IGNORED_PREFIXES):
      continue
    out[param_name(key)] = parse_value(val)
  return out
