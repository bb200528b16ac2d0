"""Flax linen models: encoders, bottlenecks (incl. VQ), decoders, assembly."""
from thesis_jax.models.autoencoder import AEOutput, TokenAutoencoder, build_autoencoder
from thesis_jax.models.registry import BOTTLENECKS, DECODERS, ENCODERS
