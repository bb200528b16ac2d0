"""Imports every training loop so it registers itself in LOOPS."""
from thesis_jax.train import ae_loop  # noqa: F401
from thesis_jax.train import diffusion_loop  # noqa: F401
from thesis_jax.train import gan_loop  # noqa: F401
