"""Facts events -> experiment trackers (TensorBoard, MLflow, W&B).

A `TrackerSink` is called with every facts event payload (the dicts written
to `facts/events.jsonl`) and mirrors it into its trackers:

  first event     config (flattened to dotted keys) as hyperparameters,
                  the run folder, run id and git commit as tags
  on_epoch_end    every number of the event as a scalar at step = epoch:
                  train_loss, val_loss, the current value of each history
                  key, `metrics/<name>`, times, throughput, loop extras
  on_train_end    best_val_loss, best_epoch
  on_test_end     `test/<name>` for the test metrics
  any event       training figures (`train_figures/*.png`) written since the
                  last event, as images

A tracker that raises is reported with one warning and switched off for the
rest of the run; training never stops for a tracker, and never waits for one
during the epochs (the trackers write from a background thread).
"""
from __future__ import annotations

import datetime
import logging
import os
import queue
import re
import threading
import weakref
from typing import Any, Dict, List, Mapping, Optional

log = logging.getLogger("thesis_jax.tracking")

# Top-level event fields that are bookkeeping, not measurements.
_NOT_SCALARS = {"schema_version", "epoch", "step", "best_epoch"}
_FIGURE = re.compile(r"^(?P<family>.+?)-(?P<moment>on_[a-z]+_end|on_start)"
                     r"(?:-e(?P<epoch>\d+))?(?:-(?P<suffix>.+))?\.png$")
_OPEN: "weakref.WeakSet[TrackerSink]" = weakref.WeakSet()


class Tracker:
  """One tracking backend. Steps are epochs (0-based); values are floats."""
  name = ""

  def start(self, params: Mapping[str, str], tags: Mapping[str, str],
            resumed: bool) -> None:
    """Opens (or, `resumed`, continues) the run."""

  def log(self, step: int, scalars: Mapping[str, float],
          wall_time: Optional[float] = None) -> None:
    """Scalars of one step; `wall_time` in seconds since the epoch."""

  def image(self, step: int, tag: str, png_path: str) -> None:
    """A PNG written by the training figures."""

  def close(self, status: str) -> None:
    """status: FINISHED | FAILED | KILLED."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> Dict[str, str]:
  """Nested plain dict -> {"phase1.trainer.lr": "0.001", ...} (sorted)."""
  out: Dict[str, str] = {}
  for k, v in config.items():
    key = f"{prefix}{k}"
    if isinstance(v, Mapping):
      out.update(flatten(v, key + "."))
    elif isinstance(v, (list, tuple)):
      out[key] = ",".join(str(x) for x in v)
    else:
      out[key] = str(v)
  return dict(sorted(out.items()))


def _number(x) -> Optional[float]:
  if isinstance(x, bool) or not isinstance(x, (int, float)):
    return None
  return float(x) if x == x and abs(x) != float("inf") else None


def event_scalars(payload: Mapping[str, Any]) -> Dict[str, float]:
  """The numbers of one facts event, keyed as the trackers show them."""
  moment = payload.get("moment")
  out: Dict[str, float] = {}
  if moment == "on_test_end":
    for k, v in (payload.get("metrics") or {}).items():
      if _number(v) is not None:
        out[f"test/{k}"] = _number(v)
    return out
  if moment == "on_train_end":
    for k in ("best_val_loss", "best_epoch"):
      if _number(payload.get(k)) is not None:
        out[k] = _number(payload[k])
    return out
  if moment != "on_epoch_end":
    return out
  for k, v in payload.items():
    if k in _NOT_SCALARS or k.startswith("history_"):
      continue
    if _number(v) is not None:
      out[k] = _number(v)
  for k, vs in (payload.get("histories") or {}).items():
    if isinstance(vs, list) and vs and _number(vs[-1]) is not None:
      out.setdefault(k, _number(vs[-1]))
  for k, v in (payload.get("metrics") or {}).items():
    if _number(v) is not None:
      out[f"metrics/{k}"] = _number(v)
  return out


def wall_time(payload: Mapping[str, Any]) -> Optional[float]:
  """The event's `meta.timestamp` (ISO) in seconds since the epoch."""
  ts = (payload.get("meta") or {}).get("timestamp")
  try:
    return datetime.datetime.fromisoformat(str(ts)).timestamp()
  except (TypeError, ValueError):
    return None


def figure_tag(name: str):
  """`recon-on_epoch_end-e003-tokens.png` -> ("figures/recon/tokens", 2):
  file names count epochs from 1, tracker steps (like the facts) from 0.
  The `figures/` prefix keeps images apart from scalars of the same name
  (the `codebook` figure vs the `codebook` loss)."""
  m = _FIGURE.match(name)
  if not m:
    return "figures/" + os.path.splitext(name)[0], None
  tag = "figures/" + m["family"] + (f"/{m['suffix']}" if m["suffix"] else "")
  if m["moment"] != "on_epoch_end":
    tag += f"/{m['moment']}"
  return tag, None if m["epoch"] is None else int(m["epoch"]) - 1


