"""`thesis-jax train` / `python -m experiments.train`: train one model.

  thesis-jax train --config default
  thesis-jax train --config default --config.data.path=tests/data/cms_hzz_tokens.h5 \
      --config.phase1.latent_space.name=vq --config.phase1.trainer.epochs=20
"""
from __future__ import annotations

from thesis_jax.cli import Parser, run_command


def _main(args, config, overrides, config_file) -> None:
  del args
  from thesis_jax.cli import UsageError
  if config is None:
    raise UsageError("give --config (a config name such as default, or a "
                     "file); see --help")
  import thesis_jax
  result = thesis_jax.train_model(config, overrides)
  print(f"run folder: {result.run_dir}")


def run(argv=None, prog: str = "thesis-jax train") -> None:
  parser = Parser(prog=prog, description="Train one model (a run folder "
                  "under logging.output_root/runs).",
                  usage=f"{prog} --config NAME_OR_FILE[:variant] "
                  "[--config.KEY=VALUE ...]")
  parser.add_argument("--config", help="config name (default, gan_ae, "
                      "diffusion_ae, ...) or a .py file, optionally :variant")
  run_command("train", parser, _main, argv, default_config="default")
