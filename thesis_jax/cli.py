"""Helpers shared by the `experiments/*.py` entry points."""
from __future__ import annotations

import sys
from typing import List, Sequence

from thesis_jax.errors import ThesisJaxError


def config_overrides(argv: Sequence[str], flag: str = "config") -> List[str]:
  """`--config.a.b=v` / `--config.a.b v` flags -> ["a.b=v", ...]."""
  out, prefix = [], f"--{flag}."
  it = iter(range(len(argv)))
  for i in it:
    a = argv[i]
    if a.startswith(prefix):
      body = a[len(prefix):]
      if "=" in body:
        out.append(body)
      elif i + 1 < len(argv):
        out.append(f"{body}={argv[i + 1]}")
        next(it, None)
  return out


def run_main(main) -> None:
  """absl app.run with user errors printed as one line and exit code 1."""
  from absl import app, logging

  def wrapped(argv):
    logging.set_verbosity(logging.WARNING)   # keep Orbax's info logs quiet
    try:
      return main(argv)
    except ThesisJaxError as e:
      print(f"error: {e}", file=sys.stderr, flush=True)
      sys.exit(1)
  app.run(wrapped)
