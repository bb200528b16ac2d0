"""Flax linen models: encoders, bottlenecks (incl. VQ), decoders, assembly."""
from thesis_jax.models.autoencoder import AEOutput, TokenAutoencoder, build_autoencoder
from thesis_jax.models.registry import BOTTLENECKS, DECODERS, ENCODERS
# Registers the graph and set-transformer encoders/decoders (issue 5).
from thesis_jax.models import gnn as _gnn, set_transformer as _st  # noqa: F401,E402
