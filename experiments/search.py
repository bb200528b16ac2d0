"""`python -m experiments.search` (from the repository root) = `thesis-jax search`;
see thesis_jax/commands/search.py and `--help`."""
from thesis_jax.commands.search import run

if __name__ == "__main__":
  run(prog="python -m experiments.search")
