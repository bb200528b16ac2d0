"""Write a large synthetic HDF5 file in the original layout (for benchmarks
and for trying a cluster setup without real data).

  python -m experiments.make_synthetic --events 1000000 --out /tmp/syn_1m.h5
  python -m experiments.make_synthetic --events 20000000 --out big.h5 --compression lzf

80/10/10 % train/val/test by default; memory use is bounded (events are
generated 262,144 at a time); the file appears only when complete.
"""
import os
import time

from absl import flags

from thesis_jax.cli import run_main

_EVENTS = flags.DEFINE_integer("events", None, "Total events (all splits).")
_OUT = flags.DEFINE_string("out", None, "Output .h5 path.")
_SEED = flags.DEFINE_integer("seed", 0, "Generator seed.")
_TOKENS = flags.DEFINE_integer("n_tokens", 18, "Token slots per event.")
_COMP = flags.DEFINE_enum("compression", "none", ["none", "gzip", "lzf"],
                          "HDF5 compression filter.")
_CHUNK = flags.DEFINE_integer("chunk_rows", 4096, "Rows per HDF5 chunk.")
_VAL = flags.DEFINE_float("val_frac", 0.1, "Fraction of events in X_val.")
_TEST = flags.DEFINE_float("test_frac", 0.1, "Fraction of events in X_test.")
flags.mark_flags_as_required(["events", "out"])


def main(argv):
  del argv
  from thesis_jax.data.synthetic import write_h5
  t = time.perf_counter()
  counts = write_h5(_OUT.value, _EVENTS.value, _TOKENS.value, _SEED.value,
                    _VAL.value, _TEST.value, _COMP.value, _CHUNK.value)
  mb = os.path.getsize(_OUT.value) / 1e6
  print(f"{_OUT.value}: train {counts['train']} / val {counts['val']} / test "
        f"{counts['test']} events, {mb:.1f} MB ({_COMP.value}), "
        f"{time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
  run_main(main)
