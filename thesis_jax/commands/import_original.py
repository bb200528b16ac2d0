"""`thesis-jax import_original` / `python -m experiments.import_original`:
convert a thesis-ml (PyTorch) run folder so thesis_jax can evaluate it.

  thesis-jax import_original --run_dir outputs/runs/run_..._job0
  thesis-jax import_original --run_dir RUN --checkpoint last \
      --data_path tests/data/cms_hzz_tokens.h5 --out outputs/imported/run_x

Writes `cfg.yaml` (a thesis_jax config in the original mode) and
`checkpoints/` into the run folder (or into a copy at --out); `best_val.pt` /
`last.pt` are read without torch (a restricted unpickler: tensors, storages
and ordered dicts only). The report's inference then scores the run.
"""
from __future__ import annotations

from thesis_jax.cli import Parser, run_command


def _main(args, config, overrides, config_file) -> None:
  del config, overrides, config_file
  from thesis_jax import config_files
  from thesis_jax.interop.original_run import import_run
  base, _ = config_files.load("default:original")
  out = import_run(args.run_dir, base, which=args.checkpoint,
                   data_path=args.data_path or None, out_dir=args.out or None)
  print(f"imported: {out} (cfg.yaml + checkpoints/)")


def run(argv=None, prog: str = "thesis-jax import_original") -> None:
  p = Parser(prog=prog, description="Convert a thesis-ml run's best_val.pt / "
             "last.pt into a thesis_jax checkpoint (no torch needed).",
             usage=f"{prog} --run_dir DIR [--checkpoint best|last|both] "
             "[--data_path H5] [--out DIR]")
  p.add_argument("--run_dir", required=True,
                 help="thesis-ml run folder (.hydra/, *.pt, facts/)")
  p.add_argument("--checkpoint", default="both", choices=("best", "last", "both"),
                 help="which torch checkpoint(s) to convert (both: those present)")
  p.add_argument("--data_path", default="", help="HDF5 file for the "
                 "normalisation statistics (default: data.path of the run's "
                 ".hydra/config.yaml)")
  p.add_argument("--out", default="", help="copy the run folder here and "
                 "convert the copy (the original stays untouched)")
  run_command("import_original", p, _main, argv)
