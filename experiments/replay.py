"""`python -m experiments.replay` (from the repository root) = `thesis-jax replay`;
see thesis_jax/commands/replay.py and `--help`."""
from thesis_jax.commands.replay import run

if __name__ == "__main__":
  run(prog="python -m experiments.replay")
