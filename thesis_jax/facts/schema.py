"""Facts schema version 1 (the original's): event payloads and the scalars header."""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import socket
import subprocess
import uuid
from typing import Any, Dict, Mapping, Optional, Sequence

SCHEMA_VERSION = 1
MOMENTS = ("on_start", "on_epoch_end", "on_train_end", "on_test_end")
SCALARS_BASE = ("epoch", "split", "train_loss", "val_loss", "epoch_time_s",
                "throughput", "max_memory_mib")
AE_HISTORY_KEYS = ("train_loss", "val_loss", "rec_tokens", "rec_globals",
                   "codebook", "perplex", "epoch_time_s", "throughput")


def clean_number(x):
  """float/None for JSON: NaN/inf and missing values become null."""
  if x is None:
    return None
  try:
    f = float(x)
  except (TypeError, ValueError):
    return None
  return f if math.isfinite(f) else None


def json_safe(x):
  """A value for strict JSON/YAML: NaN/inf -> None, numpy (and JAX) arrays
  and scalars -> Python lists/numbers, tuples -> lists, dict keys -> str."""
  if isinstance(x, dict):
    return {str(k): json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [json_safe(v) for v in x]
  if isinstance(x, float):
    return clean_number(x)
  if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
    return json_safe(x.tolist())
  return x


def git_commit(cwd: Optional[str] = None) -> Optional[str]:
  """Short sha of the checkout holding this package (None outside git)."""
  here = cwd or os.path.dirname(os.path.abspath(__file__))
  try:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                         capture_output=True, text=True, timeout=5)
    return out.stdout.strip() or None if out.returncode == 0 else None
  except (OSError, subprocess.SubprocessError):
    return None


def device_info() -> Dict[str, Dict[str, Any]]:
  """`cuda_info` (truthful: NVIDIA GPUs seen by JAX) and `jax_info`."""
  import jax
  devs = jax.devices()
  gpus = [d for d in devs if d.platform == "gpu"]
  cuda = {"available": bool(gpus)}
  if gpus:
    cuda.update(device_count=len(gpus), current_device=int(gpus[0].id),
                device_name=str(gpus[0].device_kind))
  jinfo = {"version": jax.__version__, "backend": jax.default_backend(),
           "platform": devs[0].platform, "device_kind": str(devs[0].device_kind),
           "local_device_count": jax.local_device_count(),
           "device_count": jax.device_count(),
           "process_index": jax.process_index(),
           "process_count": jax.process_count()}
  return {"cuda_info": cuda, "jax_info": jinfo}


def make_meta(seed: Optional[int], run_id: Optional[str] = None) -> Dict[str, Any]:
  """The `meta` block; run_id is fixed per run (uuid4)."""
  info = device_info()
  return {"timestamp": utc_now(), "run_id": run_id or str(uuid.uuid4()),
          "git_commit": git_commit(), "hostname": socket.gethostname(),
          "cuda_info": info["cuda_info"], "seed": seed,
          "jax_info": info["jax_info"]}


def utc_now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat()


def build_event(moment: str, run_dir: str, *, meta: Mapping[str, Any],
                epoch=None, step=None, split=None, train_loss=None,
                val_loss=None, metrics: Optional[Mapping[str, Any]] = None,
                epoch_time_s=None, total_time_s=None, throughput=None,
                max_memory_mib=None,
                histories: Optional[Mapping[str, Sequence]] = None,
                extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """One events.jsonl object, fields in the schema's order."""
  if moment not in MOMENTS:
    raise ValueError(f"unknown facts moment '{moment}' (valid: {MOMENTS})")
  ev = {"schema_version": SCHEMA_VERSION, "moment": moment,
        "run_dir": str(run_dir),
        "epoch": None if epoch is None else int(epoch),
        "step": None if step is None else int(step), "split": split,
        "train_loss": clean_number(train_loss),
        "val_loss": clean_number(val_loss),
        "metrics": {k: clean_number(v) for k, v in (metrics or {}).items()},
        "epoch_time_s": clean_number(epoch_time_s),
        "total_time_s": clean_number(total_time_s),
        "throughput": clean_number(throughput),
        "max_memory_mib": clean_number(max_memory_mib),
        "meta": dict(meta, timestamp=utc_now())}
  hist = {k: [clean_number(v) for v in vs] for k, vs in (histories or {}).items()}
  ev["histories"] = hist
  for k, vs in hist.items():
    ev[f"history_{k}"] = vs
  for k, v in (extra or {}).items():
    if k in ev:
      raise ValueError(f"extra facts field '{k}' shadows a schema field")
    ev[k] = v
  return ev


@dataclasses.dataclass
class EpochFacts:
  """One epoch's numbers as facts record them: the two scalars.csv rows
  (train, val) and the top-level fields of the on_epoch_end event.
  Times in seconds, throughput in events/s, memory in MiB."""
  epoch: int
  step: int
  train_loss: float
  val_loss: float
  metrics: Mapping[str, Any]
  epoch_time_s: float
  total_time_s: float
  throughput: float
  max_memory_mib: Optional[float] = None
  train_metrics: Optional[Mapping[str, Any]] = None   # train row; None: metrics


def iter_events(run_dir: str):
  """Yields the parsed objects of `{run_dir}/facts/events.jsonl` in order,
  skipping a torn (half-written) line from a hard kill; nothing if absent."""
  path = os.path.join(run_dir, "facts", "events.jsonl")
  if not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        yield json.loads(line)
      except json.JSONDecodeError:
        continue


def scalars_header(metric_keys: Sequence[str]) -> list:
  return list(SCALARS_BASE) + [f"metric_{k}" for k in sorted(metric_keys)]


def format_cell(x) -> str:
  """Python's f"{x:.8g}"; empty for missing/non-finite values."""
  if x is None:
    return ""
  if isinstance(x, str):
    return x
  if isinstance(x, (int,)) and not isinstance(x, bool):
    return str(x)
  f = clean_number(x)
  return "" if f is None else f"{f:.8g}"