class TrackerSink:
  """Feeds facts events to trackers; see the module docstring.

  The trackers run in one background thread, in event order: the training
  loop only queues the event (and the names of new figure files), so a slow
  store (MLflow's SQLite writes, W&B's start-up) never holds up an epoch.
  `trackers`: a list, or a function returning one (called in the thread, so
  package imports and connections happen there too). `close` waits for the
  queue to drain (at most `CLOSE_TIMEOUT_S`).
  """
  CLOSE_TIMEOUT_S = 300.0

  def __init__(self, trackers, run_dir: str, config: Mapping[str, Any],
               figures_dir: Optional[str] = None):
    self._factory = trackers if callable(trackers) else (lambda: list(trackers))
    self.trackers: List[Tracker] = []
    self.run_dir = run_dir
    self.config = config
    self.figures_dir = figures_dir or os.path.join(run_dir, "train_figures")
    self.started = False
    self.closed = False
    self.step = 0
    self._seen: Dict[str, int] = {}
    self._queue: "queue.Queue" = queue.Queue()
    self._thread = threading.Thread(target=self._work, daemon=True,
                                    name=f"trackers:{os.path.basename(run_dir)}")
    self._thread.start()
    _OPEN.add(self)

  # ---- the training thread
  def __call__(self, payload: Mapping[str, Any]) -> None:
    if not self.closed:
      self._queue.put(("event", dict(payload), self._new_figures()))

  def close(self, status: str = "FINISHED") -> None:
    """Sends figures not yet sent, closes every tracker, waits for the
    thread (idempotent)."""
    if self.closed:
      return
    self.closed = True
    self._queue.put(("close", status, self._new_figures()))
    self._thread.join(self.CLOSE_TIMEOUT_S)
    if self._thread.is_alive():
      log.warning("trackers of %s still writing after %.0f s; not waiting "
                  "longer (the facts are complete)", self.run_dir,
                  self.CLOSE_TIMEOUT_S)
    _OPEN.discard(self)

  def _new_figures(self) -> List[str]:
    """PNGs written (or rewritten) since the last look; complete files only
    (the figure hook runs before the trackers and renames atomically)."""
    try:
      names = sorted(os.listdir(self.figures_dir))
    except OSError:
      return []
    out = []
    for n in names:
      if not n.endswith(".png") or n.endswith(".tmp.png"):
        continue
      path = os.path.join(self.figures_dir, n)
      try:
        mtime = os.stat(path).st_mtime_ns
      except OSError:
        continue
      if self._seen.get(path) != mtime:
        self._seen[path] = mtime
        out.append(path)
    return out

  # ---- the tracker thread
  def _work(self) -> None:
    try:
      self.trackers = list(self._factory())
    except Exception as e:  # opening must never stop training
      log.warning("trackers could not open: %s: %s", type(e).__name__, e)
      self.trackers = []
    while True:
      kind, arg, figures = self._queue.get()
      if kind == "event":
        self._event(arg, figures)
        continue
      if self.started:
        self._images(figures)
      self._each("close", lambda t: t.close(arg))
      return

  def _each(self, what: str, fn) -> None:
    for t in list(self.trackers):
      try:
        fn(t)
      except Exception as e:  # a tracker must never stop training
        log.warning("tracker '%s' failed (%s): %s: %s; it is off for the "
                    "rest of this run", t.name, what, type(e).__name__, e)
        self.trackers.remove(t)
        try:
          t.close("FAILED")
        except Exception:
          pass

  def _start(self, payload: Mapping[str, Any]) -> None:
    meta = payload.get("meta") or {}
    tags = {"run_dir": os.path.abspath(self.run_dir),
            "run_name": os.path.basename(os.path.normpath(self.run_dir))}
    for k in ("run_id", "git_commit", "hostname"):
      if meta.get(k):
        tags[k] = str(meta[k])
    resumed = payload.get("moment") != "on_start"
    params = flatten(self.config)
    self._each("start", lambda t: t.start(params, tags, resumed))
    self.started = True

  def _event(self, payload: Mapping[str, Any], figures: List[str]) -> None:
    if not self.trackers:
      return
    if not self.started:
      self._start(payload)
    if payload.get("epoch") is not None:
      self.step = int(payload["epoch"])
    scalars = event_scalars(payload)
    if scalars:
      wt = wall_time(payload)
      self._each(payload.get("moment", "event"),
                 lambda t: t.log(self.step, scalars, wt))
    self._images(figures)

  def _images(self, figures: List[str]) -> None:
    for path in figures:
      tag, epoch = figure_tag(os.path.basename(path))
      step = self.step if epoch is None else epoch
      self._each("figure", lambda t: t.image(step, tag, path))


def close_all(status: str) -> None:
  """Closes every open sink (a run stopped by an exception, e.g. a pruned
  search trial, or the interpreter exiting)."""
  for s in list(_OPEN):
    s.close(status)
