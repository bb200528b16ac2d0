"""Start-up of a streamed run: the validating statistics pass vs a bare read.

  python benchmarks/stream_startup.py /tmp/stream_bench/syn_1000000_lzf.h5 [more.h5 ...]
  python benchmarks/stream_startup.py --write 1000000 --dir /tmp/stream_bench   # none/lzf/gzip files

For each file: size on disk, the time of reading every split block by block
with h5py alone (disk + decompression: the floor), and of the start-up pass
(`stream.open_stream`: the same reads plus validation, the largest type id
and the train statistics), in events/s. With --write N it first writes the
same N synthetic events without compression, with lzf and with gzip (and
reports the write times), so the three can be compared.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NAMES = {"train": "X_train", "val": "X_val", "test": "X_test"}


def bare_read_s(path: str) -> float:
  from thesis_jax.data.h5 import SplitFile
  t = time.perf_counter()
  with SplitFile(path, NAMES, 18) as f:
    for split in NAMES:
      for a, b in f.blocks(split):
        f._ds[split][a:b]
  return time.perf_counter() - t


def startup_s(path: str) -> float:
  from thesis_jax.data.h5 import SplitFile
  from thesis_jax.data.stream import open_stream
  t = time.perf_counter()
  rows, _, _ = open_stream(SplitFile(path, NAMES, 18), True)
  dt = time.perf_counter() - t
  rows.file.close()
  return dt


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("files", nargs="*")
  ap.add_argument("--write", type=int, default=0, help="write N-event files first")
  ap.add_argument("--dir", default="/tmp/stream_bench")
  args = ap.parse_args()
  files = list(args.files)
  if args.write:
    from thesis_jax.data.synthetic import write_h5
    os.makedirs(args.dir, exist_ok=True)
    for comp in ("none", "lzf", "gzip"):
      path = os.path.join(args.dir, f"syn_{args.write}_{comp}.h5")
      if not os.path.exists(path):
        t = time.perf_counter()
        write_h5(path, args.write, compression=comp)
        print(f"write {comp}: {time.perf_counter() - t:.1f} s", flush=True)
      files.append(path)
  import h5py
  for path in files:
    with h5py.File(path) as f:
      n = sum(f[k].shape[0] for k in NAMES.values())
      comp = f["X_train"].compression or "none"
    bare, full = bare_read_s(path), startup_s(path)
    print(f"{os.path.basename(path)}: {n} events, {comp}, "
          f"{os.path.getsize(path) / 1e6:.0f} MB | bare read {bare:.1f} s "
          f"({n / bare / 1e6:.2f} M ev/s) | start-up pass {full:.1f} s "
          f"({n / full / 1e6:.2f} M ev/s)", flush=True)


if __name__ == "__main__":
  main()
