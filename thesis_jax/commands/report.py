"""`thesis-jax report` / `python -m experiments.report`: a report over
finished runs.

  thesis-jax report --config compare_tokenizers \
      --config.inputs.sweep_dir=outputs/multiruns/exp_20261127-013228_compare_latent_spaces
  thesis-jax report --config compare_globals_heads \
      --config.inputs.run_dirs=outputs/runs/run_A,outputs/runs/run_B \
      --config.inference.enabled=True
"""
from __future__ import annotations

from thesis_jax.cli import Parser, UsageError, run_command


def _main(args, config, overrides, config_file) -> None:
  del args, overrides, config_file
  if config is None:
    raise UsageError("give --config (a report config name such as "
                     "compare_tokenizers, or a file); see --help")
  from thesis_jax.reports import run_report
  print(run_report(config).text)


def run(argv=None, prog: str = "thesis-jax report") -> None:
  p = Parser(prog=prog, description="Build a report over finished runs.",
             usage=f"{prog} --config NAME_OR_FILE [--config.KEY=VALUE ...]")
  p.add_argument("--config", help="report config name (compare_tokenizers, "
                 "compare_globals_heads) or file")
  run_command("report", p, _main, argv, default_config="compare_tokenizers")
