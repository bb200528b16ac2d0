"""`python -m experiments.sweep` (from the repository root) = `thesis-jax sweep`;
see thesis_jax/commands/sweep.py and `--help`."""
from thesis_jax.commands.sweep import run

if __name__ == "__main__":
  run(prog="python -m experiments.sweep")
