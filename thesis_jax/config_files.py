"""Config files found by path or by name, from any working directory.

`--config default`, `--config default:smoke`, `--config compare_globals_heads`
(a sweep) or `--config configs/gan_ae.py` all work: a name is looked up in
the bundled configs folder -- the repository's `configs/` in a checkout, the
installed `thesis_jax/configs/` after `pip install` (pyproject maps the one
onto the other) -- under the command's subfolder first (sweep:
`experiments/`, report: `reports/`), then at the top.

Config files load their siblings with `sibling(__file__, "default")` (by
path, not by package name), so they work in both places and when copied.
"""
from __future__ import annotations

import importlib.util
import os
from typing import List, Tuple

from thesis_jax.errors import ConfigError

SUBFOLDER = {"train": "", "sweep": "experiments", "search": "search",
             "report": "reports"}


def configs_root() -> str:
  """The bundled configs folder: the checkout's `configs/` next to the
  package, else the installed `thesis_jax/configs/`."""
  pkg = os.path.dirname(os.path.abspath(__file__))
  for cand in (os.path.join(os.path.dirname(pkg), "configs"),
               os.path.join(pkg, "configs")):
    if os.path.isfile(os.path.join(cand, "default.py")):
      return cand
  return os.path.join(pkg, "configs")


def available(kind: str = "train") -> List[str]:
  """Names `--config` accepts for `kind` (train | sweep | report)."""
  folder = os.path.join(configs_root(), SUBFOLDER.get(kind, ""))
  if not os.path.isdir(folder):
    return []
  return sorted(f[:-3] for f in os.listdir(folder)
                if f.endswith(".py") and not f.startswith("_")
                and f not in ("base.py", "inference_defaults.py"))


def resolve(spec: str, kind: str = "train") -> Tuple[str, str]:
  """'default:smoke' / 'configs/default.py' / a name -> (absolute file path,
  variant argument). Raises ConfigError listing the names on a miss."""
  path, _, arg = spec.partition(":")
  if os.path.isfile(path):
    return os.path.abspath(path), arg
  name = path[:-3] if path.endswith(".py") else path
  root = configs_root()
  rel = name[len("configs/"):] if name.startswith("configs/") else name
  for sub in (SUBFOLDER.get(kind, ""), ""):
    cand = os.path.join(root, sub, rel + ".py")
    if os.path.isfile(cand):
      return cand, arg
  raise ConfigError(f"--config {spec}: no such file or config name; names: "
                    + ", ".join(available(kind)))


def load_module(path: str):
  """Executes the Python file at `path` as a fresh module."""
  name = "thesis_jax_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def sibling(file: str, name: str):
  """The config module `name` ('default', '__init__') next to `file`."""
  return load_module(os.path.join(os.path.dirname(os.path.abspath(file)),
                                  name + ".py"))


def load(spec: str, kind: str = "train"):
  """-> (ConfigDict, absolute file path). A variant the file rejects
  (ValueError from get_config) becomes a ConfigError."""
  path, arg = resolve(spec, kind)
  module = load_module(path)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"--config {spec}: {path} has no get_config()")
  try:
    config = module.get_config(arg) if arg else module.get_config()
  except ValueError as e:
    raise ConfigError(f"--config {spec}: {e}") from None
  return config, path
