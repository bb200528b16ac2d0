"""`python -m experiments.report` (from the repository root) = `thesis-jax report`;
see thesis_jax/commands/report.py and `--help`."""
from thesis_jax.commands.report import run

if __name__ == "__main__":
  run(prog="python -m experiments.report")
