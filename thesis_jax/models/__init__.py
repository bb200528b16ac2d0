"""Flax linen models: encoders, bottlenecks (incl. VQ), decoders, assembly.

Components by config name: `components.py`."""
from thesis_jax.models.autoencoder import AEOutput, TokenAutoencoder, build_autoencoder
