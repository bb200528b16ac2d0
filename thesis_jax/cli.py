"""The command-line surface shared by `thesis-jax {train,sweep,report}` and
`python -m experiments.{train,sweep,report}`.

`--config NAME_OR_FILE[:variant]` picks a config (see config_files.py);
`--config.a.b=value` (or `--config.a.b value`) sets a key, typed like its
default (`64,64` for a tuple). `--help` lists the command's flags and every
config key with its default and meaning.

Exit codes: 0 done; 2 the command line or config is wrong (nothing was run,
no folder made); 1 the run failed (data, outputs, training); 75 training
stopped by SIGTERM/SIGINT after saving (rerun to resume, errors.PREEMPTED_EXIT);
130 interrupted elsewhere.
Every user error is one line `error: ...` on stderr, no traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional, Sequence, Tuple

from thesis_jax.errors import ConfigError, Preempted, ThesisJaxError

USAGE_EXIT, FAIL_EXIT = 2, 1


class UsageError(ConfigError):
  """A bad command line (unknown flag, missing value)."""


class Parser(argparse.ArgumentParser):
  """argparse with one-line errors (raised, so the caller prints them)."""

  def error(self, message):
    raise UsageError(f"{message} (see {self.prog} --help)")


def split_config_args(argv: Sequence[str], flag: str = "config"
                      ) -> Tuple[Optional[str], List[str], List[str]]:
  """argv -> (--config value or None, ["a.b=v", ...], the other args)."""
  spec, overrides, rest = None, [], []
  prefix, i = f"--{flag}.", 0
  while i < len(argv):
    a = argv[i]
    if a == f"--{flag}" or a.startswith(f"--{flag}="):
      if "=" in a:
        spec = a.split("=", 1)[1]
      elif i + 1 < len(argv):
        spec, i = argv[i + 1], i + 1
      else:
        raise UsageError(f"--{flag} needs a value (a config name or file)")
    elif a.startswith(prefix):
      body = a[len(prefix):]
      if "=" not in body:
        if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
          raise UsageError(f"{a} needs a value ({a}=...)")
        body, i = f"{body}={argv[i + 1]}", i + 1
      overrides.append(body)
    else:
      rest.append(a)
    i += 1
  return spec, overrides, rest


def config_overrides(argv: Sequence[str], flag: str = "config") -> List[str]:
  """`--config.a.b=v` / `--config.a.b v` flags -> ["a.b=v", ...]."""
  return split_config_args(argv, flag)[1]


def config_help(config, file: str = "") -> str:
  """Every key of `config` with its default and one-line meaning."""
  import glob
  import os
  from thesis_jax.config_docs import meaning, source_comments
  from thesis_jax.config_files import configs_root
  from thesis_jax.config_tools import leaf_keys
  keys = leaf_keys(config)
  files = ([file] if file else []) + sorted(
      glob.glob(os.path.join(configs_root(), "**", "*.py"), recursive=True))
  comments = source_comments(files)
  width = min(max((len(k) for k in keys), default=0), 42)
  lines = [f"config keys{f' of {file}' if file else ''} "
           "(set with --config.KEY=VALUE; lists as a,b):"]
  for k in keys:
    node = config
    for p in k.split("."):
      node = node[p]
    default = ",".join(map(str, node)) if isinstance(node, tuple) else repr(node)
    text = meaning(k, comments)
    lines.append(f"  {k:<{width}} = {default}" + (f"   # {text}" if text else ""))
  return "\n".join(lines)


def _quiet_logs() -> None:
  try:   # keep Orbax's info logs quiet
    from absl import logging
    logging.set_verbosity(logging.WARNING)
  except ImportError:
    pass


def run_command(kind: str, parser: Parser, main: Callable, argv=None,
                default_config: str = "") -> None:
  """Parses argv for command `kind` and calls `main(args, config, overrides,
  config_file)`; exits with the codes above. `default_config`: the config
  whose keys `--help` lists when no --config is given."""
  from thesis_jax import config_files
  from thesis_jax.config_tools import apply_assignments, resolve_paths
  argv = sys.argv[1:] if argv is None else list(argv)
  try:
    spec, overrides, rest = split_config_args(argv)
    if "-h" in rest or "--help" in rest:
      print(parser.format_help())
      print("config names: " + ", ".join(config_files.available(kind)))
      name = spec or default_config
      if name:
        config, path = config_files.load(name, kind)
        print(config_help(config, path))
      sys.exit(0)
    args = parser.parse_args(rest)
    config, path = None, ""
    if spec is not None:
      config, path = config_files.load(spec, kind)
      overrides = apply_assignments(config, overrides)
      if kind != "train":   # training resolves (and records) its own paths
        resolve_paths(config)
    elif overrides:
      raise UsageError(f"--config.{overrides[0]} given without --config")
    _quiet_logs()
    main(args, config, overrides, path)
  except ThesisJaxError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(e.exit_code if isinstance(e, Preempted) else
             USAGE_EXIT if isinstance(e, ConfigError) else FAIL_EXIT)
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr, flush=True)
    sys.exit(130)
