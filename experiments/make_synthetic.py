"""`python -m experiments.make_synthetic` (from the repository root) =
`thesis-jax make_synthetic`; see thesis_jax/commands/make_synthetic.py."""
from thesis_jax.commands.make_synthetic import run


def main(argv=None) -> None:
  run(argv, prog="python -m experiments.make_synthetic")


if __name__ == "__main__":
  main()
