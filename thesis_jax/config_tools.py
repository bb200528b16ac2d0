"""ConfigDict helpers shared by training, sweeps, reports, tests, benchmarks."""
from __future__ import annotations

import ast
from typing import Any, Tuple


def to_plain(config) -> dict:
  """ConfigDict -> plain dict with lists for tuples (YAML/JSON friendly)."""
  def conv(x):
    if hasattr(x, "to_dict"):
      x = x.to_dict()
    if isinstance(x, dict):
      return {k: conv(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
      return [conv(v) for v in x]
    return x
  return conv(config)


def from_plain(raw: dict):
  """Plain dict (from YAML/JSON) -> ConfigDict, lists back to tuples as in
  configs/*.py (so command-line overrides of them keep working)."""
  import ml_collections

  def conv(x):
    if isinstance(x, dict):
      return {k: conv(v) for k, v in x.items()}
    if isinstance(x, list):
      return tuple(conv(v) for v in x)
    return x
  return ml_collections.ConfigDict(conv(raw))


def parent_of(config, dotted: str) -> Tuple[Any, str]:
  """-> (the node holding the last component, that component's name).
  Raises KeyError naming the missing component."""
  node = config
  *path, last = dotted.split(".")
  for p in path:
    if not hasattr(node, "keys") or p not in node:
      raise KeyError(p)
    node = node[p]
  return node, last


def set_dotted(config, dotted: str, value: Any) -> None:
  node, last = parent_of(config, dotted)
  node[last] = value


def literal(text: str) -> Any:
  """'3' -> 3, '(64, 64)' -> (64, 64), 'vq' -> 'vq'."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply_assignments(config, assignments) -> None:
  """Applies ["a.b=value", ...] (values parsed as Python literals)."""
  for kv in assignments:
    k, v = kv.split("=", 1)
    set_dotted(config, k, literal(v))
