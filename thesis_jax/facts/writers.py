"""Append-only facts writer (process 0 only) for one run folder.

What is atomic:
- each events.jsonl line / scalars.csv row is appended with `os.write` on an
  O_APPEND descriptor and fsync'd; if the write fails (full disk, quota) the
  file is cut back to its previous length, so no half line stays behind;
- `transaction()` groups one epoch's scalars rows and event: if any write in
  it fails, both files are cut back to where they were, so scalars.csv is
  never an epoch ahead of events.jsonl;
- a torn last line left by a hard kill (kill -9, node loss) is removed when a
  writer opens the folder (`repair`), and readers skip it (`iter_events`).
Write errors raise OutputError: one line naming the facts folder.
`truncate_after(epoch)` drops facts of epochs a resumed run will redo.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence

from thesis_jax.errors import OutputError
from thesis_jax.facts.schema import (EpochFacts, build_event, format_cell,
                                     iter_events, scalars_header)


class FactsWriter:
  """meta: the run's `meta` block (schema.make_meta) for the events it builds."""

  def __init__(self, run_dir: str, metric_keys: Sequence[str],
               enabled: bool = True, meta: Optional[Dict[str, Any]] = None):
    self.run_dir = run_dir
    self.meta = meta if meta is not None else {}
    self.dir = os.path.join(run_dir, "facts")
    self.events_path = os.path.join(self.dir, "events.jsonl")
    self.scalars_path = os.path.join(self.dir, "scalars.csv")
    self.header = scalars_header(metric_keys)
    self.enabled = enabled
    self._undo: Optional[Dict[str, int]] = None   # path -> size (transaction)
    if enabled:
      try:
        os.makedirs(self.dir, exist_ok=True)
      except OSError as e:
        raise self._error(e) from None
      self.repair()
      if not os.path.exists(self.scalars_path):
        self._append(self.scalars_path, self._csv_line(self.header))

  @staticmethod
  def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()

  def _error(self, e: OSError) -> OutputError:
    return OutputError(f"{self.dir}: cannot write facts: {e.strerror or e} "
                       "(the facts end at the last complete epoch; free space "
                       "and resume the run)")

  def _append(self, path: str, text: str) -> None:
    """Appends whole lines or nothing (cut back on failure), then fsync."""
    data = text.encode("utf-8")
    try:
      fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
      raise self._error(e) from None
    size = os.fstat(fd).st_size
    if self._undo is not None:
      self._undo.setdefault(path, size)
    try:
      _write_all(fd, data)
    except OSError as e:
      _cut(fd, size)
      raise self._error(e) from None
    finally:
      os.close(fd)

  @contextlib.contextmanager
  def transaction(self):
    """Every append inside is undone if any of them (or the body) fails."""
    self._undo = {}
    try:
      yield self
    except BaseException:
      for path, size in self._undo.items():
        with contextlib.suppress(OSError):
          os.truncate(path, size)
      raise
    finally:
      self._undo = None

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

  def repair(self) -> None:
    """Cuts a torn (unterminated) last line off both files (a hard kill)."""
    for path in (self.events_path, self.scalars_path):
      try:
        repair_torn_line(path)
      except OSError as e:
        raise self._error(e) from None

  def epoch_end(self, n: EpochFacts, histories: Mapping[str, Sequence],
                extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Writes the epoch's train and val scalars rows and its on_epoch_end
    event; returns the event."""
    timing = dict(epoch_time_s=n.epoch_time_s, throughput=n.throughput,
                  max_memory_mib=n.max_memory_mib)
    fields = {k: v for k, v in vars(n).items() if k != "train_metrics"}
    ev = build_event("on_epoch_end", self.run_dir, meta=self.meta, split="val",
                     histories=histories, extra=extra, **fields)
    train_m = n.metrics if n.train_metrics is None else n.train_metrics
    with self.transaction():   # both files get the epoch, or neither
      # The train row carries training values (the original's convention).
      self.scalars(epoch=n.epoch, split="train", train_loss=n.train_loss,
                   metrics=train_m, **timing)
      self.scalars(epoch=n.epoch, split="val", val_loss=n.val_loss,
                   metrics=n.metrics, **timing)
      self.event(ev)
    return ev

  def truncate_after(self, epoch: int) -> None:
    """Keeps on_start and epochs <= `epoch`; drops everything later."""
    if not self.enabled:
      return
    try:
      self._truncate_after(epoch)
    except OSError as e:
      raise self._error(e) from None

  def _truncate_after(self, epoch: int) -> None:
    if os.path.exists(self.events_path):
      keep = [json.dumps(ev) + "\n" for ev in iter_events(self.run_dir)
              if ev.get("moment") == "on_start" or (
                  ev.get("moment") == "on_epoch_end"
                  and ev.get("epoch") is not None and ev["epoch"] <= epoch)]
      atomic_write(self.events_path, "".join(keep))
    if os.path.exists(self.scalars_path):
      with open(self.scalars_path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
      out = [self._csv_line(rows[0])] if rows else [self._csv_line(self.header)]
      for r in rows[1:]:
        if len(r) == len(rows[0]) and _int(r[0]) is not None and \
            _int(r[0]) <= epoch:
          out.append(self._csv_line(r))
      atomic_write(self.scalars_path, "".join(out))


def _write_all(fd: int, data: bytes) -> None:
  """os.write until every byte is written (it may write fewer), then fsync."""
  view = memoryview(data)
  while view:
    view = view[os.write(fd, view):]
  os.fsync(fd)


def _int(text: str) -> Optional[int]:
  try:
    return int(text)
  except ValueError:
    return None


def _cut(fd: int, size: int) -> None:
  with contextlib.suppress(OSError):
    os.ftruncate(fd, size)


def repair_torn_line(path: str) -> bool:
  """Truncates `path` after its last newline; -> True if it cut something."""
  if not os.path.exists(path):
    return False
  with open(path, "rb+") as f:
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if end == 0:
      return False
    f.seek(max(end - 1, 0))
    if f.read(1) == b"\n":
      return False
    f.seek(0)
    keep = f.read().rfind(b"\n") + 1
    f.truncate(keep)
    f.flush()
    os.fsync(f.fileno())
  return True


def atomic_write(path: str, text: str) -> None:
  """Writes `path` whole or not at all (temp file, fsync, rename); a failed
  write removes the temp file and leaves the old `path` untouched."""
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
      _write_all(fd, text.encode("utf-8"))
    finally:
      os.close(fd)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise
