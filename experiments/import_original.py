"""Import a thesis-ml (PyTorch) run folder so thesis_jax can evaluate it.

  python -m experiments.import_original --run_dir outputs/runs/run_..._job0
  python -m experiments.import_original --run_dir <run> --checkpoint last \
      --data_path tests/data/cms_hzz_tokens.h5 --out outputs/imported/run_x

Writes `cfg.yaml` and `checkpoints/` into the run folder (or into a copy at
--out); `best_val.pt`/`last.pt` are read without torch (restricted unpickler).
"""
from absl import flags

from thesis_jax.cli import run_main

flags.DEFINE_string("run_dir", None, "thesis-ml run folder (.hydra/, *.pt, facts/).")
flags.DEFINE_enum("checkpoint", "both", ["best", "last", "both"],
                  "Which torch checkpoint(s) to convert.")
flags.DEFINE_string("data_path", "", "HDF5 file for the normalisation statistics "
                    "(default: data.path of the run's .hydra/config.yaml).")
flags.DEFINE_string("out", "", "Copy the run folder here and convert the copy.")
flags.mark_flags_as_required(["run_dir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from configs.default import get_config
  from thesis_jax.interop.original_run import import_run
  out = import_run(FLAGS.run_dir, get_config("original"), which=FLAGS.checkpoint,
                   data_path=FLAGS.data_path or None, out_dir=FLAGS.out or None)
  print(f"imported: {out} (cfg.yaml + checkpoints/)")


if __name__ == "__main__":
  run_main(main)
