"""`python -m experiments.train` (from the repository root) = `thesis-jax train`;
see thesis_jax/commands/train.py and `--help`."""
from thesis_jax.commands.train import run

if __name__ == "__main__":
  run(prog="python -m experiments.train")
