"""Read run folders of thesis_jax and of the original thesis-ml into tables.

    runs = load_runs(sweep_dir="outputs/multiruns/exp_20261127-013228_sweep")
    runs = load_runs(run_dirs=["outputs/runs/run_A", "outputs/runs/run_B"])
    runs.summary    # DataFrame: one row per complete run (SUMMARY_COLUMNS + swept)
    runs.per_epoch  # DataFrame: one row per (run_dir, epoch)
    runs.swept      # swept parameter columns, e.g. ["latent_space", "seed"]
    runs.skipped    # [(run_dir, reason)] incomplete runs, also logged as warnings

Best epoch = the first minimum of `val_loss` over the `val` rows of
`facts/scalars.csv`; `loss.<x>_best` = history `<x>` (last `on_epoch_end`
event) *at that epoch*, i.e. the numbers of the checkpoint a run keeps.
Losses are in the model's units; times in seconds. Both implementations'
runs are converted to one convention (`run_config.CONVENTION`: plain
rec_globals mse, the test loss's checkpoint named per run).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from thesis_jax.config_tools import split_list
from thesis_jax.errors import ConfigError
from thesis_jax.facts.discovery import discover_runs, is_run_dir, order_key
from thesis_jax.facts.run_config import (describe, facts_semantics,
                                         read_run_config, swept_params)
from thesis_jax.facts.schema import clean_number, json_safe

log = logging.getLogger("thesis_jax.facts")

SUMMARY_COLUMNS = (
    "run_dir", "run_name", "kind", "encoder", "tokenizer", "seed", "latent_dim",
    "codebook_size", "globals_beta", "dataset_name", "config_sha1",
    "git_commit", "epochs", "best_epoch", "loss.total_best", "loss.total_final",
    "loss.recon_best", "loss.commit_best", "loss.codebook_best",
    "loss.rec_globals_best", "loss.recon_final", "loss.rec_globals_final",
    "total_time_s", "mean_epoch_time_s", "throughput_mean",
    "max_memory_mib_max", "metric_perplex_final", "test_loss",
    "test_loss_checkpoint", "globals_normalized", "latent_bits_per_token")
# history key -> summary column (value at the best epoch)
BEST_KEYS = {"rec_tokens": "loss.recon_best", "commit": "loss.commit_best",
             "codebook": "loss.codebook_best",
             "rec_globals": "loss.rec_globals_best"}


class IncompleteRun(Exception):
  """A run folder without `on_train_end` (still running, or crashed)."""


@dataclasses.dataclass
class Runs:
  summary: pd.DataFrame
  per_epoch: pd.DataFrame
  swept: List[str]
  skipped: List[Tuple[str, str]]

  def records(self) -> List[Dict[str, Any]]:
    """Summary rows as JSON-friendly dicts (NaN -> None)."""
    return [{k: json_safe(v) for k, v in r.items()}
            for r in self.summary.to_dict("records")]


def read_events(path: str) -> Dict[str, Any]:
  """-> {"on_start", "last_epoch", "on_train_end", "on_test_end"} (None if
  absent). Parses the first line and, from the end, only what is needed."""
  with open(path, encoding="utf-8") as f:
    lines = [ln for ln in f.read().splitlines() if ln.strip()]
  out = {"on_start": None, "last_epoch": None, "on_train_end": None,
         "on_test_end": None}

  def parse(line):
    try:
      return json.loads(line)
    except json.JSONDecodeError:
      return None   # a torn last line from a hard kill
  if lines:
    ev = parse(lines[0])
    if ev and ev.get("moment") == "on_start":
      out["on_start"] = ev
  for line in reversed(lines):
    ev = parse(line)
    mom = ev.get("moment") if ev else None
    if mom == "on_epoch_end":
      out["last_epoch"] = ev
      break
    if mom in ("on_train_end", "on_test_end") and out[mom] is None:
      out[mom] = ev
  return out


def _per_epoch(scalars_path: str, histories: Dict[str, list]) -> pd.DataFrame:
  """One row per epoch: scalars' val row + train_loss of the train row +
  history columns; `time_s` = cumulative epoch time [s]."""
  if os.path.isfile(scalars_path):
    sc = pd.read_csv(scalars_path)
    sc = sc.drop_duplicates(["epoch", "split"], keep="last")
    val = sc[sc["split"] == "val"].drop(columns=["split", "train_loss"])
    tr = sc[sc["split"] == "train"][["epoch", "train_loss"]]
    df = val.merge(tr, on="epoch", how="left").sort_values("epoch")
    df = df.reset_index(drop=True)
  else:
    vl = histories.get("val_loss") or []
    df = pd.DataFrame({"epoch": np.arange(len(vl)),
                       "val_loss": np.asarray(vl, float)})
    for k in ("train_loss", "epoch_time_s", "throughput"):
      if histories.get(k):
        df[k] = _align(histories[k], len(df))
  n = len(df)
  for k, vs in histories.items():
    if k not in df.columns and isinstance(vs, list):
      df[k] = _align(vs, n)
  if "epoch_time_s" in df:
    df["time_s"] = df["epoch_time_s"].fillna(0.0).cumsum()
  return df


def _align(values: list, n: int) -> np.ndarray:
  a = np.array([np.nan if v is None else v for v in values[:n]], float)
  return np.concatenate([a, np.full(n - len(a), np.nan)])


def read_run(run_dir: str) -> Tuple[Dict[str, Any], pd.DataFrame]:
  """-> (summary row, per-epoch frame). Raises IncompleteRun."""
  rc = read_run_config(run_dir)
  if rc is None:
    raise IncompleteRun("no config snapshot (cfg.yaml or .hydra/config.yaml)")
  ev_path = os.path.join(run_dir, "facts", "events.jsonl")
  if not os.path.isfile(ev_path):
    raise IncompleteRun("no facts/events.jsonl")
  ev = read_events(ev_path)
  if ev["on_train_end"] is None:
    raise IncompleteRun("incomplete: no on_train_end in facts/events.jsonl")
  last = ev["last_epoch"] or ev["on_train_end"]
  hist = last.get("histories") or ev["on_train_end"].get("histories") or {}
  df = _per_epoch(os.path.join(run_dir, "facts", "scalars.csv"), hist)
  if df.empty or df["val_loss"].isna().all():
    raise IncompleteRun("incomplete: no val_loss recorded")
  sem = facts_semantics(rc.kind, rc.config)
  if "rec_globals" in df and sem["rec_globals_scale"] != 1.0:
    scale = sem["rec_globals_scale"]
    df["rec_globals"] = df["rec_globals"] / scale if scale > 0 else np.nan
  row: Dict[str, Any] = {"run_dir": os.path.abspath(run_dir),
                         "run_name": os.path.basename(os.path.normpath(run_dir)),
                         "kind": rc.kind}
  d = describe(rc.config)
  row.update({k: v for k, v in d.items() if k != "config_epochs"})
  meta = (ev["on_start"] or last).get("meta") or {}
  if row["seed"] is None and meta.get("seed") is not None:
    row["seed"] = int(meta["seed"])
  row["git_commit"] = meta.get("git_commit")
  ib = int(df["val_loss"].idxmin())
  row["epochs"] = len(df)
  row["best_epoch"] = int(df["epoch"].iloc[ib])
  row["loss.total_best"] = clean_number(df["val_loss"].iloc[ib])
  row["loss.total_final"] = clean_number(df["val_loss"].iloc[-1])
  for k, col in BEST_KEYS.items():
    row[col] = clean_number(df[k].iloc[ib]) if k in df else None
  row["loss.recon_final"] = clean_number(df["rec_tokens"].iloc[-1]) if "rec_tokens" in df else None
  row["loss.rec_globals_final"] = (clean_number(df["rec_globals"].iloc[-1])
                                   if "rec_globals" in df else None)
  total = clean_number(ev["on_train_end"].get("total_time_s"))
  row["total_time_s"] = total if total is not None else clean_number(
      df.get("epoch_time_s", pd.Series(dtype=float)).sum())
  for col, src, how in (("mean_epoch_time_s", "epoch_time_s", "mean"),
                        ("throughput_mean", "throughput", "mean"),
                        ("max_memory_mib_max", "max_memory_mib", "max")):
    row[col] = clean_number(getattr(df[src], how)()) if src in df else None
  perp = df["metric_perplex"] if "metric_perplex" in df else df.get("perplex")
  row["metric_perplex_final"] = clean_number(perp.iloc[-1]) if perp is not None else None
  test = (ev["on_test_end"] or {}).get("metrics") or {}
  row["test_loss"] = clean_number(test.get("test_loss"))
  row["test_loss_checkpoint"] = sem["test_loss_checkpoint"]
  row["globals_normalized"] = sem["globals_normalized"]
  row["latent_bits_per_token"] = latent_bits(row)
  row.update({f"param:{k}": v for k, v in swept_params(rc.overrides).items()})
  df.insert(0, "run_dir", row["run_dir"])
  return row, df


def latent_bits(row: Dict[str, Any]) -> Optional[float]:
  """Bits one token occupies in the latent space: log2(codebook size) for VQ,
  32 x latent_dim (float32 vector) otherwise."""
  if row.get("tokenizer") == "vq" and row.get("codebook_size"):
    return float(math.log2(row["codebook_size"]))
  if row.get("latent_dim"):
    return 32.0 * row["latent_dim"]
  return None


def _as_list(x: Union[None, str, Sequence[str]]) -> List[str]:
  if not x:
    return []
  return [str(p) for p in split_list(x) if str(p).strip()]


def load_runs(sweep_dir: Optional[str] = None,
              run_dirs: Union[None, str, Sequence[str]] = None) -> Runs:
  """Reads every complete run of `sweep_dir` and/or `run_dirs` (a list or a
  comma-separated string). Incomplete runs are skipped with a warning; a
  folder that is not a run, or an empty selection, raises ConfigError."""
  paths: List[str] = []
  if sweep_dir:
    paths += sorted(discover_runs(sweep_dir), key=order_key)
  for p in _as_list(run_dirs):
    if not os.path.isdir(p):
      raise ConfigError(f"inputs.run_dirs: {p}: no such folder")
    if not is_run_dir(p):
      raise ConfigError(f"inputs.run_dirs: {p} is not a run folder (no facts/, "
                        "cfg.yaml or .hydra/config.yaml)")
    paths.append(p)
  if not paths:
    raise ConfigError("no runs selected: set inputs.sweep_dir or inputs.run_dirs")
  seen, rows, frames, skipped = set(), [], [], []
  for p in paths:
    real = os.path.realpath(p)
    if real in seen:
      continue
    seen.add(real)
    try:
      row, df = read_run(p)
    except IncompleteRun as e:
      log.warning("skipping run %s: %s", p, e)
      skipped.append((os.path.abspath(p), str(e)))
      continue
    except (OSError, ValueError, KeyError) as e:
      raise ConfigError(f"{p}: unreadable run folder: {e}") from None
    rows.append(row)
    frames.append(df)
  if not rows:
    names = "; ".join(f"{p} ({r})" for p, r in skipped)
    raise ConfigError(f"no complete runs in the selection ({len(skipped)} "
                      f"skipped: {names})")
  return _assemble(rows, frames, skipped)


def _assemble(rows, frames, skipped) -> Runs:
  swept: List[str] = []
  for r in rows:
    for k in r:
      if k.startswith("param:") and k[6:] not in swept:
        swept.append(k[6:])
  out = []
  for r in rows:
    base = {c: r.get(c) for c in SUMMARY_COLUMNS}
    for name in swept:
      v = r.get(f"param:{name}")
      if name not in base:
        base[name] = v
      elif base[name] is None:
        base[name] = v
    out.append(base)
  summary = pd.DataFrame(out, columns=list(dict.fromkeys(
      list(SUMMARY_COLUMNS) + swept)))
  per_epoch = pd.concat(frames, ignore_index=True, sort=False)
  return Runs(summary, per_epoch, swept, skipped)
