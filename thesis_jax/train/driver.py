"""The shared training driver: `train(config) -> TrainResult`.

Order of work (so bad input never leaves a half-written run folder):
validate config -> load data -> build loop -> create the run folder ->
facts/checkpoints per epoch -> test -> on_train_end/on_test_end.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Dict, Optional, Sequence

import jax
import numpy as np

from thesis_jax.config_tools import resolve_paths
from thesis_jax.data.pipeline import eval_stack, load_dataset, train_stack
from thesis_jax.errors import ConfigError, NonFiniteLossError
from thesis_jax.facts.schema import AE_HISTORY_KEYS, build_event, make_meta
from thesis_jax.facts.writers import FactsWriter
from thesis_jax.train import distributed, rundir, scan, sharding
from thesis_jax.train.checkpoint import Checkpoints, abstract_like
from thesis_jax.train.config_check import validate_config
from thesis_jax.train.loop_api import LOOPS
from thesis_jax.train.progress import Progress

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


def _resolve_run_dir(config) -> tuple[str, bool]:
  """-> (run_dir, resuming)."""
  lg, tr = config.logging, config.phase1.trainer
  if tr.resume:
    path = lg.run_dir or rundir.latest_unfinished(lg.output_root,
                                                  config.experiment.name)
    if not path:
      raise ConfigError(
          "phase1.trainer.resume=True but no unfinished run named "
          f"'{config.experiment.name}' under {lg.output_root}/runs; "
          "set logging.run_dir")
    if not os.path.isdir(os.path.join(path, "checkpoints")):
      raise ConfigError(f"{path}: no checkpoints to resume from "
                        "(phase1.trainer.resume)")
    return path, True
  if lg.run_dir:
    return lg.run_dir, False
  path = (rundir.new_run_dir(lg.output_root, config.experiment.name)
          if jax.process_index() == 0 else "")   # one folder, made atomically
  return distributed.broadcast_str(path), False


def train(config, overrides: Sequence[str] = ()) -> TrainResult:
  """Trains `config.loop` on `config.data`; returns the run's key numbers."""
  validate_config(config)
  config = config.copy_and_resolve_references()   # the caller's stays as is
  typed_paths = resolve_paths(config)   # absolute: the run works from anywhere
  distributed.maybe_initialize(config.distributed)
  dataset = load_dataset(config.data)
  loop = LOOPS.get(config.loop)(config, dataset)
  tr, lg = config.phase1.trainer, config.logging
  mesh = sharding.make_mesh()
  bsz = int(tr.batch_size)
  sharding.check_batch_size(bsz, mesh, "phase1.trainer.batch_size")
  ebsz = max(int(tr.eval_batch_size) // mesh.devices.size, 1) * mesh.devices.size
  pidx, pcount = jax.process_index(), jax.process_count()
  is_main = pidx == 0

  run_dir, resuming = _resolve_run_dir(config)
  if is_main:
    rundir.ensure_writable_dir(run_dir, "logging.output_root/run_dir")
  progress = Progress(int(tr.epochs), enabled=bool(lg.progress) and is_main)
  facts = FactsWriter(run_dir, loop.metric_keys, enabled=is_main)
  ckpt = (Checkpoints(os.path.join(run_dir, "checkpoints"))
          if lg.save_artifacts else None)

  def emit(payload, st=None):
    """Facts event, then training figures (process 0, logging.make_plots)."""
    facts.event(payload)
    if is_main and lg.get("make_plots", False):
      from thesis_jax.monitoring import handle_event
      handle_event(lg, payload["moment"], payload, run_dir,
                   {"loop": loop, "state": st, "dataset": dataset})

  seed = int(tr.seed)
  root = jax.random.PRNGKey(seed)
  k_init, k_data, k_steps = jax.random.split(root, 3)
  state = loop.init_state(k_init, dataset)
  histories: Dict[str, list] = {}
  best = (math.inf, -1)
  start_epoch, total_time = 0, 0.0
  meta = make_meta(seed)

  if resuming:
    last = ckpt.latest_epoch()
    if last is None:
      raise ConfigError(f"{run_dir}: no checkpoint to resume from")
    state, cmeta = ckpt.restore(last, abstract_like(
        sharding.replicate(state, mesh)))
    histories = {k: list(v) for k, v in cmeta["histories"].items()}
    best = (cmeta["best_val_loss"], cmeta["best_epoch"])
    start_epoch, total_time = last + 1, float(cmeta["total_time_s"])
    meta["run_id"] = cmeta.get("run_id", meta["run_id"])
    facts.truncate_after(last)
    progress.print(f"resuming {run_dir} after epoch {last + 1}")
  else:
    if is_main:
      rundir.write_config(run_dir, config, overrides, typed_paths)
      dataset.norm.save(os.path.join(run_dir, "normalization.json"))
    state = loop.data_init(state, dataset, k_data)
    emit(build_event("on_start", run_dir, meta=meta, epoch=None, step=0))
  state = sharding.replicate(state, mesh)
  best_state = None

  train_chunk = scan.make_train_chunk(loop.train_step, mesh)
  eval_pass = scan.make_eval_pass(loop.eval_step, mesh)

  def evaluate(st, split):
    stack = eval_stack(dataset.splits[split], ebsz, pidx, pcount)
    k = min(EVAL_CHUNK, stack["ids"].shape[0])
    stack = scan.pad_steps(stack, k)
    total = None
    for part, _ in scan.chunks(stack, k):
      s = eval_pass(st, sharding.put_stack(part, mesh))
      total = s if total is None else jax.tree.map(lambda a, b: a + b, total, s)
    return jax.device_get(total)

  k_disp = max(int(tr.steps_per_dispatch), 1)
  n_train = len(dataset.splits["train"])
  steps_per_epoch = n_train // bsz
  k_disp = min(k_disp, steps_per_epoch) if steps_per_epoch else k_disp
  progress.print(f"run folder: {run_dir}")
  progress.print(f"data: {dataset.source} | train {n_train} / val "
                 f"{len(dataset.splits['val'])} / test {len(dataset.splits['test'])}"
                 f" events | {jax.device_count()} {jax.devices()[0].platform} "
                 f"device(s) | loop {config.loop}")

  for epoch in range(start_epoch, int(tr.epochs)):
    t0 = time.perf_counter()
    stack = train_stack(dataset.splits["train"], bsz, seed, epoch, pidx, pcount)
    outs = []
    for part, valid in chunks_iter(stack, k_disp):
      state, m = train_chunk(state, sharding.put_stack(part, mesh),
                             valid, k_steps)
      outs.append((m, valid))
    train_metrics = {k: np.concatenate([np.asarray(jax.device_get(m[k]))[v]
                                        for m, v in outs])
                     for k in outs[0][0]}
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
    total_time += epoch_time
    n_events = steps_per_epoch * bsz
    throughput = n_events / epoch_time
    hist_vals = dict(rec.history, epoch_time_s=epoch_time, throughput=throughput)
    for k, v in hist_vals.items():
      histories.setdefault(k, []).append(v)
    if rec.val_loss < best[0]:
      best = (rec.val_loss, epoch)
      best_state = jax.tree.map(lambda x: x.copy(), state)
    mem = _peak_memory_mib()
    step = int(jax.device_get(state.step))
    facts.scalars(epoch=epoch, split="train", train_loss=rec.train_loss,
                  epoch_time_s=epoch_time, throughput=throughput,
                  max_memory_mib=mem, metrics=rec.metrics)
    facts.scalars(epoch=epoch, split="val", val_loss=rec.val_loss,
                  epoch_time_s=epoch_time, throughput=throughput,
                  max_memory_mib=mem, metrics=rec.metrics)
    emit(build_event(
        "on_epoch_end", run_dir, meta=meta, epoch=epoch, step=step,
        split="val", train_loss=rec.train_loss, val_loss=rec.val_loss,
        metrics=rec.metrics, epoch_time_s=epoch_time, total_time_s=total_time,
        throughput=throughput, max_memory_mib=mem,
        histories=_ordered(histories),
        extra=dict(rec.extra, train_time_s=t_train,
                   train_throughput=n_events / t_train)), state)
    if ckpt:
      ckpt.save(epoch, state, {
          "epoch": epoch, "histories": histories, "best_val_loss": best[0],
          "best_epoch": best[1], "total_time_s": total_time,
          "run_id": meta["run_id"], "normalization": dataset.norm.to_dict(),
          "num_types": dataset.num_types, "n_tokens": dataset.n_tokens,
          "loop": config.loop}, rec.val_loss)
    progress.epoch(epoch, rec, epoch_time, throughput)

  if best_state is None:   # resumed after the best epoch: reload it
    if ckpt is None or ckpt.best_epoch() is None:
      best_state = state
    else:
      best_state, _ = ckpt.restore(ckpt.best_epoch(), abstract_like(state))
  test = loop.test_metrics(evaluate(best_state, "test"))
  last_epoch = int(tr.epochs) - 1
  final = {k: v[-1] for k, v in histories.items()}
  emit(build_event(
      "on_train_end", run_dir, meta=meta, epoch=last_epoch,
      step=int(jax.device_get(state.step)), split="val",
      train_loss=final.get("train_loss"), val_loss=final.get("val_loss"),
      total_time_s=total_time, histories=_ordered(histories),
      extra={"best_val_loss": best[0], "best_epoch": best[1]}), state)
  emit(build_event(
      "on_test_end", run_dir, meta=meta, epoch=best[1], split="test",
      metrics=test, total_time_s=total_time), best_state)
  if ckpt:
    ckpt.close()
  progress.print(f"done: best val {best[0]:.5g} at epoch {best[1] + 1}, test "
                 f"{test['test_loss']:.5g} | {run_dir}")
  return TrainResult(run_dir, best[0], best[1] + 1, test.get("test_loss"), final,
                     test, histories)


def chunks_iter(stack, k):
  for part, valid in scan.chunks(stack, k):
    yield part, jax.numpy.asarray(valid)


def _ordered(histories: Dict[str, list]) -> Dict[str, list]:
  """The schema's AE keys first (in spec order), then loop extras."""
  keys = [k for k in AE_HISTORY_KEYS if k in histories]
  keys += [k for k in histories if k not in keys]
  return {k: histories[k] for k in keys}
