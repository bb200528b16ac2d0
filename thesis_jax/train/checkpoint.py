"""All Orbax calls live here: keep the best (by val loss) and the last two
epochs.

Layout: `{run_dir}/checkpoints/{N}/` where N counts epochs from 1 (folder 20
= after the 20th epoch, as the console and figures say; README "Epoch
numbers"), with items `state` (the TrainState pytree, StandardSave) and
`meta` (JSON: epoch (0-based, as in the facts), histories, normalisation, ...).
The methods here take and return 0-based epochs, like the rest of the code.
Restores use an abstract target so optimizer states keep their structure.

Verification: `save` stores a SHA-256 of the state's bytes in the meta
(`state_sha256`); `restore` recomputes it, so a truncated, deleted or
overwritten file is caught even when the bytes still decode.
`restore_newest_good` falls back from a damaged newest checkpoint to the
newest one that restores, moving damaged ones aside to
`{run_dir}/checkpoints_damaged/` (kept for inspection, out of Orbax's way).
Every failure is an OutputError of one line naming the checkpoint folder.
"""
from __future__ import annotations

import gc
import glob
import hashlib
import os
import shutil
import sys
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from thesis_jax.errors import OutputError
from thesis_jax.train.rundir import create_unique_dir

_P = ocp.checkpoint_managers
DIGEST_KEY = "state_sha256"
FIRST = 1   # folder name of the first epoch's checkpoint (0-based epoch + 1)


