"""The interface a report implements.

A report is a `Report` subclass listed by name (`config.report`) in
`driver.REPORTS`:

    class CompareTokenizers(Report):
      def check(self, runs, config): ...          # raise ConfigError early
      def figures(self, runs, config, fig_dir): ...   # -> [png paths]
      def summary(self, runs, config): ...        # -> dict for summary.json
      def text(self, runs, config): ...           # -> lines for the terminal

`runs` is a `thesis_jax.facts.readers.Runs` (already filtered by
`config.select`). The driver (`driver.py`) owns folders, files, inference,
manifest and backlinks; a report only computes and draws.
"""
from __future__ import annotations

from typing import Any, Dict, List


class Report:
  name = ""

  def check(self, runs, config) -> None:
    """Raises ConfigError if the runs cannot make this report."""

  def figures(self, runs, config, fig_dir: str) -> List[str]:
    return []

  def summary(self, runs, config) -> Dict[str, Any]:
    return {}

  def text(self, runs, config) -> List[str]:
    return []
