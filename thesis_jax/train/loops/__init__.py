"""Every training loop, by `config.loop` name.

A loop is one module here with two functions:

  check(config)            raise ConfigError naming the key for bad values of
                           the config block the loop owns (called before any
                           data is read or any folder is written)
  load_data(config)        optional: the loop's own dataset (default:
                           data.pipeline.load_dataset(config.data)); any
                           object with splits (Events or dicts of per-event
                           arrays), norm, num_types, n_tokens, source
  build(config, dataset)   -> loop_api.Loop: the pure steps (train_step,
                           eval_step, score_step, reconstruct) and host
                           functions (init_state, data_init, record,
                           test_metrics) the shared driver calls

Build the steps from `loop_parts.py` (apply a model, apply gradients, weighted
sums, finalise a split, per-event errors, k-means init) or from another loop's
functions (`gan_ae` composes `ae`); never subclass.

To add a loop: write `loops/<name>.py` and add it to `LOOPS` below; put the
defaults of its config block in `configs/<name>.py` (the loop reads them from
the config and checks them in `check`). The driver, checkpoints, facts,
resume, figures and inference need no change.
"""
from thesis_jax.train.loops import ae, diffusion_ae, gan_ae, token_prior

LOOPS = {
    "ae": ae,                       # the thesis autoencoder (MSE)
    "gan_ae": gan_ae,               # + a set discriminator on reconstructions
    "diffusion_ae": diffusion_ae,   # encoder + bottleneck + denoising decoder
    "token_prior": token_prior,     # phase 2: transformer over a VQ run's codes
}