def state_digest(state) -> str:
  """SHA-256 over every leaf's dtype, shape and bytes (host copies)."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(state):
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    a = np.ascontiguousarray(jax.device_get(leaf))
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
  return h.hexdigest()


def _why(e: BaseException) -> str:
  """An exception as one short line (Orbax/TensorStore messages span pages)."""
  text = " ".join(str(e).split())
  return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


class Checkpoints:
  def __init__(self, directory: str, create: bool = True):
    self.directory = os.path.abspath(directory)
    self._create = create
    self.mngr = self._manager()

  def _manager(self):
    val = lambda m: m["val_loss"]
    policy = _P.AnyPreservationPolicy([
        _P.BestN(get_metric_fn=val, reverse=True, n=1,
                 keep_checkpoints_without_metrics=False),
        _P.LatestN(n=2)])   # a damaged newest one has a fallback
    options = ocp.CheckpointManagerOptions(
        best_fn=val, best_mode="min", preservation_policy=policy,
        create=self._create, enable_async_checkpointing=False,
        cleanup_tmp_directories=True)   # a save cut off by a kill
    return ocp.CheckpointManager(self.directory, options=options, item_handlers={
        "state": ocp.StandardCheckpointHandler(),
        "meta": ocp.JsonCheckpointHandler()})

  def save(self, epoch: int, state, meta: Dict[str, Any], val_loss: float) -> None:
    """Saves `state` and `meta` (+ the state's digest) as `epoch`; a failed
    save (full disk, quota) removes its partial folder and raises one line."""
    meta = dict(meta, **{DIGEST_KEY: state_digest(state)})
    try:
      self.mngr.save(epoch + FIRST, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
          metrics={"val_loss": float(val_loss)})
      self.mngr.wait_until_finished()
    except Exception as e:   # Orbax/TensorStore wrap OSErrors in many types
      for tmp in glob.glob(os.path.join(self.directory,
                                        f"{epoch + FIRST}.orbax-*")):
        shutil.rmtree(tmp, ignore_errors=True)
      raise OutputError(f"{self.directory}: cannot save the checkpoint of "
                        f"epoch {epoch + 1} ({_why(e)}); the previous checkpoint "
                        "is kept") from None

  def latest_epoch(self) -> Optional[int]:
    return _epoch(self.mngr.latest_step())

  def best_epoch(self) -> Optional[int]:
    return _epoch(self.mngr.best_step())

  def restore(self, epoch: int, abstract_state) -> Tuple[Any, Dict[str, Any]]:
    """-> (state with abstract_state's structure and shardings, meta dict).

    Raises OutputError (one line) if the checkpoint is unreadable, does not
    match `abstract_state` (a config whose shapes changed), or fails its
    digest check.
    """
    where = os.path.join(self.directory, str(epoch + FIRST))
    self._check_shapes(epoch + FIRST, abstract_state, where)
    try:
      out = self.mngr.restore(epoch + FIRST, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state),
          meta=ocp.args.JsonRestore()))
    except Exception as e:
      _drop_pending_reads()
      text = str(e).lower()
      hint = (" (the run's config no longer matches the saved model: was "
              "cfg.yaml edited?)" if "stored shape" in text
              or "structures do not match" in text else "")
      raise OutputError(f"{where}: cannot restore the checkpoint{hint}: "
                        f"{_why(e)}") from None
    meta = dict(out["meta"])
    want = meta.get(DIGEST_KEY)
    if want is not None and state_digest(out["state"]) != want:
      raise OutputError(f"{where}: checkpoint is damaged (state bytes do not "
                        "match the digest saved with it)")
    return out["state"], meta

  def _check_shapes(self, step: int, abstract_state, where: str) -> None:
    """One line naming the first array whose saved shape differs from the
    one the current config builds (Orbax would print pages)."""
    try:
      saved = _shapes(self.mngr.item_metadata(step)["state"])
    except Exception:    # unreadable metadata: restore() reports the damage
      return
    want = _shapes(abstract_state)
    for k in sorted(set(saved) & set(want)):   # other differences: restore()
      if saved[k] != want[k]:
        raise OutputError(
            f"{where}: the run's config no longer matches the saved model "
            f"(was cfg.yaml edited?): {'.'.join(k)} has shape {saved[k]} in "
            f"the checkpoint, the config builds {want[k]}")

  def restore_meta(self, epoch: int) -> Dict[str, Any]:
    try:
      out = self.mngr.restore(epoch + FIRST, args=ocp.args.Composite(
          meta=ocp.args.JsonRestore()))
    except Exception as e:
      raise OutputError(f"{os.path.join(self.directory, str(epoch + FIRST))}: cannot "
                        f"read the checkpoint's meta: {_why(e)}") from None
    return dict(out["meta"])

  def restore_newest_good(self, abstract_state,
                          say: Callable[[str], None] = print
                          ) -> Tuple[int, Any, Dict[str, Any]]:
    """-> (epoch, state, meta) of the newest checkpoint that restores.

    Each damaged newer one is reported with one line via `say` and moved to
    `checkpoints_damaged/`; raises OutputError if none restores.
    """
    errors = []
    for step in sorted(self.mngr.all_steps(), reverse=True):
      try:
        state, meta = self.restore(step - FIRST, abstract_state)
      except OutputError as e:
        errors.append(str(e))
        self._set_aside(step)
        continue
      if errors:
        say(f"warning: {errors[-1]}; falling back to the newest checkpoint "
            f"that restores: {os.path.join(self.directory, str(step))}")
      return step - FIRST, state, meta
    raise OutputError(f"{self.directory}: no checkpoint restores"
                      + (f" ({errors[0]})" if errors else ""))

  def _set_aside(self, step: int) -> None:
    src = os.path.join(self.directory, str(step))
    if jax.process_index() == 0 and os.path.exists(src):
      dst = create_unique_dir(os.path.join(
          os.path.dirname(self.directory), "checkpoints_damaged", str(step)),
          "checkpoints_damaged")
      os.rename(src, dst)        # replaces the empty folder just reserved
    self.mngr.close()
    self.mngr = self._manager()

  def close(self) -> None:
    self.mngr.close()


def _drop_pending_reads() -> None:
  """Collects the read coroutines a failed restore leaves behind, silently:
  otherwise Python prints a page of 'Exception ignored in <coroutine ...>'
  at some later point, after our one-line message."""
  old = sys.unraisablehook
  sys.unraisablehook = lambda unraisable: None
  try:
    gc.collect()
  finally:
    sys.unraisablehook = old


def _epoch(step: Optional[int]) -> Optional[int]:
  return None if step is None else step - FIRST


def _shapes(tree) -> Dict[Tuple[str, ...], Tuple[int, ...]]:
  """{key path (as strings): shape} for every array-like leaf."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    shape = getattr(leaf, "shape", None)
    if shape is None:
      continue
    names = tuple(str(next((getattr(p, a) for a in ("key", "name", "idx")
                            if hasattr(p, a)), p)) for p in path)
    out[names] = tuple(int(d) for d in shape)
  return out


def abstract_like(tree):
  """ShapeDtypeStructs (with shardings) of a concrete pytree."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
