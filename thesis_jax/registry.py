"""Name -> builder registries: configs say *what* (a name), code says *how*.

Every pluggable component (encoders, bottlenecks, decoders, training loops,
reports, corruptions, plot families) lives in one `Registry`. Unknown names fail
with the list of valid ones.
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
  """A named mapping from strings to builders, with helpful errors."""

  def __init__(self, kind: str, config_key: str = ""):
    self.kind = kind
    self.config_key = config_key or kind
    self._items: Dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def deco(obj: T) -> T:
      if name in self._items:
        raise ValueError(f"{self.kind} '{name}' is registered twice")
      self._items[name] = obj
      return obj
    return deco

  def get(self, name: str) -> T:
    if name not in self._items:
      valid = ", ".join(sorted(self._items)) or "(none)"
      raise KeyError(
          f"unknown {self.kind} '{name}' (config key {self.config_key}); "
          f"valid names: {valid}")
    return self._items[name]

  def names(self):
    return sorted(self._items)

  def __contains__(self, name: str) -> bool:
    return name in self._items
