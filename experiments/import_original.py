"""`python -m experiments.import_original` (from the repository root) =
`thesis-jax import_original`; see thesis_jax/commands/import_original.py."""
from thesis_jax.commands.import_original import run

if __name__ == "__main__":
  run(prog="python -m experiments.import_original")
