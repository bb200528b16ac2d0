"""Load a trained run back: config, loop, normalisation and a checkpoint."""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax

from thesis_jax.data.normalization import Normalizer
from thesis_jax.errors import OutputError
from thesis_jax.train import rundir, sharding
from thesis_jax.train.checkpoint import Checkpoints
from thesis_jax.train.loops import LOOPS


@dataclasses.dataclass
class DatasetInfo:
  """What loops need to rebuild a model without loading the data."""
  num_types: int
  n_tokens: int
  norm: Normalizer


@dataclasses.dataclass
class LoadedRun:
  run_dir: str
  config: Any
  loop: Any          # a loop_api.Loop (eval_step, score_step, reconstruct, ...)
  state: Any         # TrainState, replicated over the local mesh
  norm: Normalizer
  info: DatasetInfo
  epoch: int


def load_run(run_dir: str, which: str = "best") -> LoadedRun:
  """Restores the `best` (by val loss) or `last` checkpoint of a run."""
  config = rundir.load_config(run_dir)
  ck_dir = os.path.join(run_dir, "checkpoints")
  if not os.path.isdir(ck_dir):
    raise OutputError(f"{run_dir}: no checkpoints/ folder (was "
                      "logging.save_artifacts off?)")
  ckpt = Checkpoints(ck_dir, create=False)
  epoch = ckpt.best_epoch() if which == "best" else ckpt.latest_epoch()
  if epoch is None:
    epoch = ckpt.latest_epoch()
  if epoch is None:
    raise OutputError(f"{ck_dir}: no checkpoint saved")
  meta = ckpt.restore_meta(epoch)
  norm = Normalizer.from_dict(meta["normalization"])
  info = DatasetInfo(int(meta["num_types"]), int(meta["n_tokens"]), norm)
  loop = LOOPS[config.loop].build(config, info)
  mesh = sharding.make_mesh()
  # The restore target needs shapes and shardings only: tracing the init
  # (eval_shape) avoids compiling it, most of a load's time on CPU.
  rep = sharding.replicated(mesh)
  init = lambda r: loop.init_state(r, info)
  try:
    shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
  except jax.errors.TracerArrayConversionError:   # an init that copies to host
    shapes = init(jax.random.PRNGKey(0))
  target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep),
                        shapes)
  state, _ = ckpt.restore(epoch, target)
  ckpt.close()
  return LoadedRun(run_dir, config, loop, state, norm, info, epoch)
