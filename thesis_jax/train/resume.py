"""Which run folder a training writes to, and the config a resumed run uses.

Resume (`phase1.trainer.resume=True`) continues one run: `logging.run_dir`,
or else the newest unfinished run whose experiment name is exactly
`experiment.name` (its folder `run_{stamp}_{name}` or `..._{name}_2`, and
its cfg.yaml saying that name). The run's own config (cfg.yaml) is restored;
the caller may change only SAFE_ON_RESUME keys (e.g. more epochs, logging),
and any other key it sets to a different value is refused with one line
naming the keys. Which keys count as "set by the caller": the `overrides`
list (the command line's `--config.*` flags) when one is given, else (a
library call with overrides=None) every key of the passed config.

A fresh (non-resume) run with an explicit `logging.run_dir` that already
holds a completed epoch is refused: two runs never share a folder.
"""
from __future__ import annotations

import copy
import os
import re
from typing import Any, Dict, Optional, Sequence, Tuple

from thesis_jax.config_tools import literal, to_plain
from thesis_jax.errors import ConfigError
from thesis_jax.facts.schema import iter_events
from thesis_jax.facts.writers import atomic_write
from thesis_jax.train import rundir
from thesis_jax.train.checkpoint import FIRST

# keys a resumed run may change (prefixes end with "."): they change neither
# the model, the data nor the numbers of the epochs already trained
SAFE_ON_RESUME = ("logging.", "distributed.", "phase1.trainer.epochs",
                  "phase1.trainer.steps_per_dispatch")
# keys that select the run rather than configure it: never compared
_SELECTORS = ("phase1.trainer.resume", "logging.run_dir", "logging.output_root")


def _safe(key: str) -> bool:
  return any(key == s or (s.endswith(".") and key.startswith(s))
             for s in SAFE_ON_RESUME)


def flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
  """Nested dicts -> {"a.b.c": leaf}."""
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(flatten(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: tree}


def _same(a, b) -> bool:
  norm = lambda x: list(x) if isinstance(x, tuple) else x
  return norm(a) == norm(b)


def completed_epochs(run_dir: str) -> int:
  """Epochs with a saved checkpoint (the newest checkpoint folder's name:
  folders count epochs from 1, see train/checkpoint.py)."""
  ck = os.path.join(run_dir, "checkpoints")
  steps = [int(n) for n in (os.listdir(ck) if os.path.isdir(ck) else [])
           if n.isdigit()]
  return max(steps) + 1 - FIRST if steps else 0


def find_unfinished(output_root: str, name: str) -> Optional[str]:
  """Newest run of experiment `name` (exactly) under output_root/runs without
  on_train_end; folders `run_{stamp}_{name}` and `run_{stamp}_{name}_{k}`."""
  runs = os.path.join(output_root, "runs")
  pat = re.compile(rf"run_(\d{{8}}-\d{{6}})_{re.escape(name)}(?:_(\d+))?")
  cands = []
  for entry in os.listdir(runs) if os.path.isdir(runs) else []:
    m = pat.fullmatch(entry)
    path = os.path.join(runs, entry)
    if not m or not os.path.isfile(os.path.join(path, "cfg.yaml")):
      continue
    try:   # "x_2" may be the suffix of x or an experiment named x_2
      if rundir.load_config(path).experiment.name != name:
        continue
    except (ConfigError, AttributeError, KeyError, OSError):
      continue
    cands.append(((m.group(1), int(m.group(2) or 1)), path))
  for _, path in sorted(cands, reverse=True):
    if not rundir.is_finished(path):
      return path
  return None


def _requested(config, overrides: Optional[Sequence[str]]) -> Dict[str, Any]:
  flat = flatten(to_plain(config))
  if overrides is None:
    return flat
  out = {}
  for o in overrides:
    key, _, text = o.partition("=")
    key = key.strip()
    out[key] = flat.get(key, literal(text))
  return out


def prepare(config, overrides: Optional[Sequence[str]] = None,
            is_main: bool = True) -> Tuple[Any, Optional[str]]:
  """-> (config to train with, run folder to resume or None for a new run).

  Runs before any data is read; only the main process (`is_main`) writes
  (accepted changes into cfg.yaml, leftovers of a start without epochs).
  """
  lg, tr = config.logging, config.phase1.trainer
  if not tr.resume:
    if lg.run_dir:
      _check_fresh_folder(lg.run_dir, is_main)
    return config, None
  path = lg.run_dir or find_unfinished(lg.output_root, config.experiment.name)
  if not path:
    raise ConfigError(
        f"phase1.trainer.resume=True but no unfinished run of experiment "
        f"'{config.experiment.name}' under {os.path.join(lg.output_root, 'runs')}"
        "; set logging.run_dir")
  done = completed_epochs(path)
  if not done:
    raise ConfigError(f"{path}: no checkpoint to resume from "
                      "(phase1.trainer.resume)")
  saved = rundir.load_config(path)
  saved_flat = flatten(to_plain(saved))
  changes, refused = {}, []
  for key, value in _requested(config, overrides).items():
    if key in _SELECTORS or (key in saved_flat and _same(value, saved_flat[key])):
      continue
    if key not in saved_flat and overrides is None:
      continue     # a key newer than the run: its default is used
    if _safe(key):
      changes[key] = value
    else:
      refused.append(key)
  if refused:
    raise ConfigError(
        f"{path}: resume keeps the run's own config (cfg.yaml); these keys "
        f"differ from it and cannot change on resume: {', '.join(sorted(refused))}"
        f" (changeable: {', '.join(SAFE_ON_RESUME)})")
  out = _merge(config, saved_flat, changes)
  if int(out.phase1.trainer.epochs) < done:
    raise ConfigError(f"{path}: phase1.trainer.epochs={out.phase1.trainer.epochs}"
                      f" is below the {done} epoch(s) already completed")
  out.phase1.trainer.resume = True
  out.logging.run_dir = path
  if changes and is_main:
    _record(path, out, saved_flat, changes)
  return out, path


def _merge(config, saved_flat: Dict[str, Any], changes: Dict[str, Any]):
  """A copy of `config` with every saved value, then the accepted changes;
  keys the saved config lacks (newer code) keep `config`'s defaults."""
  from thesis_jax.config_tools import set_dotted
  out = copy.deepcopy(config)
  with out.unlocked():
    for key, value in list(saved_flat.items()) + list(changes.items()):
      if key in _SELECTORS:
        continue
      try:
        set_dotted(out, key, tuple(value) if isinstance(value, list) else value)
      except (KeyError, TypeError, ValueError):
        pass   # a key this code no longer has
  return out


def _record(path: str, config, saved_flat: Dict[str, Any],
            changes: Dict[str, Any]) -> None:
  """cfg.yaml becomes the config in use; overrides.yaml gains the changes."""
  import yaml
  plain = to_plain(config)
  for key in _SELECTORS:           # as the run was started
    if key in saved_flat:
      *parents, last = key.split(".")
      node = plain
      for p in parents:
        node = node[p]
      node[last] = saved_flat[key]
  atomic_write(os.path.join(path, "cfg.yaml"),
               yaml.safe_dump(plain, sort_keys=False))
  ov = rundir.read_overrides(path)
  ov = [o for o in ov if o.partition("=")[0] not in changes]
  ov += [f"{k}={v}" for k, v in changes.items()]
  atomic_write(os.path.join(path, "overrides.yaml"),
               yaml.safe_dump(ov, default_flow_style=False))


def _check_fresh_folder(path: str, is_main: bool) -> None:
  """A new run may use an explicit folder only if no epoch was completed
  there; the leftovers of a start that completed none are cleared."""
  if not os.path.isdir(path):
    return
  epochs = sum(ev.get("moment") == "on_epoch_end" for ev in iter_events(path))
  done = completed_epochs(path)
  if epochs or done:
    raise ConfigError(
        f"{path}: already holds a run ({max(epochs, done)} completed epoch(s));"
        " resume it with phase1.trainer.resume=True or choose another "
        "logging.run_dir")
  for name in ("events.jsonl", "scalars.csv"):
    p = os.path.join(path, "facts", name)
    if is_main and os.path.exists(p):
      os.remove(p)
