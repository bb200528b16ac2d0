"""`thesis-jax make_synthetic` / `python -m experiments.make_synthetic`:
write a large synthetic HDF5 file in the original layout (for benchmarks
and for trying a cluster setup without real data).

  thesis-jax make_synthetic --events 1000000 --out /tmp/syn_1m.h5
  thesis-jax make_synthetic --events 20000000 --out big.h5 --compression lzf

80/10/10 % train/val/test by default; memory use is bounded (events are
generated 262,144 at a time); the file appears only when complete.
Exit codes and error lines as `thesis_jax.cli`'s (one line, no traceback).
"""
from __future__ import annotations

import os
import sys
import time

from thesis_jax.cli import FAIL_EXIT, USAGE_EXIT, Parser
from thesis_jax.errors import ConfigError, ThesisJaxError


def parser(prog: str = "thesis-jax make_synthetic") -> Parser:
  p = Parser(prog=prog, description="Write a synthetic HDF5 file in the "
             "original layout (X_train, X_val, X_test).")
  p.add_argument("--events", type=int, required=True, help="Total events (all splits).")
  p.add_argument("--out", required=True, help="Output .h5 path.")
  p.add_argument("--seed", type=int, default=0, help="Generator seed.")
  p.add_argument("--n_tokens", type=int, default=18, help="Token slots per event.")
  p.add_argument("--compression", default="none", choices=["none", "gzip", "lzf"],
                 help="HDF5 compression filter.")
  p.add_argument("--chunk_rows", type=int, default=4096, help="Rows per HDF5 chunk.")
  p.add_argument("--val_frac", type=float, default=0.1, help="Fraction of events in X_val.")
  p.add_argument("--test_frac", type=float, default=0.1, help="Fraction of events in X_test.")
  return p


def run(argv=None, prog: str = "thesis-jax make_synthetic") -> None:
  from thesis_jax.data.synthetic import write_h5
  a = None
  try:
    a = parser(prog).parse_args(sys.argv[1:] if argv is None else list(argv))
    t = time.perf_counter()
    counts = write_h5(a.out, a.events, a.n_tokens, a.seed, a.val_frac,
                      a.test_frac, a.compression, a.chunk_rows)
  except ThesisJaxError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(USAGE_EXIT if isinstance(e, ConfigError) else FAIL_EXIT)
  except OSError as e:
    print(f"error: {a.out}: {e.strerror or e}", file=sys.stderr, flush=True)
    sys.exit(FAIL_EXIT)
  mb = os.path.getsize(a.out) / 1e6
  print(f"{a.out}: train {counts['train']} / val {counts['val']} / test "
        f"{counts['test']} events, {mb:.1f} MB ({a.compression}), "
        f"{time.perf_counter() - t:.1f} s")
