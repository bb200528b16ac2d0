"""Run folders written from given numbers, without training (tests, benchmarks).

`write_fake_run` produces exactly what a training run leaves for the readers:
facts v1 (`FactsWriter`, `build_event`) and a config snapshot, in the
thesis_jax layout (`cfg.yaml`, `overrides.yaml`) or the original thesis-ml
layout (`.hydra/config.yaml` with `_target_` class paths,
`.hydra/overrides.yaml`).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import yaml

from thesis_jax.facts.schema import EpochFacts, build_event, make_meta
from thesis_jax.facts.writers import FactsWriter

_TARGETS = {
    "none": "thesis_ml.architectures.autoencoder.bottlenecks.identity.IdentityBottleneck",
    "linear": "thesis_ml.architectures.autoencoder.bottlenecks.linear.LinearBottleneck",
    "vq": "thesis_ml.architectures.autoencoder.bottlenecks.vq.VQBottleneck",
}


def original_config(latent_space: str = "vq", globals_beta: float = 1.0,
                    seed: int = 42, epochs: int = 10, latent_dim: int = 32,
                    codebook_size: int = 512,
                    data_path: str = "/data/4tops_splitted.h5") -> Dict[str, Any]:
  """A Hydra-style resolved config of the original thesis-ml."""
  ls: Dict[str, Any] = {"_target_": _TARGETS[latent_space]}
  if latent_space == "vq":
    ls.update(codebook_size=codebook_size, beta=0.25, ema=True, ema_decay=0.99)
  return {
      "data": {"path": data_path, "n_tokens": 18, "limit_samples": 0,
               "datasets": {"x_train": "X_train", "x_val": "X_val",
                            "x_test": "X_test"}},
      "phase1": {
          "latent_dim": latent_dim,
          "encoder": {"_target_": "thesis_ml.architectures.autoencoder.encoders."
                                  "mlp.MLPEncoder", "enc_hidden": [128, 128],
                      "latent_dim": "${phase1.latent_dim}", "dropout": 0.0},
          "latent_space": dict(ls, latent_dim="${phase1.latent_dim}"),
          "decoder": {"_target_": "thesis_ml.architectures.autoencoder.decoders."
                                  "mlp.MLPDecoder", "dec_hidden": [128, 128],
                      "globals_head": True, "globals_beta": globals_beta},
          "trainer": {"epochs": epochs, "batch_size": 128, "lr": 1e-3,
                      "seed": seed}},
      "logging": {"save_artifacts": True, "make_plots": False},
  }


def write_fake_run(run_dir: str, *, val_loss: Sequence[float],
                   train_loss: Optional[Sequence[float]] = None,
                   histories: Optional[Mapping[str, Sequence]] = None,
                   epoch_time_s: float = 1.0, throughput: float = 10000.0,
                   config: Optional[Mapping[str, Any]] = None,
                   overrides: Sequence[str] = (), layout: str = "original",
                   complete: bool = True, code_counts: int = 0,
                   seed: int = 42) -> str:
  """Writes a run folder whose val losses are `val_loss` (one per epoch).

  histories: extra per-epoch history lists (e.g. rec_tokens, rec_globals,
  perplex); `perplex` also fills scalars' `metric_perplex`. code_counts: if
  > 0, each on_epoch_end carries a `code_counts` list of that many codes.
  complete=False leaves out on_train_end / on_test_end (a crashed run).
  """
  n = len(val_loss)
  train_loss = list(train_loss if train_loss is not None
                    else [v * 1.05 for v in val_loss])
  extra_h = {k: list(v) for k, v in (histories or {}).items()}
  os.makedirs(run_dir, exist_ok=True)
  cfg = dict(config or original_config(seed=seed))
  if layout == "original":
    os.makedirs(os.path.join(run_dir, ".hydra"), exist_ok=True)
    cfg_path = os.path.join(run_dir, ".hydra", "config.yaml")
    ov_path = os.path.join(run_dir, ".hydra", "overrides.yaml")
  else:
    cfg_path = os.path.join(run_dir, "cfg.yaml")
    ov_path = os.path.join(run_dir, "overrides.yaml")
  with open(cfg_path, "w") as f:
    yaml.safe_dump(cfg, f, sort_keys=False)
  with open(ov_path, "w") as f:
    yaml.safe_dump(list(overrides), f)
  meta = make_meta(seed)
  facts = FactsWriter(run_dir, ("perplex",), meta=meta)
  facts.event(build_event("on_start", run_dir, meta=meta, step=0))
  hist: Dict[str, list] = {}
  rng = np.random.default_rng(seed)
  total = 0.0
  for e in range(n):
    total += epoch_time_s
    vals = {"train_loss": train_loss[e], "val_loss": val_loss[e],
            "epoch_time_s": epoch_time_s, "throughput": throughput}
    vals.update({k: v[e] for k, v in extra_h.items()})
    for k, v in vals.items():
      hist.setdefault(k, []).append(v)
    perp = extra_h.get("perplex", [None] * n)[e]
    extra = {}
    if code_counts:
      extra["code_counts"] = rng.integers(0, 100, code_counts).tolist()
    facts.epoch_end(EpochFacts(
        epoch=e, step=(e + 1) * 100, train_loss=train_loss[e],
        val_loss=val_loss[e], metrics={"perplex": perp},
        epoch_time_s=epoch_time_s, total_time_s=total, throughput=throughput),
        hist, extra)
  if complete:
    best = int(np.argmin(val_loss))
    facts.event(build_event(
        "on_train_end", run_dir, meta=meta, epoch=n - 1, step=n * 100,
        split="val", train_loss=train_loss[-1], val_loss=val_loss[-1],
        total_time_s=total, histories=hist,
        extra={"best_val_loss": float(val_loss[best]), "best_epoch": best}))
    facts.event(build_event(
        "on_test_end", run_dir, meta=meta, epoch=best, split="test",
        metrics={"test_loss": float(val_loss[best]) * 1.01}, total_time_s=total))
  return run_dir
