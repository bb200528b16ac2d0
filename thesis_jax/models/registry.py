"""Component registries. Builders take keyword arguments:

ENCODERS:    build(cfg, *, num_types, latent_dim, norm) -> module
             module(cont [B,T,4], ids [B,T] int, *, train) -> z_e [B,T,D]
BOTTLENECKS: build(cfg, *, latent_dim) -> module
             module(z_e [B,T,D], mask [B,T] bool (slots counted in VQ statistics), *, train)
               -> (z [B,T,D], aux)
             aux: `commit_tok` [B,T] (beta included), `codebook_tok` [B,T],
             `counts` [K] (code usage over mask; K=0 for non-VQ), `perplex`
             (scalar or None), `indices` [B,T] (or None).
DECODERS:    build(cfg, *, latent_dim, cont_dim, num_globals, norm) -> module
             module(z [B,T,D], mask [B,T] bool, *, train)
               -> (x_hat [B,T,4], globals_hat [B,2] or None)

`cfg` is the component's ConfigDict (`phase1.encoder`, ...); `norm` is the run's
`Normalizer` (for modules that need physical units, e.g. graph edge features).
"""
from thesis_jax.registry import Registry

ENCODERS = Registry("encoder", "phase1.encoder.name")
BOTTLENECKS = Registry("latent space", "phase1.latent_space.name")
DECODERS = Registry("decoder", "phase1.decoder.name")
