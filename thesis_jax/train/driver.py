"""The shared training driver: `train(config) -> TrainResult`.

Order of work (so bad input never leaves a half-written run folder):
validate config -> load data -> build loop -> create the run folder ->
facts/checkpoints per epoch -> test -> on_train_end/on_test_end.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Any, Callable, Dict, Optional, Sequence

import jax
import numpy as np

from thesis_jax.config_tools import resolve_paths
from thesis_jax.data.pipeline import (epoch_stacks, epoch_steps, eval_stacks,
                                      load_dataset, split_sizes)
from thesis_jax.data.shuffle import check_stripes
from thesis_jax.errors import NonFiniteLossError
from thesis_jax.facts.schema import EpochFacts, build_event, make_meta
from thesis_jax.facts.writers import FactsWriter
from thesis_jax.train import (distributed, preemption, resume, rundir, scan,
                              sharding)
from thesis_jax.train.checkpoint import Checkpoints, abstract_like
from thesis_jax.train.config_check import validate_config
from thesis_jax.train.history import RunHistory
from thesis_jax.train.loops import LOOPS
from thesis_jax.train.progress import Progress

# on_event(moment, payload, context) -> None (see `train`).
EventHook = Callable[[str, Dict[str, Any], Dict[str, Any]], None]

EVAL_CHUNK = 16


@dataclasses.dataclass
class TrainResult:
  run_dir: str
  best_val_loss: float
  best_epoch: int                # counted from 1, as printed (facts: 0-based)
  test_loss: Optional[float]
  final: Dict[str, Any]          # last epoch's history values
  test: Dict[str, float]
  histories: Dict[str, list]


def _peak_memory_mib() -> Optional[float]:
  try:
    stats = jax.local_devices()[0].memory_stats()
  except Exception:  # backends without memory stats (CPU)
    return None
  if not stats or "peak_bytes_in_use" not in stats:
    return None
  return stats["peak_bytes_in_use"] / 2 ** 20


def _new_run_dir(config) -> str:
  """`logging.run_dir` or a new folder made atomically by process 0."""
  lg = config.logging
  if lg.run_dir:
    return lg.run_dir
  path = (rundir.new_run_dir(lg.output_root, config.experiment.name)
          if jax.process_index() == 0 else "")
  return distributed.broadcast_str(path)


def train(config, overrides: Optional[Sequence[str]] = None, *,
          on_event: Optional[EventHook] = None) -> TrainResult:
  """Trains `config.loop` on `config.data`; returns the run's key numbers.

  overrides: the command line's `key=value` flags (recorded in
  overrides.yaml; on resume, the keys the caller asks to change, see
  train/resume.py). SIGTERM/SIGINT stop it cleanly (train/preemption.py).
  on_event(moment, payload, context): called on process 0 after each facts
  event is written (e.g. training figures, `monitoring.figure_hook`);
  context = {"loop", "state", "dataset"}.
  """
  with preemption.StopSignals() as stop:
    return _train(config, overrides, on_event, stop)


def _train(config, overrides, on_event, stop) -> TrainResult:
  validate_config(config)
  config = config.copy_and_resolve_references()   # the caller's stays as is
  typed_paths = resolve_paths(config)   # absolute: the run works from anywhere
  distributed.maybe_initialize(config.distributed)
  config, resume_dir = resume.prepare(config, overrides,
                                      is_main=jax.process_index() == 0)
  load = getattr(LOOPS[config.loop], "load_data", None)   # e.g. token_prior
  dataset = load(config) if load else load_dataset(config.data)
  loop = LOOPS[config.loop].build(config, dataset)
  tr, lg = config.phase1.trainer, config.logging
  mesh = sharding.make_mesh()
  bsz = int(tr.batch_size)
  sharding.check_batch_size(bsz, mesh, "phase1.trainer.batch_size")
  ebsz = max(int(tr.eval_batch_size) // mesh.devices.size, 1) * mesh.devices.size
  pidx, pcount = jax.process_index(), jax.process_count()
  is_main = pidx == 0
  drop_last = bool(tr.get("drop_last", True))
  check_stripes(int(getattr(dataset, "stripes", 1)), bsz, pcount)
  steps_per_epoch = epoch_steps(dataset, bsz, drop_last)

  resuming = resume_dir is not None
  run_dir = resume_dir or _new_run_dir(config)
  if is_main:
    rundir.ensure_writable_dir(run_dir, "logging.output_root/run_dir")
  progress = Progress(int(tr.epochs), enabled=bool(lg.progress) and is_main)
  seed = int(tr.seed)
  meta = make_meta(seed)
  facts = FactsWriter(run_dir, loop.metric_keys, enabled=is_main, meta=meta)
  ckpt = (Checkpoints(os.path.join(run_dir, "checkpoints"))
          if lg.save_artifacts else None)

  def notify(payload, st=None):
    if is_main and on_event is not None:
      on_event(payload["moment"], payload,
               {"loop": loop, "state": st, "dataset": dataset})

  def emit(payload, st=None):
    facts.event(payload)
    notify(payload, st)

  root = jax.random.PRNGKey(seed)
  k_init, k_data, k_steps = jax.random.split(root, 3)
  state = loop.init_state(k_init, dataset)
  book = RunHistory(run_id=meta["run_id"])
  start_epoch = 0

  if resuming:
    last, state, cmeta = ckpt.restore_newest_good(
        abstract_like(sharding.replicate(state, mesh)),
        lambda line: print(line, file=sys.stderr, flush=True))
    book = RunHistory.from_checkpoint_meta(cmeta, meta["run_id"])
    start_epoch = last + 1
    meta["run_id"] = book.run_id
    facts.truncate_after(last)
    progress.print(f"resuming {run_dir} after epoch {last + 1}")
  else:
    if is_main:
      rundir.write_config(run_dir, config, overrides or (), typed_paths,
                          normalization=dataset.norm.to_dict())
    state = loop.data_init(state, dataset, k_data)
    emit(build_event("on_start", run_dir, meta=meta, epoch=None, step=0))
  state = sharding.replicate(state, mesh)
  best_state = None

  train_chunk = scan.make_train_chunk(loop.train_step, mesh)
  eval_pass = scan.make_eval_pass(loop.eval_step, mesh)

  # Padding-free compute: one packer per stack kind (capacities differ).
  train_pack, eval_pack = ((loop.packer(), loop.packer()) if loop.packer
                           else (_dense, _dense))
  said_dense = set()

  def evaluate(st, split):
    total = None
    for part, _ in eval_stacks(dataset, split, ebsz, EVAL_CHUNK, pidx, pcount,
                               transform=eval_pack):
      s = eval_pass(st, sharding.put_stack(part, mesh))
      total = s if total is None else jax.tree.map(lambda a, b: a + b, total, s)
    return jax.device_get(total)

  k_disp = max(int(tr.steps_per_dispatch), 1)
  sizes = split_sizes(dataset)
  n_train = sizes["train"]
  k_disp = min(k_disp, steps_per_epoch)
  progress.print(f"run folder: {run_dir}")
  progress.print(f"data: {dataset.source} | train {n_train} / val "
                 f"{sizes['val']} / test {sizes['test']} events "
                 f"({getattr(dataset, 'reader', 'memory')}) | "
                 f"{jax.device_count()} {jax.devices()[0].platform} "
                 f"device(s) | loop {config.loop} | {loop.compute}")

  events_per_epoch = steps_per_epoch * bsz if drop_last else n_train
  for epoch in range(start_epoch, int(tr.epochs)):
    t0 = time.perf_counter()
    chunks = epoch_stacks(dataset, bsz, seed, epoch, k_disp, pidx, pcount,
                          drop_last, transform=train_pack)
    done = _train_epoch(train_chunk, state, chunks, k_steps, mesh,
                        lambda: stop.requested(pcount),
                        _progress_hook(progress, epoch, bsz, events_per_epoch))
    if done is None:
      break       # the epoch is abandoned: the newest checkpoint is complete
    state, train_metrics = done
    t_train = time.perf_counter() - t0
    val_sums = evaluate(state, "val")
    epoch_time = time.perf_counter() - t0
    rec = loop.record(train_metrics, val_sums)
    if not (math.isfinite(rec.train_loss) and math.isfinite(rec.val_loss)):
      kept = ckpt.latest_epoch() if ckpt else None
      raise NonFiniteLossError(
          f"non-finite loss at epoch {epoch + 1} (train {rec.train_loss}, val "
          f"{rec.val_loss}) in {run_dir}; training stopped"
          + (f", last good checkpoint: epoch {kept + 1}" if kept is not None else
             ", no checkpoint was saved"))
    throughput = events_per_epoch / epoch_time
    improved = book.add_epoch(epoch, dict(rec.history, epoch_time_s=epoch_time,
                                          throughput=throughput),
                              rec.val_loss, epoch_time)
    if improved and tr.get("test_checkpoint", "best") == "best":
      best_state = jax.tree.map(lambda x: x.copy(), state)
    numbers = EpochFacts(
        epoch=epoch, step=int(jax.device_get(state.step)),
        train_loss=rec.train_loss, val_loss=rec.val_loss, metrics=rec.metrics,
        epoch_time_s=epoch_time, total_time_s=book.total_time_s,
        throughput=throughput, max_memory_mib=_peak_memory_mib(),
        train_metrics=rec.train_metrics)
    notify(facts.epoch_end(numbers, book.ordered(), dict(
        rec.extra, train_time_s=t_train,
        train_throughput=events_per_epoch / t_train)), state)
    if ckpt:
      ckpt.save(epoch, state, book.checkpoint_meta(epoch, dataset, config.loop),
                rec.val_loss)
    progress.epoch(epoch, rec, epoch_time, throughput)
    for note in {getattr(pk, "dense_note", "") for pk in (train_pack, eval_pack)}:
      if note and note not in said_dense:      # once per reason
        said_dense.add(note)
        progress.print(f"dense compute for some batches: {note}")
    if epoch + 1 < int(tr.epochs) and stop.agreed(pcount):
      break

  if stop.signum is not None and len(book.histories.get("val_loss", ())) < int(tr.epochs):
    if ckpt:
      ckpt.close()
    raise preemption.stopped(stop, run_dir, ckpt.latest_epoch() if ckpt else None)
  final = book.final()
  best = (book.best_val_loss, book.best_epoch)
  if tr.get("test_checkpoint", "best") == "last":   # the original's test
    test_state, test_epoch = state, int(tr.epochs) - 1
  else:
    test_state, test_epoch = best_state, best[1]
    if test_state is None:   # resumed after the best epoch: reload it
      if ckpt is None or ckpt.best_epoch() is None:
        test_state = state
      else:
        test_state, _ = ckpt.restore(ckpt.best_epoch(), abstract_like(state))
  test = loop.test_metrics(evaluate(test_state, "test"))
  emit(build_event(
      "on_train_end", run_dir, meta=meta, epoch=int(tr.epochs) - 1,
      step=int(jax.device_get(state.step)), split="val",
      train_loss=final.get("train_loss"), val_loss=final.get("val_loss"),
      total_time_s=book.total_time_s, histories=book.ordered(),
      extra={"best_val_loss": best[0], "best_epoch": best[1]}), state)
  emit(build_event(
      "on_test_end", run_dir, meta=meta, epoch=test_epoch, split="test",
      metrics=test, total_time_s=book.total_time_s), test_state)
  if ckpt:
    ckpt.close()
  progress.print(f"done: best val {best[0]:.5g} at epoch {best[1] + 1}, test "
                 f"{test['test_loss']:.5g} | {run_dir}")
  return TrainResult(run_dir, best[0], best[1] + 1, test.get("test_loss"), final,
                     test, book.histories)


def _dense(stack):
  return stack


def _progress_hook(progress, epoch: int, batch_size: int, total: int):
  """-> on_chunk(steps_done, metrics) for `_train_epoch`: in-epoch progress
  lines, waiting for the device only when one is due (at most once a minute)
  and after the epoch's first chunk, so the dispatch stays asynchronous."""
  return lambda steps, metrics: progress.chunk_done(
      epoch, min(steps * batch_size, total), total,
      lambda: jax.block_until_ready(metrics))


def _train_epoch(train_chunk, state, chunks, rng, mesh, stop_now,
                 on_chunk=None):
  """Runs one epoch's chunks ([K, B_local, ...] stacks + valid [K]) ->
  (state, {metric: np [steps]}) (padding steps dropped), or None if
  `stop_now()` turned true before a chunk (a stop signal: the epoch is
  abandoned and its reader stopped). `on_chunk(steps done, metrics)` runs
  after each dispatch (host side)."""
  outs, steps = [], 0
  for part, valid in chunks:
    if stop_now():
      chunks.close()
      return None
    state, m = train_chunk(state, sharding.put_stack(part, mesh),
                           jax.numpy.asarray(valid), rng)
    outs.append((m, valid))
    steps += int(valid.sum())
    if on_chunk is not None:
      on_chunk(steps, m)
  return state, {k: np.concatenate([np.asarray(jax.device_get(m[k]))[v]
                                    for m, v in outs])
                 for k in outs[0][0]}
