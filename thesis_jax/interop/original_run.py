"""A thesis-ml run folder -> a thesis_jax checkpoint + run config beside it.

thesis-ml keeps `.hydra/config.yaml`, `best_val.pt` / `last.pt` (the
autoencoder's torch `state_dict`) and `facts/`. `import_run` writes, next to
them, `cfg.yaml` (a thesis_jax config in the original mode) and
`checkpoints/{epoch}/` (best and last), so `load_run` and the reports'
inference evaluate the run like one of ours. The facts are left untouched and
the folder stays an original run for the facts readers (`.hydra/` wins).

Parameter mapping (torch `nn.Linear.weight` is [out, in], a flax kernel
[in, out]): `encoder.id_emb.weight` -> `encoder/id_embed`, `encoder.net.{0,2,4}`
-> `encoder/mlp/{dense_0,dense_1,out}` (every Linear of `net`, GELUs between),
`bottleneck.projection` -> `bottleneck/proj`, `bottleneck.quant.{codebook,
ema_weight,ema_count}` -> `vq_stats/bottleneck/{codebook,ema_w,cluster_size}`
(the raw EMA count, as thesis_jax keeps it), `decoder.net.*` ->
`decoder/mlp/*`, `decoder.g_head.*` -> `decoder/globals_head/mlp/*`.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
from typing import Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from thesis_jax.config_tools import resolve_paths
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.pipeline import load_raw
from thesis_jax.errors import ConfigError, DataError, OutputError
from thesis_jax.facts.run_config import component_name, read_run_config
from thesis_jax.facts.schema import iter_events
from thesis_jax.interop.torch_zip import load_state_dict

CHECKPOINT_FILES = {"best": "best_val.pt", "last": "last.pt"}
# Config sections copied from the Hydra config (same key names in both).
_SECTIONS = ("phase1.encoder", "phase1.latent_space", "phase1.decoder",
             "phase1.trainer")
_SUPPORTED = {"encoder": ("mlp",), "decoder": ("mlp",),
              "latent_space": ("none", "linear", "vq")}


def thesis_config(hydra_cfg: dict, base, data_path: Optional[str] = None):
  """The original's resolved Hydra config -> thesis_jax ConfigDict, starting
  from `base` (configs/default.py:original) and taking every key both know."""
  cfg = base.copy_and_resolve_references()
  p1 = hydra_cfg.get("phase1") or {}
  for part, valid in _SUPPORTED.items():
    name = component_name(p1.get(part))
    if name not in valid:
      raise ConfigError(f".hydra/config.yaml: phase1.{part} '{name}' cannot be "
                        f"imported (supported: {', '.join(valid)})")
    cfg.phase1[part].name = name
  for sec in _SECTIONS:
    src = hydra_cfg
    for k in sec.split("."):
      src = (src or {}).get(k) or {}
    dst = cfg
    for k in sec.split("."):
      dst = dst[k]
    for k, v in src.items():
      if k in dst and k != "name":
        dst[k] = tuple(v) if isinstance(v, list) else type(dst[k])(v)
  data = hydra_cfg.get("data") or {}
  cfg.data.n_tokens = int(data.get("n_tokens", cfg.data.n_tokens))
  for k, v in (data.get("datasets") or {}).items():
    cfg.data.datasets[k] = str(v)
  cfg.data.path = str(data_path or data.get("path", ""))
  cfg.data.normalize_globals = False       # the original's globals are raw
  cfg.experiment.name = "imported_original"
  return cfg


def _linears(sd: Dict[str, np.ndarray], prefix: str) -> List[Tuple[str, dict]]:
  """`{prefix}.{i}.weight/bias` in index order -> flax Dense params."""
  idx = sorted({int(m.group(1)) for k in sd
                if (m := re.fullmatch(re.escape(prefix) + r"\.(\d+)\.weight", k))})
  names = [f"dense_{j}" for j in range(len(idx) - 1)] + ["out"]
  return [(n, {"kernel": sd[f"{prefix}.{i}.weight"].T,
               "bias": sd[f"{prefix}.{i}.bias"]}) for n, i in zip(names, idx)]


def convert_state_dict(sd: Dict[str, np.ndarray], latent: str):
  """torch state_dict -> (params, vq_stats or None) as flax pytrees."""
  params = {"encoder": {"id_embed": sd["encoder.id_emb.weight"],
                        "mlp": dict(_linears(sd, "encoder.net"))},
            "decoder": {"mlp": dict(_linears(sd, "decoder.net"))}}
  if any(k.startswith("decoder.g_head.") for k in sd):
    params["decoder"]["globals_head"] = {"mlp": dict(_linears(sd, "decoder.g_head"))}
  vq = None
  if latent == "linear":
    params["bottleneck"] = {"proj": {"kernel": sd["bottleneck.projection.weight"].T,
                                     "bias": sd["bottleneck.projection.bias"]}}
  elif latent == "vq":
    q = "bottleneck.quant."
    if q + "ema_weight" not in sd:
      raise ConfigError("only the EMA VQ (ema: true) can be imported")
    vq = {"codebook": sd[q + "codebook"], "ema_w": sd[q + "ema_weight"],
          "cluster_size": sd[q + "ema_count"]}
  return params, vq


def _install(template, params, vq, tx):
  """A TrainState from converted params (and VQ state), every shape checked
  against `template` (abstract, from jax.eval_shape of the loop's init);
  model state the checkpoint lacks (e.g. VQ `unused`) starts at zero."""
  from thesis_jax.train.state import init_state

  def put(tmpl, new, path):
    if isinstance(tmpl, dict):
      missing = set(tmpl) - set(new)
      extra = set(new) - set(tmpl)
      if missing or extra:
        raise ConfigError(f"checkpoint does not fit the model at {path or '/'}: "
                          f"missing {sorted(missing)}, unexpected {sorted(extra)}")
      return {k: put(tmpl[k], new[k], f"{path}/{k}") for k in tmpl}
    if tuple(tmpl.shape) != tuple(new.shape):
      raise ConfigError(f"checkpoint does not fit the model at {path}: shape "
                        f"{tuple(new.shape)} vs {tuple(tmpl.shape)}")
    return jnp.asarray(new, tmpl.dtype)
  new_params = put(template.params, params, "params")
  ms = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), template.model_state)
  if vq is not None:
    old = ms["vq_stats"]["bottleneck"]
    ms["vq_stats"] = dict(ms["vq_stats"], bottleneck=dict(old, **put(
        {k: template.model_state["vq_stats"]["bottleneck"][k] for k in vq},
        vq, "vq_stats/bottleneck")))
  return init_state(new_params, ms, tx)


def val_losses(run_dir: str) -> Dict[int, float]:
  """{epoch: val_loss} from the `val` rows of facts/scalars.csv."""
  path = os.path.join(run_dir, "facts", "scalars.csv")
  if not os.path.exists(path):
    raise OutputError(f"{path}: missing (needed for the best/last epochs)")
  with open(path, newline="") as f:
    rows = [r for r in csv.DictReader(f) if r.get("split") == "val" and r.get("val_loss")]
  if not rows:
    raise OutputError(f"{path}: no validation rows")
  return {int(r["epoch"]): float(r["val_loss"]) for r in rows}


def import_run(run_dir: str, base_config, *, which: str = "both",
               data_path: Optional[str] = None, out_dir: Optional[str] = None) -> str:
  """Converts a thesis-ml run (see module docstring) -> the folder written.

  which: best | last | both (both: those of best_val.pt / last.pt present;
  `load_run(..., "best"|"last")` then each find theirs). out_dir: copy the run there first (the original stays untouched).
  """
  from thesis_jax.train import rundir
  from thesis_jax.train.checkpoint import Checkpoints
  from thesis_jax.train.history import RunHistory
  from thesis_jax.train.loops import LOOPS
  from thesis_jax.train.restore import DatasetInfo
  from thesis_jax.train.state import make_optimizer

  rc = read_run_config(run_dir)
  if rc is None or rc.kind != "original":
    raise ConfigError(f"{run_dir}: not a thesis-ml run folder (no .hydra/config.yaml)")
  if which not in ("best", "last", "both"):
    raise ConfigError(f"--checkpoint '{which}': valid are best, last, both")
  wanted = [which] if which != "both" else [
      w for w in ("best", "last")
      if os.path.exists(os.path.join(run_dir, CHECKPOINT_FILES[w]))] or ["last"]
  for w in wanted:
    if not os.path.exists(os.path.join(run_dir, CHECKPOINT_FILES[w])):
      raise OutputError(f"{run_dir}: no {CHECKPOINT_FILES[w]}")
  config = thesis_config(rc.config, base_config, data_path)
  typed = resolve_paths(config)   # cfg.yaml holds absolute paths (any directory)
  vals = val_losses(run_dir)
  best_epoch = min(vals, key=lambda e: (vals[e], e))
  epochs = {"best": best_epoch, "last": max(vals)}
  try:
    raw, _ = load_raw(config.data)
  except DataError as e:     # e.g. the Hydra config's path is another machine's
    raise DataError(f"{e} (the normalisation needs the run's data file: "
                    "give --data_path)") from None
  norm = Normalizer.fit(raw["train"], normalize_globals=False)
  sds = {w: load_state_dict(os.path.join(run_dir, CHECKPOINT_FILES[w])) for w in wanted}
  num_types = next(iter(sds.values()))["encoder.id_emb.weight"].shape[0]

  if out_dir and os.path.exists(out_dir):
    raise OutputError(f"{out_dir}: exists already (--out must be a new folder)")
  ck_dir = os.path.join(run_dir, "checkpoints")
  if not out_dir:
    if os.path.exists(ck_dir):
      raise OutputError(f"{ck_dir}: exists (already imported? remove it to redo)")
    rundir.ensure_writable_dir(run_dir, "--run_dir (use --out for a copy)")
  info = DatasetInfo(int(num_types), int(config.data.n_tokens), norm)
  loop = LOOPS[config.loop].build(config, info)
  # Shapes only: tracing the init is enough, no compilation.
  template = jax.eval_shape(lambda r: loop.init_state(r, info), jax.random.PRNGKey(0))
  histories = {}
  for ev in iter_events(run_dir):
    if ev.get("moment") in ("on_epoch_end", "on_train_end") and ev.get("histories"):
      histories = ev["histories"]
  run_id = next((ev.get("meta", {}).get("run_id") for ev in iter_events(run_dir)
                 if ev.get("moment") == "on_start"), None)
  book = RunHistory(run_id, histories, vals[best_epoch], best_epoch, 0.0)
  # Convert and check everything before writing anything.
  order = sorted({epochs[w]: w for w in wanted}.items())   # best == last: once
  states = [(e, w, _install(template, *convert_state_dict(
      sds[w], config.phase1.latent_space.name), make_optimizer(config.phase1.trainer)))
      for e, w in order]
  if out_dir:
    shutil.copytree(run_dir, out_dir, symlinks=True,
                    ignore=shutil.ignore_patterns("checkpoints", "cfg.yaml"))
    run_dir, ck_dir = out_dir, os.path.join(out_dir, "checkpoints")
  ckpt = Checkpoints(ck_dir)
  try:
    for e, w, state in states:
      meta = book.checkpoint_meta(e, info, config.loop)
      meta["imported_from"] = os.path.join(run_dir, CHECKPOINT_FILES[w])
      ckpt.save(e, state, meta, vals[e])
  finally:
    ckpt.close()
  rundir.write_config(run_dir, config, [], typed)
  return run_dir
