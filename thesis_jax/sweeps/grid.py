"""Sweep grids: axis names -> training keys, values -> jobs and overrides.

A grid maps axis names to value lists. The jobs are the cartesian product in
axis order, the last axis varying fastest (like Hydra's multirun). An axis name
is one of the short ALIASES below or a full dotted training key; in a config
file a dotted key is written with `__` (ConfigDict keys cannot hold dots):
`grid.phase1__trainer__lr = (1e-3, 3e-4)` sweeps `phase1.trainer.lr`.

Values are coerced to the type of the base config's field (an int 10 for the
float `globals_beta` becomes 10.0), so overrides.yaml, sweep.json and the
training config agree.
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from thesis_jax.config_tools import literal, parent_of, split_list
from thesis_jax.errors import ConfigError

# Short axis name -> training key (see README.md ("Sweeps", "Running on a cluster")).
ALIASES: Dict[str, str] = {
    "latent_space": "phase1.latent_space.name",
    "encoder": "phase1.encoder.name",
    "decoder": "phase1.decoder.name",
    "loop": "loop",
    "globals_beta": "phase1.decoder.globals_beta",
    "beta": "phase1.latent_space.beta",
    "globals_head": "phase1.decoder.globals_head",
    "latent_dim": "phase1.latent_space.latent_dim",
    "codebook_size": "phase1.latent_space.codebook_size",
    "seed": "phase1.trainer.seed",
    "epochs": "phase1.trainer.epochs",
    "lr": "phase1.trainer.lr",
    "batch_size": "phase1.trainer.batch_size",
    "weight_decay": "phase1.trainer.weight_decay",
    "mask_padding": "phase1.loss.mask_padding",
}


def axis_key(axis: str) -> str:
  """Axis name -> dotted training key (alias, `a__b` or `a.b`)."""
  if axis in ALIASES:
    return ALIASES[axis]
  return axis.replace("__", ".")


def axis_values(raw: Any) -> List[Any]:
  """A grid entry -> list of values.

  Accepts a tuple/list, a scalar (one value), or a string "0,1" / a tuple
  holding one such string (how ml_collections passes `--config.grid.seed=0,1`
  for a tuple of strings).
  """
  if isinstance(raw, str):
    raw = (raw,)
  if not isinstance(raw, (tuple, list)):
    return [raw]
  out: List[Any] = []
  for v in raw:   # "" stays a value (e.g. data.path "" = synthetic)
    if isinstance(v, str) and "," in v:
      out.extend(literal(p) for p in split_list(v))
    else:
      out.append(literal(v.strip()) if isinstance(v, str) else v)
  return out


def _lookup(config, key: str):
  node, last = parent_of(config, key)
  if not hasattr(node, "keys") or last not in node:
    raise KeyError(last)
  return node, last


def base_field(base, key: str, where: str):
  """-> (node, name) of training key `key` in `base`; ConfigError naming
  `where` (e.g. "grid.lr") when the key does not exist."""
  try:
    return _lookup(base, key)
  except KeyError as e:
    raise ConfigError(f"{where}: '{key}' is not a key of the base training "
                      f"config (unknown '{e.args[0]}')") from None


def coerce(value: Any, current: Any, key: str) -> Any:
  """`value` converted to the type of the base config's `current` value."""
  try:
    if isinstance(current, bool):
      if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0"):
          raise ValueError(value)
        return value.lower() in ("true", "1")
      return bool(value)
    if isinstance(current, int):
      if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
      return int(value)
    if isinstance(current, float):
      return float(value)
    if isinstance(current, str):
      return str(value)
    if isinstance(current, tuple):
      return tuple(value) if isinstance(value, (tuple, list)) else (value,)
  except (TypeError, ValueError):
    raise ConfigError(f"grid value {value!r} does not fit {key} "
                      f"(type {type(current).__name__})") from None
  return value


def format_value(v: Any) -> str:
  """A value as a `--config.key=...` flag string."""
  if isinstance(v, (tuple, list)):
    return ",".join(format_value(x) for x in v)
  if isinstance(v, float):
    return repr(v)
  return str(v)


def ordered_axes(grid: Mapping[str, Any], axes: Sequence[str] = ()) -> List[str]:
  """`axes` first (the given order), then the remaining grid keys sorted."""
  names = list(grid.keys())
  for a in axes:
    if a not in names:
      raise ConfigError(f"axes: '{a}' is not a grid axis (grid axes: "
                        f"{', '.join(sorted(names))})")
  return list(axes) + sorted(n for n in names if n not in axes)


def expand(grid: Mapping[str, Any], base, axes: Sequence[str] = ()
           ) -> Tuple[List[str], Dict[str, str], Dict[str, list], List[dict]]:
  """-> (axis order, axis -> key, axis -> coerced values, jobs' params).

  Every key must exist in `base`; an empty axis is an error.
  """
  order = ordered_axes(grid, axes)
  if not order:
    raise ConfigError("grid: no axes to sweep")
  keys, values = {}, {}
  for a in order:
    key = axis_key(a)
    node, last = base_field(base, key, f"grid.{a}")
    vals = [coerce(v, node[last], key) for v in axis_values(grid[a])]
    if not vals:
      raise ConfigError(f"grid.{a}: no values")
    keys[a], values[a] = key, vals
  jobs = [dict(zip(order, combo))
          for combo in itertools.product(*(values[a] for a in order))]
  return order, keys, values, jobs


def job_overrides(params: Mapping[str, Any], keys: Mapping[str, str]) -> List[str]:
  """Job params -> ["phase1.latent_space.name=vq", ...] (axis order)."""
  return [f"{keys[a]}={format_value(v)}" for a, v in params.items()]


def apply_params(base, params: Mapping[str, Any], keys: Mapping[str, str]):
  """A copy of `base` with the job's values set (to validate before running)."""
  import copy
  cfg = copy.deepcopy(base)
  for a, v in params.items():
    node, last = _lookup(cfg, keys[a])
    try:
      node[last] = v
    except (TypeError, ValueError) as e:
      raise ConfigError(f"grid.{a}: {keys[a]}={v!r}: {e}") from None
  return cfg
