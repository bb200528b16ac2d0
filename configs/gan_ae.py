"""Adversarial autoencoder: the thesis VQ autoencoder as the generator, a set
discriminator judging real events against their reconstructions.

Run:
  python -m experiments.train --config configs/gan_ae.py
On the real CMS test events:
  python -m experiments.train --config configs/gan_ae.py \
      --config.data.path=tests/data/cms_hzz_tokens.h5
Options (the `gan` block; its defaults are here, the loop is
thesis_jax/train/loops/gan_ae.py):
  --config.gan.loss=hinge            non_saturating | hinge | least_squares
  --config.gan.adv_weight=0.1        adversarial term vs reconstruction
  --config.gan.r1_gamma=1.0          R1 penalty on real events
  --config.gan.codebook_fakes=True   also judge decodings of random codes
Graph generator: --config.phase1.encoder.name=gnn --config.phase1.decoder.name=gnn
Smoke mode (tiny and fast): --config configs/gan_ae.py:smoke
"""
import ml_collections

from thesis_jax.config_files import sibling


def gan_block() -> ml_collections.ConfigDict:
  """The `gan` config block with its defaults."""
  return ml_collections.ConfigDict({
      "loss": "non_saturating",     # non_saturating | hinge | least_squares
      "adv_weight": 0.05,           # adversarial term vs reconstruction
      "warmup_steps": 0,            # linear ramp of adv_weight (0: none)
      "r1_gamma": 1.0,              # R1 penalty weight (gamma / 2 * E||grad||^2)
      "d_steps": 1,                 # discriminator updates per generator update
      "d_lr": 2e-4, "d_beta1": 0.5, "d_beta2": 0.9,
      "d_hidden": 64, "d_layers": 2, "d_activation": "leaky_relu",
      "codebook_fakes": False,      # VQ: also judge decodings of random codes
  })


default_config = sibling(__file__, "default").get_config


def get_config(arg: str = ""):
  c = default_config("smoke" if arg == "smoke" else "")
  c.experiment.name = "gan_ae"
  c.loop = "gan_ae"
  c.gan = gan_block()
  c.gan.update(loss="non_saturating", adv_weight=0.05, warmup_steps=200,
               r1_gamma=1.0)
  # With --config.logging.make_plots=True, also draw the adversarial histories.
  c.logging.families = tuple(c.logging.families) + ("adversarial",)
  if arg == "smoke":
    c.gan.update(warmup_steps=10, d_hidden=32)
  elif arg:
    raise ValueError(f"configs/gan_ae.py: unknown variant '{arg}' (valid: smoke)")
  return c
