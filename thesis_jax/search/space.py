"""Search spaces: declared ranges -> Optuna suggestions -> training overrides.

A search config's `space` maps a parameter name (a sweep axis name: an alias
such as `lr`, `latent_dim`, `beta`, or a dotted key written with `__`) to one
of

  {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}   # log-uniform
  {"type": "float", "low": 0.1, "high": 1.0}                   # uniform
  {"type": "int", "low": 8, "high": 64, "log": True, "step": 1}
  {"type": "categorical", "choices": ("mlp", "gnn")}

Suggested values are coerced to the base config's field type (as sweep grid
values are), so a trial's `overrides.yaml` reads like a sweep job's.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from thesis_jax.errors import ConfigError
from thesis_jax.sweeps.grid import axis_key, base_field, coerce

TYPES = ("float", "int", "categorical")
_KEYS = {"float": {"type", "low", "high", "log"},
         "int": {"type", "low", "high", "log", "step"},
         "categorical": {"type", "choices"}}


def _plain(spec) -> Dict[str, Any]:
  return dict(spec.to_dict() if hasattr(spec, "to_dict") else spec)


def check_space(space: Mapping[str, Any], base) -> Dict[str, str]:
  """Validates every range against `base`; -> {name: dotted training key}."""
  if not space:
    raise ConfigError("space: no parameters to search")
  keys = {}
  for name in space.keys():
    spec = _plain(space[name])
    where = f"space.{name}"
    kind = spec.get("type")
    if kind not in TYPES:
      raise ConfigError(f"{where}.type: '{kind}' is not one of {', '.join(TYPES)}")
    extra = set(spec) - _KEYS[kind]
    if extra:
      raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(extra))} "
                        f"for type {kind} (valid: {', '.join(sorted(_KEYS[kind]))})")
    key = axis_key(name)
    node, last = base_field(base, key, where)
    if kind == "categorical":
      choices = spec.get("choices")
      if not isinstance(choices, (list, tuple)) or not choices:
        raise ConfigError(f"{where}.choices: give a non-empty tuple of values")
      for c in choices:
        coerce(c, node[last], key)
    else:
      for f in ("low", "high"):
        if not isinstance(spec.get(f), (int, float)) or isinstance(spec.get(f), bool):
          raise ConfigError(f"{where}.{f}: a number is required")
      if not spec["low"] < spec["high"]:
        raise ConfigError(f"{where}: low ({spec['low']}) must be < high "
                          f"({spec['high']})")
      if spec.get("log") and spec["low"] <= 0:
        raise ConfigError(f"{where}: log=True needs low > 0, got {spec['low']}")
      if kind == "int" and not (float(spec["low"]).is_integer()
                                and float(spec["high"]).is_integer()):
        raise ConfigError(f"{where}: int ranges need whole-number bounds")
      coerce(spec["low"], node[last], key)
    keys[name] = key
  return keys


def suggest(trial, space: Mapping[str, Any], base, keys: Mapping[str, str]
            ) -> Dict[str, Any]:
  """One value per parameter from `trial` (an optuna Trial), coerced to the
  base config's types; ordered as `space`."""
  out = {}
  for name in space.keys():
    spec = _plain(space[name])
    kind = spec["type"]
    if kind == "float":
      v = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                              log=bool(spec.get("log", False)))
    elif kind == "int":
      v = trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                            step=int(spec.get("step", 1) or 1),
                            log=bool(spec.get("log", False)))
    else:
      v = trial.suggest_categorical(name, list(spec["choices"]))
    node, last = base_field(base, keys[name], f"space.{name}")
    out[name] = coerce(v, node[last], keys[name])
  return out


def describe_space(space: Mapping[str, Any]) -> List[Tuple[str, str]]:
  """[(name, "float log [0.0001, 0.01]"), ...] for the terminal."""
  out = []
  for name in space.keys():
    s = _plain(space[name])
    if s["type"] == "categorical":
      out.append((name, f"one of {', '.join(map(str, s['choices']))}"))
    else:
      scale = " log" if s.get("log") else ""
      out.append((name, f"{s['type']}{scale} [{s['low']}, {s['high']}]"))
  return out
