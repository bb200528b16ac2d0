"""The thesis default model: MLP encoder, VQ bottleneck, MLP decoder + globals head.

Run (synthetic events, no data file needed):
  python -m experiments.train --config configs/default.py
On a real file:
  python -m experiments.train --config configs/default.py \
      --config.data.path=tests/data/cms_hzz_tokens.h5 --config.phase1.trainer.epochs=20
Smoke mode (fast): --config configs/default.py:smoke; a tiny model: :tiny

Keys mirror the original thesis-ml so facts and reports line up.
"""
import ml_collections


def get_config(arg: str = ""):
  c = ml_collections.ConfigDict()
  c.experiment = ml_collections.ConfigDict({"name": "default"})
  c.loop = "ae"   # ae | gan_ae | diffusion_ae

  c.data = ml_collections.ConfigDict()
  c.data.path = ""                     # "" -> built-in synthetic events
  c.data.datasets = ml_collections.ConfigDict(
      {"x_train": "X_train", "x_val": "X_val", "x_test": "X_test"})
  c.data.n_tokens = 18
  c.data.limit_samples = 0             # > 0 keeps the first N rows per split
  c.data.normalize_globals = True      # False: raw MET in GeV (the original)
  c.data.synthetic = ml_collections.ConfigDict(
      {"n_train": 20000, "n_val": 4000, "n_test": 4000, "seed": 0})
  # --- reading large files (README "Data at any scale")
  c.data.reader = "auto"               # auto | memory | stream
  c.data.stream_above_gb = 2.0         # auto streams when memory would hold more
  c.data.shuffle_buffer = 524288       # events per shuffle window (two-level shuffle)
  c.data.shuffle_stripes = 1           # S > 1: each host reads only its stripes' blocks
  c.data.block_rows = 65536            # rows per read (rounded to the file's chunks)
  # --- end reading keys

  p = c.phase1 = ml_collections.ConfigDict()
  p.encoder = ml_collections.ConfigDict({
      "name": "mlp", "enc_hidden": (128, 128), "dropout": 0.0,
      "activation": "gelu", "id_embed_dim": 8})
  p.latent_space = ml_collections.ConfigDict({
      "name": "vq", "latent_dim": 32, "codebook_size": 512, "beta": 0.25,
      "ema": True, "ema_decay": 0.99, "eps": 1e-5,
      # Beyond the original (set all three to the other value to reproduce it):
      "count_padding": False,       # True: padding slots enter VQ statistics
      "bypass_padding": True,       # VQ: padding slots keep z_e (no code) unless count_padding
      "kmeans_init": True,          # k-means++ codebook init from data
      "kmeans_samples": 16384,      # real tokens used for the init
      "kmeans_iters": 10,
      "restart_dead_codes": True,   # re-seed codes unused for restart_after steps
      "restart_after": 100,
  })
  p.decoder = ml_collections.ConfigDict({
      "name": "mlp", "dec_hidden": (128, 128), "dropout": 0.0,
      "activation": "gelu", "globals_head": True, "globals_hidden": (32,),
      "globals_beta": 1.0})
  # --- graph / set-transformer keys (models/gnn.py, set_transformer.py)
  for sub in (p.encoder, p.decoder):
    sub.gnn_layers = 2        # gnn: message-passing blocks
    sub.gnn_hidden = 64       # gnn: node width
    sub.st_layers = 2         # set_transformer: attention blocks
    sub.st_hidden = 64        # set_transformer: token width
    sub.attn_heads = 4        # set_transformer: heads (divide st_hidden)
  p.decoder.gnn_edge_dim = 4  # gnn decoder: learned edge-distance channels
  p.encoder.st_zero_padding = True  # set_transformer encoder: z_e = 0 on padding
  # --- end graph keys
  p.loss = ml_collections.ConfigDict({"mask_padding": False})
  p.init = "default"   # default (flax: lecun-normal, zero bias) | torch
  p.trainer = ml_collections.ConfigDict({
      "epochs": 10, "batch_size": 128, "lr": 1e-3, "weight_decay": 0.0,
      "grad_clip": 1.0, "seed": 42,
      "steps_per_dispatch": 64,      # train steps per jitted lax.scan call
      "resume": False,               # continue logging.run_dir (or the newest
                                     # unfinished run of this name)
      "eval_batch_size": 1024,
      "packed": True,                # padding-free compute where exact (same
                                     # numbers); False: dense, every slot
      # --- thesis-ml compatibility (issue 15; the original: False, "last")
      "drop_last": True,             # False: keep the last partial batch
      "test_checkpoint": "best"})    # test metrics of the best | last model

  c.logging = ml_collections.ConfigDict({
      "output_root": "outputs", "run_dir": "", "save_artifacts": True,
      "make_plots": False,
      "families": ("losses", "metrics", "recon", "codebook", "latency"),
      "moments": ("on_epoch_end", "on_train_end"),
      "progress": True,
      "facts_semantics": "thesis_jax",   # original: rec_globals = beta x mse
      # --- experiment trackers (pip install 'thesis_jax[track]'; process 0)
      "trackers": "",        # comma-separated: tensorboard, mlflow, wandb
      "mlflow_uri": "",      # "" -> sqlite:///{output_root}/mlruns/mlflow.db
      "wandb_project": "",   # "" -> thesis_jax
      "wandb_mode": "",      # "" -> $WANDB_MODE, else offline (no network)
      # --- end trackers
  })

  c.distributed = ml_collections.ConfigDict({
      "coordinator_address": "", "num_processes": 0, "process_id": -1,
      "initialize": False})

  if arg == "tiny":   # the test suite's and sweep smoke tests' small model
    c.data.synthetic.update(n_train=512, n_val=256, n_test=256)
    p.encoder.enc_hidden = (32, 32)
    p.decoder.dec_hidden = (32, 32)
    p.latent_space.update(latent_dim=8, codebook_size=32, kmeans_samples=512,
                          restart_after=4)
    p.trainer.update(epochs=2, batch_size=64, eval_batch_size=256,
                     steps_per_dispatch=4)
  elif arg == "smoke":
    c.data.synthetic.update(n_train=2048, n_val=512, n_test=512)
    p.trainer.epochs = 2
    p.latent_space.kmeans_samples = 2048
  elif arg == "original":   # thesis-ml's behaviour number for number (issue 15)
    c.experiment.name = "original"
    c.data.normalize_globals = False           # raw MET (GeV)
    p.latent_space.update(name="none", count_padding=True, kmeans_init=False,
                          restart_dead_codes=False)
    p.init = "torch"
    p.trainer.update(eval_batch_size=p.trainer.batch_size, drop_last=False,
                     test_checkpoint="last")
    c.logging.facts_semantics = "original"
  elif arg:
    raise ValueError(f"configs/default.py: unknown variant '{arg}' (valid: "
                     "smoke, tiny, original)")
  return c
