"""Imports every training loop so it registers itself in LOOPS."""
from thesis_jax.train import ae_loop  # noqa: F401
