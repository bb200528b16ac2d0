"""Diffusion autoencoder: the default encoder + VQ bottleneck, a denoiser as decoder.

Run (synthetic events):
  python -m experiments.train --config configs/diffusion_ae.py
On a real file, with a transformer denoiser and eps-prediction:
  python -m experiments.train --config configs/diffusion_ae.py \
      --config.data.path=tests/data/cms_hzz_tokens.h5 \
      --config.phase1.diffusion.denoiser=transformer \
      --config.phase1.diffusion.prediction=eps --config.phase1.diffusion.clip_x0=10
Smoke mode (tiny and fast): --config configs/diffusion_ae.py:smoke

`phase1.encoder.name` / `phase1.latent_space.name` choose the encoder and
bottleneck as in the `ae` loop; `phase1.decoder` is used only for its globals
head (globals_head, globals_hidden, globals_beta, activation).
"""
import ml_collections

from thesis_jax.config_files import sibling

_default = sibling(__file__, "default").get_config


def get_config(arg: str = ""):
  c = _default()
  c.experiment.name = "diffusion_ae"
  c.loop = "diffusion_ae"
  c.logging.families = tuple(c.logging.families) + ("diffusion",)
  c.phase1.diffusion = ml_collections.ConfigDict({
      "denoiser": "mlp",          # mlp (per token) | transformer (masked attention)
      "hidden": 128, "depth": 3,
      "heads": 4,                 # transformer only; hidden % heads == 0
      "time_embed_dim": 64, "id_embed_dim": 8,
      "cond": "token",            # token: z[b,t] + event latent | event: event latent only
      "activation": "gelu",
      "num_timesteps": 1000, "cosine_s": 0.008,
      "prediction": "v",          # v | eps
      "sample_steps": 5,          # DDIM steps for reconstructions and scores
      "clip_x0": 0.0,             # > 0: clip x0_hat to [-clip, clip] while sampling
      "ema_decay": 0.999,         # EMA of the weights used for evaluation
      "eval_seed": 0,             # fixed noise for validation and scores
      "loss_bins": 10,            # val denoising loss per noise-level bin (facts)
      "score_levels": (0.1, 0.3, 0.5, 0.7, 0.9),  # noise levels for denoise_loss
  })
  if arg == "smoke":
    c.data.synthetic.update(n_train=2048, n_val=512, n_test=512)
    c.phase1.trainer.epochs = 2
    c.phase1.latent_space.kmeans_samples = 2048
  elif arg:
    raise ValueError(f"configs/diffusion_ae.py: unknown variant '{arg}' (valid: smoke)")
  return c
