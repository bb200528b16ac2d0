"""`python -m thesis_jax COMMAND ...` = `thesis-jax COMMAND ...`."""
from thesis_jax.commands import main

if __name__ == "__main__":
  main()
