"""Encoders, bottlenecks and decoders by config name, and their contracts.

ENCODERS:    build(cfg, *, num_types, latent_dim, norm) -> module
             module(cont [B,T,4], ids [B,T] int, *, train) -> z_e [B,T,D]
BOTTLENECKS: build(cfg, *, latent_dim) -> module
             module(z_e [B,T,D], mask [B,T] bool (slots counted in VQ statistics), *, train,
                    sample_index=None, present=None)   (padding-free callers:
                    `models/packed.py`; `vq.VectorQuantizer` says what they do)
               -> (z [B,T,D], aux)
             aux: `commit_tok` [B,T] (beta included), `codebook_tok` [B,T],
             `counts` [K] (code usage over mask; K=0 for non-VQ), `perplex`
             (scalar or None), `indices` [B,T] (or None).
DECODERS:    build(cfg, *, latent_dim, cont_dim, num_globals, norm) -> module
             module(z [B,T,D], mask [B,T] bool, *, train)
               -> (x_hat [B,T,4], globals_hat [B,2] or None)

`cfg` is the component's ConfigDict (`phase1.encoder`, ...); `norm` is the run's
`Normalizer` (for modules that need physical units, e.g. graph edge features).
To add a component: write its module and builder, add one line to a table here.
"""
from thesis_jax.errors import lookup
from thesis_jax.models import bottlenecks, decoders, encoders, gnn, set_transformer, vq

ENCODERS = {
    "mlp": encoders.build_mlp,
    "gnn": gnn.build_gnn_encoder,
    "set_transformer": set_transformer.build_set_transformer_encoder,
}
# The config calls the bottleneck `latent_space` (the original's key).
BOTTLENECKS = {
    "none": bottlenecks.build_identity,
    "linear": bottlenecks.build_linear,
    "vq": vq.build_vq,
}
DECODERS = {
    "mlp": decoders.build_mlp,
    "gnn": gnn.build_gnn_decoder,
    "set_transformer": set_transformer.build_set_transformer_decoder,
}


def build_encoder(phase1, *, num_types: int, norm=None):
  build = lookup(ENCODERS, phase1.encoder.name, "encoder", "phase1.encoder.name")
  return build(phase1.encoder, num_types=num_types,
               latent_dim=int(phase1.latent_space.latent_dim), norm=norm)


def build_bottleneck(phase1):
  build = lookup(BOTTLENECKS, phase1.latent_space.name, "latent space",
                 "phase1.latent_space.name")
  return build(phase1.latent_space, latent_dim=int(phase1.latent_space.latent_dim))


def build_decoder(phase1, *, cont_dim: int, num_globals: int, norm=None):
  build = lookup(DECODERS, phase1.decoder.name, "decoder", "phase1.decoder.name")
  return build(phase1.decoder, latent_dim=int(phase1.latent_space.latent_dim),
               cont_dim=cont_dim, num_globals=num_globals, norm=norm)
