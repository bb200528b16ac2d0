"""`thesis-jax COMMAND ...` (also `python -m thesis_jax COMMAND ...`):

  thesis-jax train  --config default [--config.KEY=VALUE ...]
  thesis-jax sweep  --config compare_globals_heads [--parallel 2 ...]
  thesis-jax report --config compare_tokenizers --config.inputs.sweep_dir=...
  thesis-jax search --config vq_ae [--parallel 2 ...]
  thesis-jax replay --trackers tensorboard,mlflow --runs RUN_FOLDER[,...]
  thesis-jax import_original --run_dir THESIS_ML_RUN [--out COPY]
  thesis-jax make_synthetic --events N --out FILE.h5 [--compression lzf]
  thesis-jax COMMAND --help      flags, config names, every config key

Works from any directory: configs are found by name (thesis_jax/config_files.py).
"""
from __future__ import annotations

import sys

COMMANDS = ("train", "sweep", "search", "report", "replay", "import_original",
            "make_synthetic")


def main(argv=None) -> None:
  argv = sys.argv[1:] if argv is None else list(argv)
  if not argv or argv[0] in ("-h", "--help"):
    print(__doc__.strip())
    sys.exit(0 if argv else 2)
  cmd, rest = argv[0], argv[1:]
  if cmd not in COMMANDS:
    import difflib
    hint = difflib.get_close_matches(cmd, COMMANDS, 1)
    print(f"error: unknown command '{cmd}'"
          + (f" (did you mean {hint[0]}?)" if hint else "")
          + f"; commands: {', '.join(COMMANDS)}", file=sys.stderr)
    sys.exit(2)
  import importlib
  importlib.import_module(f"thesis_jax.commands.{cmd}").run(rest, prog=f"thesis-jax {cmd}")
