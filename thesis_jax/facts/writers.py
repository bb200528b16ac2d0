"""Append-only facts writer (process 0 only) for one run folder.

Each event is one complete line written with a single `write` + flush + fsync,
so a crash never leaves a half line. `truncate_after(epoch)` drops facts of
epochs a resumed run will redo.
"""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence

from thesis_jax.facts.schema import format_cell, iter_events, scalars_header


class FactsWriter:
  def __init__(self, run_dir: str, metric_keys: Sequence[str], enabled: bool = True):
    self.run_dir = run_dir
    self.dir = os.path.join(run_dir, "facts")
    self.events_path = os.path.join(self.dir, "events.jsonl")
    self.scalars_path = os.path.join(self.dir, "scalars.csv")
    self.header = scalars_header(metric_keys)
    self.enabled = enabled
    if enabled:
      os.makedirs(self.dir, exist_ok=True)
      if not os.path.exists(self.scalars_path):
        self._append(self.scalars_path, self._csv_line(self.header))

  @staticmethod
  def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()

  @staticmethod
  def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())

  def event(self, payload: Mapping[str, Any]) -> None:
    if self.enabled:
      self._append(self.events_path, json.dumps(payload) + "\n")

  def scalars(self, *, epoch: Optional[int], split: str, train_loss=None,
              val_loss=None, epoch_time_s=None, throughput=None,
              max_memory_mib=None, metrics: Optional[Dict[str, Any]] = None) -> None:
    """One scalars.csv row; columns not in the header are an error."""
    if not self.enabled:
      return
    row = {"epoch": -1 if epoch is None else int(epoch), "split": split,
           "train_loss": train_loss, "val_loss": val_loss,
           "epoch_time_s": epoch_time_s, "throughput": throughput,
           "max_memory_mib": max_memory_mib}
    for k, v in (metrics or {}).items():
      col = f"metric_{k}"
      if col not in self.header:
        raise ValueError(f"metric '{k}' is not in {self.scalars_path}'s header")
      row[col] = v
    self._append(self.scalars_path,
                 self._csv_line([format_cell(row.get(c)) for c in self.header]))

  def truncate_after(self, epoch: int) -> None:
    """Keeps on_start and epochs <= `epoch`; drops everything later."""
    if not self.enabled:
      return
    if os.path.exists(self.events_path):
      keep = [json.dumps(ev) + "\n" for ev in iter_events(self.run_dir)
              if ev.get("moment") == "on_start" or (
                  ev.get("moment") == "on_epoch_end"
                  and ev.get("epoch") is not None and ev["epoch"] <= epoch)]
      _atomic_write(self.events_path, "".join(keep))
    if os.path.exists(self.scalars_path):
      with open(self.scalars_path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
      out = [self._csv_line(rows[0])] if rows else [self._csv_line(self.header)]
      for r in rows[1:]:
        if len(r) == len(rows[0]) and r[0] and int(r[0]) <= epoch:
          out.append(self._csv_line(r))
      _atomic_write(self.scalars_path, "".join(out))


def _atomic_write(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
