"""One-line meanings of config keys, shown by `thesis-jax COMMAND --help`.

Keyed by dotted key; a sweep's `base.` prefix is looked up without it. A key
not listed here takes the `# comment` on the line that sets it in the config
files (or the modules holding a block's defaults, e.g. `gan`).
"""
from __future__ import annotations

import os
import re
from typing import Dict, Sequence

MEANINGS = {
  "experiment.name": "run folder suffix: runs/run_{stamp}_{name}",
  "loop": "training loop: ae | gan_ae | diffusion_ae",
  "data.path": "HDF5 file of tokenised events; '' = built-in synthetic events",
  "data.datasets.x_train": "HDF5 dataset holding the training events",
  "data.datasets.x_val": "HDF5 dataset holding the validation events",
  "data.datasets.x_test": "HDF5 dataset holding the test events",
  "data.n_tokens": "tokens per event (MET + objects, padded)",
  "data.limit_samples": "> 0: keep only the first N events per split",
  "data.normalize_globals": "standardise MET/MET-phi (False: raw GeV, as the original)",
  "data.synthetic.n_train": "synthetic training events",
  "data.synthetic.n_val": "synthetic validation events",
  "data.synthetic.n_test": "synthetic test events",
  "data.synthetic.seed": "seed of the synthetic event generator",
  "data.shuffle_stripes": "S > 1: train blocks dealt to S stripes, a host reads only its own (S % hosts == 0)",
  "phase1.encoder.name": "encoder: mlp | gnn | set_transformer",
  "phase1.encoder.enc_hidden": "MLP encoder hidden widths, e.g. 128,128",
  "phase1.encoder.dropout": "dropout rate in [0, 1)",
  "phase1.encoder.activation": "activation function (gelu, relu, ...)",
  "phase1.encoder.id_embed_dim": "width of the particle-type embedding",
  "phase1.encoder.gnn_layers": "gnn: message-passing blocks",
  "phase1.encoder.gnn_hidden": "gnn: node width",
  "phase1.encoder.st_layers": "set_transformer: attention blocks",
  "phase1.encoder.st_hidden": "set_transformer: token width",
  "phase1.encoder.attn_heads": "set_transformer: attention heads (divide st_hidden)",
  "phase1.encoder.st_zero_padding": "set_transformer: padding latent 0 before and after the bottleneck (stability)",
  "phase1.latent_space.name": "bottleneck: vq | linear | none",
  "phase1.latent_space.latent_dim": "latent width per token",
  "phase1.latent_space.codebook_size": "VQ: number of codes",
  "phase1.latent_space.beta": "VQ: commitment-loss weight",
  "phase1.latent_space.ema": "VQ: update codes by EMA (False: codebook loss)",
  "phase1.latent_space.ema_decay": "VQ: EMA decay in (0, 1)",
  "phase1.latent_space.eps": "VQ: Laplace smoothing of EMA cluster sizes",
  "phase1.latent_space.count_padding": "VQ: padding slots enter code statistics (the original)",
  "phase1.latent_space.bypass_padding": "VQ without count_padding: padding slots go around the codebook (stability)",
  "phase1.latent_space.kmeans_init": "VQ: k-means++ codebook init from data",
  "phase1.latent_space.kmeans_samples": "VQ: real tokens used for the k-means init",
  "phase1.latent_space.kmeans_iters": "VQ: k-means iterations of the init",
  "phase1.latent_space.restart_dead_codes": "VQ: re-seed codes unused for restart_after steps",
  "phase1.latent_space.restart_after": "VQ: steps without use before a code is re-seeded",
  "phase1.decoder.name": "decoder: mlp | gnn | set_transformer",
  "phase1.decoder.dec_hidden": "MLP decoder hidden widths, e.g. 128,128",
  "phase1.decoder.dropout": "dropout rate in [0, 1)",
  "phase1.decoder.activation": "activation function (gelu, relu, ...)",
  "phase1.decoder.globals_head": "predict MET/MET-phi with a separate head",
  "phase1.decoder.globals_hidden": "globals head hidden widths",
  "phase1.decoder.globals_beta": "weight of the globals loss",
  "phase1.decoder.gnn_layers": "gnn: message-passing blocks",
  "phase1.decoder.gnn_hidden": "gnn: node width",
  "phase1.decoder.st_layers": "set_transformer: attention blocks",
  "phase1.decoder.st_hidden": "set_transformer: token width",
  "phase1.decoder.attn_heads": "set_transformer: attention heads (divide st_hidden)",
  "phase1.decoder.gnn_edge_dim": "gnn decoder: learned edge-distance channels",
  "phase1.loss.mask_padding": "leave padding tokens out of the loss",
  "phase1.trainer.epochs": "training epochs",
  "phase1.trainer.batch_size": "events per step (all devices together)",
  "phase1.trainer.lr": "AdamW learning rate",
  "phase1.trainer.weight_decay": "AdamW weight decay",
  "phase1.trainer.grad_clip": "global gradient-norm clip (0: off)",
  "phase1.trainer.seed": "seed of init, shuffling and dropout",
  "phase1.trainer.steps_per_dispatch": "train steps per compiled call (speed only)",
  "phase1.trainer.resume": "continue logging.run_dir (or the newest unfinished run of this name)",
  "phase1.trainer.eval_batch_size": "events per evaluation batch (speed only)",
  "logging.output_root": "folder holding runs/ and multiruns/",
  "logging.run_dir": "exact run folder ('' = a new one under output_root/runs)",
  "logging.save_artifacts": "write checkpoints",
  "logging.make_plots": "draw training figures into the run's train_figures/",
  "logging.families": "figure families: losses,metrics,recon,codebook,latency,...",
  "logging.moments": "when figures are drawn: on_epoch_end,on_train_end,...",
  "logging.progress": "print a line per epoch with an ETA",
  "distributed.coordinator_address": "multi-host: host:port of process 0",
  "distributed.num_processes": "multi-host: number of processes (0: single)",
  "distributed.process_id": "multi-host: this process's index (-1: from the cluster)",
  "distributed.initialize": "multi-host: call jax.distributed.initialize",
  # adversarial loop (configs/gan_ae.py)
  "gan.d_lr": "discriminator Adam learning rate",
  "gan.d_beta1": "discriminator Adam beta1",
  "gan.d_beta2": "discriminator Adam beta2",
  "gan.d_hidden": "discriminator width",
  "gan.d_layers": "discriminator blocks",
  "gan.d_activation": "discriminator activation",
  # sweeps (experiment configs)
  "grid.latent_space": "swept latent spaces, e.g. none,linear,vq",
  "grid.globals_beta": "swept globals-loss weights, e.g. 0,1,10",
  "grid.seed": "swept seeds, e.g. 0,1,2",
  "axes": "grid axes, slowest first",
  "report": "report config run on the finished sweep",
  # reports
  "name": "report folder suffix",
  "inputs.sweep_dir": "a multiruns/exp_* folder (or a runs/ folder)",
  "inputs.run_dirs": "run folders, comma-separated",
  "env.output_root": "where reports/ goes ('' = next to the inputs)",
  "select.encoder": "keep runs with these encoders (comma-separated)",
  "select.tokenizer": "keep runs with these latent spaces (comma-separated)",
  "select.seed": "keep runs with these seeds (comma-separated)",
  "figures.dpi": "figure resolution",
  "thresholds.val_loss": "time-to-threshold level (<= 0: the worst best val loss)",
  "inference.enabled": "also run the models on events (ROC, anomaly scores)",
  "inference.data_path": "HDF5 file for inference ('' = each run's data.path)",
  "inference.split": "dataset split used for inference",
  "inference.max_events": "events per run used for inference",
  "inference.block_rows": "rows read and scored at a time (0 = the run's data.block_rows)",
  "inference.batch_size": "events per inference batch",
  "inference.checkpoint": "which checkpoint: best | last",
  "inference.seed": "seed of the corruptions",
  "inference.score": "anomaly score",
}


# Modules that define a config block's defaults with commented lines.
DEFAULT_MODULES = ("thesis_jax/train/gan_steps.py",)


def meaning(key: str, comments: Dict[str, str] = None) -> str:
  """The key's one-line meaning ('' if none is known)."""
  k = key[len("base."):] if key.startswith("base.") else key
  if k in MEANINGS:
    return MEANINGS[k]
  return (comments or {}).get(k.rpartition(".")[2], "")


def source_comments(files: Sequence[str]) -> Dict[str, str]:
  """{leaf name: trailing comment} of lines setting `"leaf": ...`,
  `.leaf = ...` or `leaf=...` in `files` (first one wins)."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  files = list(files) + [os.path.join(root, m) for m in DEFAULT_MODULES]
  pat = re.compile(r"""(?:["'](\w+)["']\s*:|\.(\w+)\s*=(?!=)|\b(\w+)=)[^#]*#\s*(.+)$""")
  out: Dict[str, str] = {}
  for path in files:
    try:
      with open(path) as f:
        lines = f.read().splitlines()
    except OSError:
      continue
    for line in lines:
      m = pat.search(line)
      if m:
        name = next(g for g in m.groups()[:3] if g)
        out.setdefault(name, m.group(4).strip())
  return out
